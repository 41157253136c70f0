"""The mayor's weekly reception: days, booked appointments, urgent requests,
and the officers' calendar feeds."""

from __future__ import annotations

import enum
from datetime import date, datetime, time

from sqlalchemy import Enum, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.db import Base, utcnow


class ReceptionDay(Base):
    """One reception day. Made from the profile's weekly pattern for the weeks
    citizens may book (Kosovo public holidays are made closed), or by staff.
    Lifecycle: open → closed (holiday, mayor away: booked citizens are told
    and offered another time) → open again if staff reopen it."""

    __tablename__ = "reception_day"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(unique=True)
    start: Mapped[time]
    slots: Mapped[int]
    slot_minutes: Mapped[int]
    closed: Mapped[bool] = mapped_column(default=False)
    closed_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BookingStatus(enum.StrEnum):
    booked = "booked"
    attended = "attended"
    no_show = "no_show"
    cancelled = "cancelled"
    past = "past"  # the day went by and staff did not mark it (yet)


class FromCitizen:
    """Who asked the reception, from which chat, and what about: a booking and
    an urgent request alike (the name and phone they gave; the chat is where
    answers go, and is unset when the account goes)."""

    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizen.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("channel_account.id", ondelete="SET NULL"))
    topic: Mapped[str] = mapped_column(Text)
    full_name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))


class Booking(FromCitizen, Base):
    """A citizen's appointment at the reception.

    Lifecycle: `booked` (at most one per citizen, at most one per slot — both
    enforced by partial unique indexes) → `attended` | `no_show` (staff) |
    `cancelled` (the citizen, or staff, or the day was closed) | `past` (the
    day ended unmarked; staff may still mark it). Moving keeps the row and
    its reference and changes the slot.

    Made by the citizen in the chat (`booked_by` None), or by an officer for
    a citizen at the counter or on the phone (`booked_by` the officer's
    username; `account_id` is the citizen's SMS account or chat, and None
    when neither exists: nobody is messaged, the officer told them)."""

    __tablename__ = "reception_booking"
    __table_args__ = (
        Index("uq_booking_active_slot", "day_id", "slot_index", unique=True,
              sqlite_where=text("status = 'booked'"), postgresql_where=text("status = 'booked'")),
        Index("uq_booking_active_citizen", "citizen_id", unique=True,
              sqlite_where=text("status = 'booked'"), postgresql_where=text("status = 'booked'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    day_id: Mapped[int] = mapped_column(ForeignKey("reception_day.id"), index=True)
    slot_index: Mapped[int]
    starts_at: Mapped[datetime] = mapped_column(index=True)
    settlement: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[BookingStatus] = mapped_column(
        Enum(BookingStatus, native_enum=False, length=16), default=BookingStatus.booked)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    moved_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    cancelled_by: Mapped[str | None] = mapped_column(String(16))  # citizen | staff | closed
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    marked_at: Mapped[datetime | None]
    marked_by: Mapped[str | None] = mapped_column(String(64))
    booked_by: Mapped[str | None] = mapped_column(String(64))  # the officer; None: the chat
    booked_via: Mapped[str | None] = mapped_column(String(16))  # counter | phone

    day: Mapped[ReceptionDay] = relationship()


class UrgentStatus(enum.StrEnum):
    open = "open"
    handled = "handled"


class UrgentRequest(FromCitizen, Base):
    """"Urgent" takes no slot: the Office of the Mayor is alerted at once.
    Lifecycle: `open` → `handled` (an officer called the citizen back)."""

    __tablename__ = "reception_urgent"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    status: Mapped[UrgentStatus] = mapped_column(
        Enum(UrgentStatus, native_enum=False, length=16), default=UrgentStatus.open)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    handled_at: Mapped[datetime | None]
    handled_by: Mapped[str | None] = mapped_column(String(64))


class CalendarFeed(Base):
    """An officer's secret iCalendar URL (calendar apps cannot send a bearer
    token). Lifecycle: issued → revoked."""

    __tablename__ = "reception_calendar_feed"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"),
                                          index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
