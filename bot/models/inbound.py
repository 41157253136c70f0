"""Every update a platform delivered, recorded once."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, utcnow


class InboundStatus(enum.StrEnum):
    handled = "handled"
    failed = "failed"
    ignored = "ignored"


class InboundUpdate(Base):
    """One inbound update, keyed by the platform's own identity for it (Telegram
    `update_id`; Viber event + `message_token`) so a redelivery is acknowledged
    and not handled twice.

    Lifecycle: written `handled` in the transaction that handled it; or, when
    the handler raised, written `failed` (with the error and the payload kept
    for a replay) after that transaction was rolled back; `ignored` for kinds
    the bot acknowledges but does not act on (edits, delivery receipts)."""

    __tablename__ = "inbound_update"
    __table_args__ = (UniqueConstraint("channel", "update_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    update_key: Mapped[str] = mapped_column(String(160))
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("channel_account.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(24))
    status: Mapped[InboundStatus] = mapped_column(
        Enum(InboundStatus, native_enum=False, length=16)
    )
    error: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
