"""The outbox: every message the bot sends, with its status."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, utcnow


class OutboxStatus(enum.StrEnum):
    queued = "queued"
    sending = "sending"
    sent = "sent"
    failed = "failed"
    skipped = "skipped"


class Lane(enum.IntEnum):
    """Lower goes first: a citizen waiting for an answer beats a broadcast."""

    reply = 0
    bulk = 1


class OutboxMessage(Base):
    """One channel-neutral message to one chat.

    Lifecycle (RapidPro-style): `queued` (written in the transaction of the
    change that caused it) → `sending` (claimed by the one sender holding the
    lease) → `sent` | `failed` (permanent error, or attempts used up) |
    `skipped` (the citizen blocked the bot or unsubscribed, or bot-started
    messages are off for the channel). A transient error or a 429 puts it back
    to `queued` with a later `next_attempt_at`. Crash policy: at least once —
    a row left `sending` by a sender that died is queued again by the next
    lease holder, so a message is never lost but may, rarely, arrive twice.

    `origin` says whether the message answers the citizen (`reply`) or the
    bot started it (`bot`: reminders, status changes, notices); Viber bills the
    latter outside a 24-hour session. `dedupe_key` makes timers enqueue once.
    """

    __tablename__ = "outbox_message"
    __table_args__ = (
        Index("ix_outbox_due", "status", "lane", "next_attempt_at", "id"),
        Index("ix_outbox_chat", "channel", "chat_id", "lane", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(128))
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("channel_account.id", ondelete="SET NULL"), index=True
    )
    lane: Mapped[int] = mapped_column(Integer, default=Lane.reply)
    origin: Mapped[str] = mapped_column(String(8), default="reply")
    body: Mapped[dict[str, Any]]
    status: Mapped[OutboxStatus] = mapped_column(
        Enum(OutboxStatus, native_enum=False, length=16), default=OutboxStatus.queued
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_message_id: Mapped[str | None] = mapped_column(String(128))
    dedupe_key: Mapped[str | None] = mapped_column(String(160), unique=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class SenderLease(Base):
    """The heartbeat row that elects the one sender on SQLite (PostgreSQL uses
    an advisory lock). Whoever holds an unexpired lease sends; a holder that
    stops renewing loses it after `expires_at`."""

    __tablename__ = "sender_lease"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(Text)
