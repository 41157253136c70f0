"""Keyword-argument factories (GOV.UK Notify style): a test says what it needs."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.db import Database
from bot.engine.messages import Incoming, Kind, Reply
from bot.runtime import Runtime, build_runtime

_keys = itertools.count(1)


def make_settings(database_url: str = "sqlite://", data_dir: Path | None = None,
                  **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "secret_key": "test-secret-key-0123456789abcdef",
        "telegram_bot_token": None,
        "viber_auth_token": None,
        "outbox_in_web": False,
    }
    if data_dir is not None:
        values["data_dir"] = data_dir
        values["media_dir"] = data_dir / "media"
    values.update(overrides)
    return Settings(_env_file=None, **values)


def make_runtime(db: Database, **settings: Any) -> Runtime:
    return build_runtime(make_settings(db.url, **settings), db=db, quiet=True)


def make_incoming(text: str | None = None, *, kind: Kind | None = None, user: str = "u1",
                  channel: str = "terminal", payload: str | None = None,
                  update_key: str | None = None, **fields: Any) -> Incoming:
    """A text, a /command (when text starts with /) or a button (payload=…)."""
    if kind is None:
        if payload is not None:
            kind = Kind.button
        elif text and text.startswith("/"):
            kind = Kind.command
        else:
            kind = Kind.text
    if kind is Kind.command and text and "command" not in fields:
        command, _, args = text[1:].partition(" ")
        fields.update(command=command, args=args)
    return Incoming(channel=channel, user_id=user, chat_id=user, kind=kind,
                    update_key=update_key or f"k{next(_keys)}", text=text, payload=payload,
                    **fields)


def texts(replies: list[Reply]) -> str:
    return "\n".join(reply.text for reply in replies)


def payloads(replies: list[Reply]) -> list[str]:
    return [b.payload for reply in replies for row in reply.buttons for b in row]


PASSWORD = "correct-horse-battery-staple"


def make_staff(db: Database, username: str = "officer", role: str = "admin",
               department: str | None = None, password: str = PASSWORD,
               language: str = "en") -> int:
    """An officer account, as `klokot-bot staff add` makes it; returns its id."""
    from bot.admin.accounts import create_staff
    from bot.models.staff import Role
    from bot.profile import get_profile

    with db.session() as session:
        staff = create_staff(session, get_profile(), username=username, password=password,
                             role=Role(role), department=department, language=language)
        return staff.id


def make_citizen(db: Database, *, channel: str = "telegram", external_id: str = "1",
                 language: str | None = "sr_Latn", settlement: str | None = "klokot",
                 full_name: str | None = "Jovana Petrović", phone: str | None = "+38344123456",
                 blocked: bool = False) -> int:
    from bot.db import utcnow
    from bot.models import ChannelAccount, Citizen

    with db.session() as session:
        citizen = Citizen(language=language, settlement=settlement, full_name=full_name,
                          phone=phone)
        session.add(citizen)
        session.flush()
        session.add(ChannelAccount(citizen_id=citizen.id, channel=channel,
                                   external_id=external_id, chat_id=external_id,
                                   blocked_at=utcnow() if blocked else None))
        return citizen.id
