"""The API keys of Open311 clients. A key is shown once, when it is made;
only its SHA-256 is stored, so a leaked database does not leak keys."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.models import Open311Key
from bot.refusals import Conflict

# The name is written into the complaint's history as "open311:NAME" (64 characters).
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$")
KEY_MAX = 200


class Open311KeyError(Conflict):
    """A key cannot be made or revoked; the message says why."""

    def __init__(self, detail: str) -> None:
        super().__init__("open311_key", detail)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


def new_key() -> str:
    return secrets.token_urlsafe(32)


def find(session: Session, name: str) -> Open311Key | None:
    return session.scalar(select(Open311Key).where(Open311Key.name == name))


def add_key(session: Session, name: str, *, now: datetime) -> tuple[Open311Key, str]:
    """A new key for the client NAME; returns the row and the key itself,
    which is never seen again."""
    if not NAME.fullmatch(name):
        raise Open311KeyError(
            f"invalid name {name!r}: 1–48 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit")
    existing = find(session, name)
    if existing is not None:
        state = " (revoked)" if existing.revoked_at else ""
        raise Open311KeyError(f"a key named {name!r} exists already{state}; "
                              "choose another name")
    key = new_key()
    row = Open311Key(name=name, key_hash=hash_key(key), created_at=now)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError as exc:
        raise Open311KeyError(f"a key named {name!r} exists already") from exc
    return row, key


def list_keys(session: Session) -> list[Open311Key]:
    return list(session.scalars(select(Open311Key).order_by(Open311Key.name)))


def revoke_key(session: Session, name: str, *, now: datetime) -> tuple[Open311Key, bool]:
    """Revoke NAME's key at once; returns the row and whether it was active."""
    row = find(session, name)
    if row is None:
        raise Open311KeyError(f"no Open311 key named {name!r}")
    if row.revoked_at is not None:
        return row, False
    row.revoked_at = now
    return row, True


def authenticate(session: Session, key: str | None) -> Open311Key | None:
    """The active key row for this key, or None (missing, unknown or revoked)."""
    if not key or len(key) > KEY_MAX:
        return None
    row = session.scalar(select(Open311Key).where(Open311Key.key_hash == hash_key(key)))
    if row is None or row.revoked_at is not None:
        return None
    return row
