"""What staff see of the reception: the shapes the API returns and the pages
render, the filters, the queries, and each list or page as shown to one
officer. Names, phones and topics only for roles that may see personal data
(`bot.staff.permissions.shows_personal`), and every answer that shows them is
audited here, so the API and the pages cannot drift apart."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, contains_eager

from bot.models import Booking, BookingStatus, ReceptionDay, UrgentRequest, UrgentStatus
from bot.models.staff import StaffUser
from bot.profile import Profile
from bot.refusals import NotFound
from bot.services import reception as service
from bot.services import sms, voice
from bot.services.notify import citizen_chat, sms_account_for
from bot.staff import audit
from bot.staff.permissions import shows_personal
from bot.staff.query import PageWindow, check_choice, matching, one, paginate, sorted_by, within
from bot.staff.voice import VoiceOut, stored_voice, voice_out

REFERENCE = r"^R-[0-9]{4}-[0-9]{4,10}$"
DAY_SORTS = ("day",)
BOOKING_SORTS = ("starts_at", "reference", "created_at")
URGENT_SORTS = ("created_at",)


# --- shapes ---------------------------------------------------------------------

class DayOut(BaseModel):
    day: date
    start: str = Field(description="Local time (Europe/Belgrade), HH:MM")
    end: str = Field(description="When the last slot ends, local HH:MM")
    slots: int
    slot_minutes: int
    closed: bool
    closed_reason: str | None
    booked: int = Field(description="Active bookings")
    free: int = Field(description="Slots citizens can still book")


class SlotOut(BaseModel):
    index: int
    time: str = Field(description="Local HH:MM")
    starts_at: datetime
    reference: str | None = Field(description="The active booking of this slot, if any")


class DayDetail(DayOut):
    schedule: list[SlotOut]


class ClosedOut(DayOut):
    cancelled: list[str] = Field(description="References of the bookings cancelled")


class BookingOut(BaseModel):
    reference: str
    day: date
    time: str = Field(description="Local HH:MM")
    starts_at: datetime
    slot_index: int
    status: BookingStatus
    settlement: str | None
    created_at: datetime
    moved_at: datetime | None
    cancelled_at: datetime | None
    cancelled_by: str | None = Field(description="citizen | staff | closed")
    cancel_reason: str | None
    marked_at: datetime | None
    marked_by: str | None
    booked_by: str | None = Field(None, description="The officer who booked it for the "
                                                    "citizen; null: the citizen, in the chat")
    booked_via: str | None = Field(None, description="counter | phone: how the citizen asked "
                                                     "the officer")
    full_name: str | None = None
    phone: str | None = None
    topic: str | None = None
    citizen_erased: bool = Field(False, description="The citizen erased their data (/forget)")


class UrgentOut(BaseModel):
    reference: str
    status: UrgentStatus
    created_at: datetime
    handled_at: datetime | None
    handled_by: str | None
    full_name: str | None = None
    phone: str | None = None
    topic: str | None = None
    citizen_erased: bool = Field(False, description="The citizen erased their data (/forget)")
    voice_messages: list[VoiceOut] = Field(
        default_factory=list, description="Recordings sent as the topic (with personal data)")


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def day_out(session: Session, profile: Profile, day: ReceptionDay, now: datetime) -> DayOut:
    start = day.start.hour * 60 + day.start.minute
    return DayOut(day=day.day, start=f"{day.start:%H:%M}",
                  end=_clock(start + day.slots * day.slot_minutes), slots=day.slots,
                  slot_minutes=day.slot_minutes, closed=day.closed,
                  closed_reason=day.closed_reason,
                  booked=service.count_booked(session, day.id),
                  free=len(service.free_slots(session, profile, day, now)))


def booking_out(booking: Booking, profile: Profile, personal: bool) -> BookingOut:
    local = booking.starts_at.astimezone(profile.tz)
    return BookingOut(
        reference=booking.reference, day=booking.day.day, time=f"{local:%H:%M}",
        # In UTC as read back, also straight after a change (made in local time).
        starts_at=booking.starts_at.astimezone(UTC), slot_index=booking.slot_index,
        status=booking.status,
        settlement=booking.settlement, created_at=booking.created_at,
        moved_at=booking.moved_at, cancelled_at=booking.cancelled_at,
        cancelled_by=booking.cancelled_by, cancel_reason=booking.cancel_reason,
        marked_at=booking.marked_at, marked_by=booking.marked_by,
        booked_by=booking.booked_by, booked_via=booking.booked_via,
        full_name=booking.full_name if personal else None,
        phone=booking.phone if personal else None,
        topic=booking.topic if personal else None,
        # An officer's booking for a citizen with no channel has no account
        # either; erasing also blanks the phone.
        citizen_erased=booking.account_id is None and (booking.booked_by is None
                                                       or booking.phone is None),
    )


def urgent_out(request: UrgentRequest, personal: bool) -> UrgentOut:
    return UrgentOut(
        reference=request.reference, status=request.status, created_at=request.created_at,
        handled_at=request.handled_at, handled_by=request.handled_by,
        full_name=request.full_name if personal else None,
        phone=request.phone if personal else None,
        topic=request.topic if personal else None,
        citizen_erased=request.account_id is None,
    )


def audit_shown(session: Session, staff: StaffUser, action: str, references: Sequence[str],
                ip: str | None, detail: str | None = None,
                object_type: str = "reception_booking") -> None:
    """Record that personal data of these items was shown (nothing when none was)."""
    audit.record_shown(session, staff, action, object_type, references, ip, detail)


# --- finding one ----------------------------------------------------------------------

def find_day(session: Session, day: date) -> ReceptionDay:
    return one(session, select(ReceptionDay).where(ReceptionDay.day == day),
               f"no reception day on {day.isoformat()}")


def find_booking(session: Session, reference: str) -> Booking:
    return one(session, select(Booking).where(Booking.reference == reference),
               f"no booking {reference}")


def find_urgent(session: Session, reference: str) -> UrgentRequest:
    return one(session, select(UrgentRequest).where(UrgentRequest.reference == reference),
               f"no urgent request {reference}")


# --- filters and lists ----------------------------------------------------------------

class DayFilters(BaseModel):
    date_from: date | None = None
    date_to: date | None = None
    closed: bool | None = None


class BookingFilters(BaseModel):
    """`settlement` takes the profile's codes (see the schema's enum)."""

    date_from: date | None = Field(None, description="From this day on")
    date_to: date | None = Field(None, description="Up to this day")
    status: BookingStatus | None = None
    settlement: str | None = Field(None, max_length=32)


def check_filters(profile: Profile, filters: BookingFilters) -> None:
    """An unknown settlement is an error (422 `invalid_filter`), not an empty list."""
    check_choice("settlement", filters.settlement, profile.settlement_codes())


def list_days(session: Session, profile: Profile, filters: DayFilters, page: PageWindow,
              now: datetime) -> tuple[list[ReceptionDay], int]:
    """Days of the weekly pattern are made first, as the bot's timer would."""
    service.ensure_days(session, profile, now)
    stmt = within(select(ReceptionDay), ReceptionDay.day, filters.date_from, filters.date_to)
    if filters.closed is not None:
        stmt = stmt.where(ReceptionDay.closed.is_(filters.closed))
    stmt = sorted_by(stmt, page.sort, {"day": ReceptionDay.day}, default=[ReceptionDay.day])
    return paginate(session, stmt, page)


def bookings_query(profile: Profile, filters: BookingFilters) -> Select[Any]:
    check_filters(profile, filters)
    stmt = select(Booking).join(Booking.day).options(contains_eager(Booking.day))
    stmt = within(stmt, ReceptionDay.day, filters.date_from, filters.date_to)
    stmt = matching(stmt, (Booking.status, filters.status),
                    (Booking.settlement, filters.settlement))
    return stmt


def list_bookings(session: Session, profile: Profile, filters: BookingFilters,
                  page: PageWindow, now: datetime) -> tuple[list[Booking], int]:
    """Bookings whose day went by unmarked show as `past`, as the timer would make them."""
    service.expire_past(session, profile, now)
    stmt = sorted_by(bookings_query(profile, filters), page.sort,
                     {"starts_at": Booking.starts_at, "reference": Booking.reference,
                      "created_at": Booking.created_at},
                     default=[Booking.starts_at, Booking.id])
    return paginate(session, stmt, page)


def list_urgent(session: Session, status: UrgentStatus | None,
                page: PageWindow) -> tuple[list[UrgentRequest], int]:
    stmt = select(UrgentRequest)
    if status:
        stmt = stmt.where(UrgentRequest.status == status)
    stmt = sorted_by(stmt, page.sort, {"created_at": UrgentRequest.created_at},
                     default=[UrgentRequest.created_at.desc(), UrgentRequest.id.desc()])
    return paginate(session, stmt, page)


# --- as shown to one officer (audited) ---------------------------------------------------

def day_detail(session: Session, profile: Profile, day: date, now: datetime) -> DayDetail:
    """One day with its slots and which booking holds each."""
    row = find_day(session, day)
    held = {b.slot_index: b.reference for b in service.active_bookings(session, row.id)}
    schedule = [SlotOut(index=s.index, time=f"{s.starts_at:%H:%M}", starts_at=s.starts_at,
                        reference=held.get(s.index))
                for s in service.slots_of(row, profile.tz)]
    return DayDetail(**day_out(session, profile, row, now).model_dump(), schedule=schedule)


def shown_bookings(session: Session, profile: Profile, staff: StaffUser,
                   filters: BookingFilters, page: PageWindow, now: datetime,
                   ip: str | None) -> tuple[list[BookingOut], int]:
    """A page of bookings as this officer may see them; names shown are audited."""
    rows, total = list_bookings(session, profile, filters, page, now)
    personal = shows_personal(staff)
    if personal:
        audit_shown(session, staff, "reception.list", [b.reference for b in rows], ip)
    return [booking_out(b, profile, personal) for b in rows], total


def shown_booking(session: Session, profile: Profile, staff: StaffUser, reference: str,
                  now: datetime, ip: str | None) -> BookingOut:
    """One booking; viewing the citizen's data is recorded."""
    service.expire_past(session, profile, now)
    found = find_booking(session, reference)
    personal = shows_personal(staff)
    if personal:
        audit_shown(session, staff, "reception.view", [found.reference], ip)
    return booking_out(found, profile, personal)


def sms_number(session: Session, staff: StaffUser, reference: str) -> str | None:
    """The number the booking's citizen gets its messages at by SMS (the
    reminder the day before), for roles that see phones; None: the chat, or
    no channel at all."""
    if not shows_personal(staff):
        return None
    found = find_booking(session, reference)
    chat = citizen_chat(session, found.citizen_id, found.account_id)
    if chat is None:
        return None
    account = sms_account_for(session, *chat)
    if account is None or not sms.is_active(session, account):
        return None
    return account.external_id


def told_nowhere(session: Session, reference: str) -> bool:
    """An officer's booking for a citizen with no chat and no SMS: the bot
    tells them nothing (not a reminder either)."""
    found = find_booking(session, reference)
    return found.booked_by is not None and citizen_chat(
        session, found.citizen_id, found.account_id) is None and found.phone is not None


def booking_voices(session: Session, staff: StaffUser, reference: str) -> list[VoiceOut]:
    """The recordings the citizen sent as the booking's topic: personal data
    like the topic, so only for roles that see it."""
    if not shows_personal(staff):
        return []
    found = find_booking(session, reference)
    return [voice_out(v, f"/staff/reception/bookings/{reference}")
            for v in voice.attached(session, booking_id=found.id)]


def stored_booking_voice(session: Session, staff: StaffUser, reference: str,
                         voice_id: int) -> tuple[Path, str]:
    """The file of a stored recording of a booking, for roles that see its topic."""
    if not shows_personal(staff):
        raise NotFound("not_found", f"no voice message {voice_id} of {reference}")
    found = find_booking(session, reference)
    return stored_voice(voice.attached(session, booking_id=found.id), voice_id, reference)


def stored_urgent_voice(session: Session, staff: StaffUser, reference: str,
                        voice_id: int) -> tuple[Path, str]:
    """The file of a stored recording of an urgent request, for roles that see its topic."""
    if not shows_personal(staff):
        raise NotFound("not_found", f"no voice message {voice_id} of {reference}")
    found = one(session, select(UrgentRequest).where(UrgentRequest.reference == reference),
                f"no urgent request {reference}")
    return stored_voice(voice.attached(session, urgent_ids=[found.id]), voice_id, reference)


def shown_urgent(session: Session, staff: StaffUser, status: UrgentStatus | None,
                 page: PageWindow, ip: str | None) -> tuple[list[UrgentOut], int]:
    """A page of urgent requests as this officer may see them; names shown are audited."""
    rows, total = list_urgent(session, status, page)
    personal = shows_personal(staff)
    if personal:
        audit_shown(session, staff, "reception.list", [u.reference for u in rows], ip,
                    object_type="reception_urgent")
    return [urgent_out(u, personal) for u in rows], total


@dataclass
class Overview:
    """The reception page: the coming days, the open urgent requests and a
    page of bookings, with whether names are shown."""

    days: list[DayOut]
    urgent: list[UrgentOut]
    bookings: list[BookingOut]
    total: int
    personal: bool


def overview(session: Session, profile: Profile, staff: StaffUser, filters: BookingFilters,
             page: PageWindow, now: datetime, ip: str | None) -> Overview:
    """What the reception page shows; the names it shows are one audit entry."""
    today = service.today(profile, now)
    rows, total = list_bookings(session, profile, filters, page, now)
    days, _ = list_days(session, profile, DayFilters(date_from=today), PageWindow(limit=60),
                        now)
    urgent, _ = list_urgent(session, UrgentStatus.open, PageWindow(limit=100))
    personal = shows_personal(staff)
    if personal:
        audit_shown(session, staff, "reception.list",
                    [b.reference for b in rows] + [u.reference for u in urgent], ip,
                    detail="staff page", object_type="reception")
    said: dict[int, list[VoiceOut]] = {}
    if personal:
        for row in voice.attached(session, urgent_ids=[u.id for u in urgent]):
            owner = next(u for u in urgent if u.id == row.urgent_id)
            said.setdefault(row.urgent_id or 0, []).append(
                voice_out(row, f"/staff/reception/urgent/{owner.reference}"))
    return Overview(days=[day_out(session, profile, d, now) for d in days],
                    urgent=[urgent_out(u, personal).model_copy(
                        update={"voice_messages": said.get(u.id, [])}) for u in urgent],
                    bookings=[booking_out(b, profile, personal) for b in rows], total=total,
                    personal=personal)


@dataclass
class WeekSlot:
    time: str
    booking: BookingOut | None


@dataclass
class WeekDay:
    day: DayOut
    slots: list[WeekSlot]


def week(session: Session, profile: Profile, staff: StaffUser, first: date, last: date,
         now: datetime, ip: str | None) -> tuple[list[WeekDay], bool]:
    """Every slot of each reception day from `first` to `last`, with who comes
    and why (for printing), and whether names are shown; they are audited."""
    service.ensure_days(session, profile, now)
    service.expire_past(session, profile, now)
    personal = shows_personal(staff)
    result: list[WeekDay] = []
    shown: list[str] = []
    days = session.scalars(select(ReceptionDay).where(
        ReceptionDay.day >= first, ReceptionDay.day <= last).order_by(ReceptionDay.day)).all()
    for day in days:
        # Cancelled bookings free their slot; what is left is one booking per slot.
        held = {b.slot_index: b for b in session.scalars(select(Booking).where(
            Booking.day_id == day.id, Booking.status != BookingStatus.cancelled
        ).order_by(Booking.id))}
        slots = []
        for slot in service.slots_of(day, profile.tz):
            booking = held.get(slot.index)
            out = booking_out(booking, profile, personal) if booking else None
            if out:
                shown.append(out.reference)
            slots.append(WeekSlot(time=f"{slot.starts_at:%H:%M}", booking=out))
        result.append(WeekDay(day=day_out(session, profile, day, now), slots=slots))
    if personal:
        audit_shown(session, staff, "reception.list", shown, ip,
                    detail=f"week of {first.isoformat()}")
    return result, personal
