"""Wrong one-time codes typed in a chat (`/link CODE`, `/staff CODE`), kept in
the database so that guessing stops whatever the conversation does."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base


class CodeAttempts(Base):
    """The wrong codes one chat account typed for one purpose ("link" or
    "staff"). Kept here, not in the conversation, so that /menu, /cancel,
    /start or a restart cannot reset it. Lifecycle: made at the first wrong
    code → `failures` counts wrong codes in a row (forgotten an hour after the
    last one) → at the limit `locked_until` is set and every code from the
    chat is refused until then (`refused` counts those) → a wrong code after
    that locks again at once → a right code deletes the row."""

    __tablename__ = "code_attempt"
    __table_args__ = (UniqueConstraint("purpose", "account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[int] = mapped_column(
        ForeignKey("channel_account.id", ondelete="CASCADE"), index=True)
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
    refused: Mapped[int] = mapped_column(default=0)
