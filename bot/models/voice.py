"""Voice messages: what a citizen said instead of typing a complaint's
description or a reception topic (issue #19)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, utcnow


class VoiceStatus(enum.StrEnum):
    pending = "pending"
    stored = "stored"
    rejected = "rejected"
    failed = "failed"
    deleted = "deleted"


class VoiceMessage(Base):
    """One recording, attached to a complaint, a booking or an urgent request
    (exactly one of the three), of a citizen.

    Lifecycle: `pending` (recorded with the platform's file id or URL when
    the complaint or booking is confirmed) → `stored` (the worker downloaded
    it, checked by its bytes that it is audio of at most 3 minutes and 10 MB,
    and saved it under MEDIA_DIR) | `rejected` (not audio, too long or too
    big) | `failed` (the platform kept refusing). A stored recording becomes
    `deleted` when its file goes: the retention job (as for photos), or the
    citizen's erasure (a voice identifies a person). Whatever happens to it,
    the complaint or booking stays: its text says "(voice message)".
    """

    __tablename__ = "voice_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int | None] = mapped_column(ForeignKey("citizen.id"), index=True)
    complaint_id: Mapped[int | None] = mapped_column(
        ForeignKey("complaint.id", ondelete="CASCADE"), index=True)
    booking_id: Mapped[int | None] = mapped_column(
        ForeignKey("reception_booking.id", ondelete="CASCADE"), index=True)
    urgent_id: Mapped[int | None] = mapped_column(
        ForeignKey("reception_urgent.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    file_id: Mapped[str | None] = mapped_column(String(300))
    url: Mapped[str | None] = mapped_column(Text)
    file_name: Mapped[str | None] = mapped_column(String(255))
    # Seconds: the platform's (Telegram) until stored, then the file's when it can be read.
    duration: Mapped[int | None]
    status: Mapped[VoiceStatus] = mapped_column(
        Enum(VoiceStatus, native_enum=False, length=16), default=VoiceStatus.pending,
        index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    error: Mapped[str | None] = mapped_column(String(300))
    path: Mapped[str | None] = mapped_column(String(500))
    mime_type: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    stored_at: Mapped[datetime | None]
