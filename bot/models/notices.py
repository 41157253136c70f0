"""Notices to citizens' phones (SPEC §3.6): what each citizen subscribed to,
the notices staff send, who each went to, what citizens answered to a
public-debate notice, and the codes that join a Telegram and a Viber
account into one citizen."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, utcnow


class Subscription(Base):
    """A citizen wants notices of one topic; the row exists while they do."""

    __tablename__ = "subscription"
    __table_args__ = (UniqueConstraint("citizen_id", "topic"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizen.id", ondelete="CASCADE"),
                                            index=True)
    topic: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NoticeStatus(enum.StrEnum):
    scheduled = "scheduled"
    sending = "sending"
    sent = "sent"
    cancelled = "cancelled"


class Notice(Base):
    """One notice, in every enabled language.

    Lifecycle: `scheduled` (made by staff; waits for `send_at` and, unless
    its topic is `emergencies`, for 08:00–21:00 local time) → `sending` (the
    worker picks recipients in batches, by citizen id after
    `cursor_citizen_id`, and queues one message each on the outbox's bulk
    lane) → `sent` (everyone is queued; the outbox delivers) | `cancelled`
    (staff stopped it; whatever was not delivered yet is skipped).
    """

    __tablename__ = "notice"

    id: Mapped[int] = mapped_column(primary_key=True)
    topic: Mapped[str] = mapped_column(String(32), index=True)
    settlements: Mapped[list[str] | None] = mapped_column(JSON)
    texts: Mapped[dict[str, Any]] = mapped_column(JSON)
    rsvp: Mapped[bool] = mapped_column(default=False)
    send_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[NoticeStatus] = mapped_column(
        Enum(NoticeStatus, native_enum=False, length=16), default=NoticeStatus.scheduled,
        index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    queued_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    cancelled_by: Mapped[str | None] = mapped_column(String(64))
    cursor_citizen_id: Mapped[int] = mapped_column(default=0)


class NoticeRecipient(Base):
    """Who a notice went to, through which outbox message (none when the
    citizen could not be reached: blocked, or only on a channel the bot may
    not start conversations on)."""

    __tablename__ = "notice_recipient"
    __table_args__ = (UniqueConstraint("notice_id", "citizen_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notice.id", ondelete="CASCADE"),
                                           index=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizen.id", ondelete="CASCADE"),
                                            index=True)
    outbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbox_message.id", ondelete="SET NULL"), index=True)
    unreachable: Mapped[str | None] = mapped_column(String(32))  # blocked | no_channel


class NoticeAnswer(Base):
    """A citizen's answer to a public-debate notice: `coming` (once per
    citizen) or a `question` for the meeting (as many as they like). The
    settlement is the citizen's at the time, for the per-settlement counts."""

    __tablename__ = "notice_answer"

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notice.id", ondelete="CASCADE"),
                                           index=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizen.id", ondelete="CASCADE"),
                                            index=True)
    kind: Mapped[str] = mapped_column(String(16))  # coming | question
    text: Mapped[str | None] = mapped_column(Text)
    settlement: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LinkCode(Base):
    """A one-time code (`/link`) that joins the account which asked for it
    and the account of the other app that sends it back within ten minutes.
    Lifecycle: made → used (`used_at`) | expired (`expires_at` passed) |
    cancelled (`expires_at` set to then) once `wrong_guesses` — wrong codes
    typed in any chat while it was valid — reach the limit, or a chat was
    stopped for guessing while it was valid; its owner is told then."""

    __tablename__ = "link_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("channel_account.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    wrong_guesses: Mapped[int] = mapped_column(default=0)
