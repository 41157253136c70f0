"""The outbox: every message the bot sends, with its status."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, utcnow


class OutboxStatus(enum.StrEnum):
    queued = "queued"
    sending = "sending"
    sent = "sent"
    failed = "failed"
    skipped = "skipped"
    held = "held"
    summarised = "summarised"


class Lane(enum.IntEnum):
    """Lower goes first: a citizen waiting for an answer beats a broadcast."""

    reply = 0
    bulk = 1


class OutboxMessage(Base):
    """One channel-neutral message to one chat.

    Lifecycle (RapidPro-style): `queued` (written in the transaction of the
    change that caused it) → `sending` (claimed by the one sender holding the
    lease) → `sent` | `failed` (permanent error, or attempts used up) |
    `skipped` (the citizen blocked the bot or unsubscribed, a notice was
    cancelled, the citizen erased their data). A message the bot starts that
    the channel may not carry now (Viber outside the 24-hour session, when the
    profile forbids bot-started messages) and that can wait is `held`; the
    citizen's next message turns all their held rows into one "while you were
    away" summary and them into `summarised`. A transient error or a 429 puts it back
    to `queued` with a later `next_attempt_at`. Crash policy: at least once —
    a row left `sending` by a sender that died is queued again by the next
    lease holder, so a message is never lost but may, rarely, arrive twice.

    `origin` says whether the message answers the citizen (`reply`) or the
    bot started it (`bot`: reminders, status changes, notices); Viber bills the
    latter outside a 24-hour session. `purpose` says what a bot-started message
    is for (`bot.outbox.queue.Purpose`): those the law requires go out whatever
    the session, and `out_of_session` marks each one that went (or goes) to
    Viber outside the session — the billed ones, counted per month. `brief` is
    the line a held message gets in the summary, `stale_at` when it is out of
    date (then the summary gives its title only). `dedupe_key` makes timers
    enqueue once.
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
    purpose: Mapped[str | None] = mapped_column(String(32))
    out_of_session: Mapped[bool] = mapped_column(default=False, server_default=false())
    brief: Mapped[str | None] = mapped_column(Text)
    stale_at: Mapped[datetime | None]
    # SMS only: the segments the text was billed as (set when sent), and the
    # last delivery status Twilio's callback gave for `provider_message_id`
    # (queued/sent/delivered/undelivered/failed).
    segments: Mapped[int | None]
    delivery_status: Mapped[str | None] = mapped_column(String(16))


class SenderLease(Base):
    """The heartbeat row that elects the one sender on SQLite (PostgreSQL uses
    an advisory lock). Whoever holds an unexpired lease sends; a holder that
    stops renewing loses it after `expires_at`."""

    __tablename__ = "sender_lease"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(Text)
