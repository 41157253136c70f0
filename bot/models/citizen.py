"""Citizens, the chat accounts they write from, and their conversation state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.db import Base, utcnow


class Citizen(Base):
    """A person who wrote to the bot. One citizen may have several channel
    accounts (a Telegram and a Viber one, once linked). Erasure (`/forget`)
    clears the personal columns and sets `erased_at`; the row stays so that
    submissions keep a (now anonymous) owner."""

    __tablename__ = "citizen"
    # Ids are never reused (SQLite would give the highest id again after a
    # merge deletes it): survey tokens, export folders and audit entries name them.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    language: Mapped[str | None] = mapped_column(String(16))
    full_name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    settlement: Mapped[str | None] = mapped_column(String(32))
    country: Mapped[str | None] = mapped_column(String(2))
    privacy_acknowledged_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    erased_at: Mapped[datetime | None]
    # Where notices go when the citizen linked two apps (None: the one used last).
    notice_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("channel_account.id", ondelete="SET NULL", use_alter=True))

    accounts: Mapped[list[ChannelAccount]] = relationship(
        back_populates="citizen", foreign_keys="ChannelAccount.citizen_id")


class ChannelAccount(Base):
    """One (channel, user) pair: a Telegram user id, a Viber user id, a terminal
    user. `blocked_at` is set when the platform says the user blocked the bot
    or unsubscribed; the sender then sends them nothing more."""

    __tablename__ = "channel_account"
    # Never reused ids: an officer's chat link, the outbox and audit entries name them.
    __table_args__ = (UniqueConstraint("channel", "external_id"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizen.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    chat_id: Mapped[str] = mapped_column(String(128))
    display_name: Mapped[str | None] = mapped_column(String(200))
    platform_language: Mapped[str | None] = mapped_column(String(16))
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_inbound_at: Mapped[datetime] = mapped_column(default=utcnow)
    blocked_at: Mapped[datetime | None]

    citizen: Mapped[Citizen] = relationship(back_populates="accounts",
                                            foreign_keys=[citizen_id])


class Conversation(Base):
    """Where a (channel, user) is in a flow: the state name (`Group:state`, or
    None when idle at the menu) and the data collected so far. Saved in the
    same transaction as the inbound update and the replies it caused."""

    __tablename__ = "conversation"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("channel_account.id", ondelete="CASCADE"), unique=True
    )
    state: Mapped[str | None] = mapped_column(String(96))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
