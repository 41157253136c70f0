"""Alerts to officers in their own chat (linked with `/staff CODE`): an urgent
reception request for the Office of the Mayor, what is due today for the
Office for Information. Through the outbox, like every other message."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import utcnow
from bot.engine.messages import Reply
from bot.i18n import Catalogs
from bot.models import ChannelAccount, OutboxMessage
from bot.models.staff import Role, StaffUser
from bot.outbox.queue import enqueue, enqueue_once
from bot.profile import Profile


def alert_officers(
    session: Session,
    profile: Profile,
    catalogs: Catalogs,
    *,
    roles: tuple[Role, ...],
    department: str | None = None,
    message: Callable[[Callable[..., str]], Reply],
    once_per: str | None = None,
) -> list[OutboxMessage]:
    """Queue an alert to every active officer of these roles (and department)
    who linked their chat, each in the officer's own language. `message` gets
    a translate function `t(key, **params)` and returns the reply. With
    `once_per` (e.g. a date), each officer gets it once for that key, however
    often this runs."""
    query = (
        select(StaffUser, ChannelAccount)
        .join(ChannelAccount, ChannelAccount.id == StaffUser.chat_account_id)
        .where(StaffUser.role.in_(roles), StaffUser.disabled_at.is_(None))
    )
    if department is not None:
        query = query.where(StaffUser.department == department)
    queued = []
    now = utcnow()
    for staff, account in session.execute(query).all():
        def t(key: str, /, _locale: str = staff.language, **params: object) -> str:
            return catalogs.gettext(_locale, key, **params)

        if once_per is None:
            queued.append(enqueue(session, account, message(t), profile=profile,
                                  origin="bot", now=now))
        elif row := enqueue_once(session, account, message(t), profile=profile, now=now,
                                 dedupe_key=f"alert:{once_per}:{staff.id}"):
            queued.append(row)
    return queued
