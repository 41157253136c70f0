"""The mayor's reception for staff (SPEC §3.2, §3.7): reception days, the
citizens' bookings, urgent requests, a CSV export and each officer's
iCalendar feed.

Names, phones and topics only for roles that may see personal data, and
every answer that shows them is audited; every write is audited with its
before and after. The functions under "actions" do the change and its audit
entry together, so the staff pages and the API cannot drift apart."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from icalendar import Calendar, Event
from pydantic import BaseModel, Field
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, contains_eager

from bot.admin.api.citizens import shows_personal_data
from bot.admin.common import Page, PageParams, Problem, problems
from bot.admin.deps import RuntimeDep, SessionDep, client_ip, require
from bot.admin.export import csv_response
from bot.admin.paging import page_params
from bot.db import utcnow
from bot.models import (
    Booking,
    BookingStatus,
    CalendarFeed,
    ReceptionDay,
    UrgentRequest,
    UrgentStatus,
)
from bot.models.staff import StaffUser
from bot.profile import ABROAD, Profile
from bot.runtime import Runtime
from bot.services import reception as service
from bot.staff import audit
from bot.staff.export import Column, write_csv
from bot.staff.permissions import Capability
from bot.staff.query import check_choice, paginate, sorted_by
from bot.staff.security import new_token, token_hash

router = APIRouter(prefix="/reception", tags=["reception"])
Reader = Annotated[StaffUser, Depends(require(Capability.reception))]
Writer = Annotated[StaffUser, Depends(require(Capability.reception, write=True))]
READ_ERRORS = problems(401, 403, 422)
ONE_ERRORS = problems(401, 403, 404, 422)
WRITE_ERRORS = problems(401, 403, 404, 409, 422)
HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
REFERENCE = r"^R-[0-9]{4}-[0-9]{4,10}$"
EXPORT_MAX = 20_000
ReferencePath = Annotated[str, Path(pattern=REFERENCE, max_length=16,
                                    description="The reference, e.g. R-2026-0042")]
DayPath = Annotated[date, Path(description="The day, YYYY-MM-DD")]
MarkStatus = Literal["attended", "no_show", "cancelled"]


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


class DayIn(BaseModel):
    """A new reception day; what is left out comes from the weekly pattern."""

    day: date
    start: str | None = Field(None, pattern=HHMM, description="Local HH:MM")
    slots: int | None = Field(None, ge=1, le=service.SLOTS_MAX)
    slot_minutes: int | None = Field(None, ge=service.SLOT_MINUTES_MIN,
                                     le=service.SLOT_MINUTES_MAX)


class DayChange(BaseModel):
    """Only what changes. With bookings, only `slots` may change, and not below them."""

    start: str | None = Field(None, pattern=HHMM, description="Local HH:MM")
    slots: int | None = Field(None, ge=1, le=service.SLOTS_MAX)
    slot_minutes: int | None = Field(None, ge=service.SLOT_MINUTES_MIN,
                                     le=service.SLOT_MINUTES_MAX)


class DayClose(BaseModel):
    reason: str = Field(min_length=1, max_length=200,
                        description="Told to every booked citizen (holiday, mayor away, …)")


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
    full_name: str | None = None
    phone: str | None = None
    topic: str | None = None
    citizen_erased: bool = Field(False, description="The citizen erased their data (/forget)")


class BookingMark(BaseModel):
    status: MarkStatus
    message: str | None = Field(None, max_length=500,
                                description="With `cancelled`: added to the citizen's message")


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


class FeedOut(BaseModel):
    id: int
    created_at: datetime
    revoked_at: datetime | None


class FeedCreated(FeedOut):
    url: str = Field(description="Subscribe to this in Outlook or Google Calendar; shown once")


# --- small helpers ------------------------------------------------------------------

def clean(text: str | None) -> str:
    """One line of an officer's text, without control characters or lone
    surrogates (no database stores a NUL; chats do not want tabs)."""
    kept = "".join(ch for ch in text or "" if unicodedata.category(ch) not in {"Cc", "Cs"}
                   or ch in "\t\n\r")
    return " ".join(kept.split())


def parse_hhmm(value: str | None) -> time | None:
    return None if value is None else time(int(value[:2]), int(value[3:5]))


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def conflict(err: service.RuleBroken) -> Problem:
    return Problem(409, err.code, err.detail)


def settlement_codes(profile: Profile) -> list[str]:
    return [*(s.code for s in profile.settlements), ABROAD]


def day_snapshot(day: ReceptionDay) -> dict[str, Any]:
    return {"day": day.day.isoformat(), "start": f"{day.start:%H:%M}", "slots": day.slots,
            "slot_minutes": day.slot_minutes, "closed": day.closed,
            "closed_reason": day.closed_reason}


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
        starts_at=booking.starts_at, slot_index=booking.slot_index, status=booking.status,
        settlement=booking.settlement, created_at=booking.created_at,
        moved_at=booking.moved_at, cancelled_at=booking.cancelled_at,
        cancelled_by=booking.cancelled_by, cancel_reason=booking.cancel_reason,
        marked_at=booking.marked_at, marked_by=booking.marked_by,
        full_name=booking.full_name if personal else None,
        phone=booking.phone if personal else None,
        topic=booking.topic if personal else None,
        citizen_erased=booking.account_id is None,
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
    if not references:
        return
    text = "references " + ",".join(references)
    audit.record(session, staff, action, object_type=object_type,
                 object_id=references[0] if len(references) == 1 else None,
                 detail=f"{detail}: {text}" if detail else text, ip=ip)


def find_day(session: Session, day: date) -> ReceptionDay:
    found = session.scalar(select(ReceptionDay).where(ReceptionDay.day == day))
    if found is None:
        raise Problem(404, "not_found", f"no reception day on {day.isoformat()}")
    return found


def find_booking(session: Session, reference: str) -> Booking:
    found = session.scalar(select(Booking).where(Booking.reference == reference))
    if found is None:
        raise Problem(404, "not_found", f"no booking {reference}")
    return found


def find_urgent(session: Session, reference: str) -> UrgentRequest:
    found = session.scalar(select(UrgentRequest).where(UrgentRequest.reference == reference))
    if found is None:
        raise Problem(404, "not_found", f"no urgent request {reference}")
    return found


# --- queries shared with the staff pages ---------------------------------------------

class DayFilters:
    def __init__(self, date_from: date | None = None, date_to: date | None = None,
                 closed: bool | None = None) -> None:
        self.date_from, self.date_to, self.closed = date_from, date_to, closed


DayPage = page_params("day")


def list_days(session: Session, profile: Profile, filters: DayFilters, page: PageParams,
              now: datetime) -> tuple[list[ReceptionDay], int]:
    """Days of the weekly pattern are made first, as the bot's timer would."""
    service.ensure_days(session, profile, now)
    stmt = select(ReceptionDay)
    if filters.date_from:
        stmt = stmt.where(ReceptionDay.day >= filters.date_from)
    if filters.date_to:
        stmt = stmt.where(ReceptionDay.day <= filters.date_to)
    if filters.closed is not None:
        stmt = stmt.where(ReceptionDay.closed.is_(filters.closed))
    stmt = sorted_by(stmt, page.sort, {"day": ReceptionDay.day}, default=[ReceptionDay.day])
    return paginate(session, stmt, page)


@dataclass
class BookingFilters:
    """`settlement` takes the profile's codes (see the schema's enum)."""

    date_from: date | None = None
    date_to: date | None = None
    status: BookingStatus | None = None
    settlement: str | None = None


def booking_filters(
    date_from: Annotated[date | None, Query(description="From this day on")] = None,
    date_to: Annotated[date | None, Query(description="Up to this day")] = None,
    status: BookingStatus | None = None,
    settlement: Annotated[str | None, Query(max_length=32)] = None,
) -> BookingFilters:
    return BookingFilters(date_from, date_to, status, settlement)


BookingPage = page_params("starts_at", "reference", "created_at")


def bookings_query(profile: Profile, filters: BookingFilters) -> Select[Any]:
    check_choice("settlement", filters.settlement, settlement_codes(profile))
    stmt = (select(Booking).join(Booking.day).options(contains_eager(Booking.day)))
    if filters.date_from:
        stmt = stmt.where(ReceptionDay.day >= filters.date_from)
    if filters.date_to:
        stmt = stmt.where(ReceptionDay.day <= filters.date_to)
    if filters.status:
        stmt = stmt.where(Booking.status == filters.status)
    if filters.settlement:
        stmt = stmt.where(Booking.settlement == filters.settlement)
    return stmt


def list_bookings(session: Session, profile: Profile, filters: BookingFilters,
                  page: PageParams, now: datetime) -> tuple[list[Booking], int]:
    """Bookings whose day went by unmarked show as `past`, as the timer would make them."""
    service.expire_past(session, profile, now)
    stmt = sorted_by(bookings_query(profile, filters), page.sort,
                     {"starts_at": Booking.starts_at, "reference": Booking.reference,
                      "created_at": Booking.created_at},
                     default=[Booking.starts_at, Booking.id])
    return paginate(session, stmt, page)


UrgentPage = page_params("created_at")


def list_urgent(session: Session, status: UrgentStatus | None,
                page: PageParams) -> tuple[list[UrgentRequest], int]:
    stmt = select(UrgentRequest)
    if status:
        stmt = stmt.where(UrgentRequest.status == status)
    stmt = sorted_by(stmt, page.sort, {"created_at": UrgentRequest.created_at},
                     default=[UrgentRequest.created_at.desc(), UrgentRequest.id.desc()])
    return paginate(session, stmt, page)


EXPORT_COLUMNS = [
    Column("reference"), Column("date"), Column("time"), Column("status"),
    Column("settlement"), Column("full_name", personal=True), Column("phone", personal=True),
    Column("topic", personal=True), Column("created_at"), Column("cancelled_by"),
    Column("cancel_reason"), Column("marked_by"),
]


def export_bookings(session: Session, runtime: Runtime, staff: StaffUser,
                    filters: BookingFilters, ip: str | None) -> Response:
    """The CSV of the bookings matching the filters; every export is audited."""
    profile = runtime.profile
    service.expire_past(session, profile, utcnow())
    stmt = bookings_query(profile, filters).order_by(Booking.starts_at, Booking.id)
    rows = session.scalars(stmt.limit(EXPORT_MAX)).all()
    personal = shows_personal_data(staff)
    body = write_csv(EXPORT_COLUMNS, [
        (b.reference, b.day.day, f"{b.starts_at.astimezone(profile.tz):%H:%M}", b.status.value,
         b.settlement, b.full_name, b.phone, b.topic, b.created_at, b.cancelled_by,
         b.cancel_reason, b.marked_by) for b in rows], personal=personal)
    shown = {k: v for k, v in vars(filters).items() if v is not None}
    audit.record(session, staff, "reception.export", object_type="reception_booking",
                 detail=f"csv, {len(rows)} rows, personal={'yes' if personal else 'no'}, "
                        f"filters {shown}", ip=ip)
    return csv_response(body, f"reception-{utcnow():%Y%m%d-%H%M}.csv")


# --- actions: a change and its audit entry, for the API and the pages ----------------

def act_create_day(session: Session, runtime: Runtime, staff: StaffUser, ip: str | None, *,
                   day: date, start: time | None, slots: int | None,
                   slot_minutes: int | None) -> ReceptionDay:
    try:
        row = service.create_day(session, runtime.profile, day=day, start=start, slots=slots,
                                 slot_minutes=slot_minutes, now=utcnow())
    except service.RuleBroken as err:
        raise conflict(err) from err
    audit.record(session, staff, "reception.day.create", object_type="reception_day",
                 object_id=day.isoformat(), after=day_snapshot(row), ip=ip)
    return row


def act_change_day(session: Session, runtime: Runtime, staff: StaffUser, ip: str | None, *,
                   day: date, start: time | None, slots: int | None,
                   slot_minutes: int | None) -> ReceptionDay:
    row = find_day(session, day)
    before = day_snapshot(row)
    try:
        changed = service.change_day(session, runtime.profile, row, start=start, slots=slots,
                                     slot_minutes=slot_minutes, now=utcnow())
    except service.RuleBroken as err:
        raise conflict(err) from err
    if changed:
        audit.record(session, staff, "reception.day.update", object_type="reception_day",
                     object_id=day.isoformat(), before=before, after=day_snapshot(row), ip=ip)
    return row


def act_close_day(session: Session, runtime: Runtime, staff: StaffUser, ip: str | None, *,
                  day: date, reason: str) -> tuple[ReceptionDay, list[Booking]]:
    """Close a day: its booked citizens are told, in their language, and
    offered another time."""
    row = find_day(session, day)
    now = utcnow()
    try:
        service.check_closable(runtime.profile, row, now)
    except service.RuleBroken as err:
        raise conflict(err) from err
    before = day_snapshot(row)
    cancelled = service.close_day(session, runtime.profile, runtime.catalogs, row,
                                  reason=clean(reason) or "—", now=now)
    audit.record(session, staff, "reception.day.close", object_type="reception_day",
                 object_id=day.isoformat(), before=before,
                 after={**day_snapshot(row), "cancelled": [b.reference for b in cancelled]},
                 ip=ip)
    return row, cancelled


def act_reopen_day(session: Session, runtime: Runtime, staff: StaffUser, ip: str | None, *,
                   day: date) -> ReceptionDay:
    row = find_day(session, day)
    before = day_snapshot(row)
    try:
        service.reopen_day(runtime.profile, row, utcnow())
    except service.RuleBroken as err:
        raise conflict(err) from err
    audit.record(session, staff, "reception.day.update", object_type="reception_day",
                 object_id=day.isoformat(), before=before, after=day_snapshot(row), ip=ip)
    return row


def act_mark(session: Session, runtime: Runtime, staff: StaffUser, ip: str | None, *,
             reference: str, status: str, message: str | None) -> Booking:
    booking = find_booking(session, reference)
    before = {"status": booking.status.value}
    text = clean(message) if status == BookingStatus.cancelled else ""
    try:
        service.mark_booking(session, runtime.profile, runtime.catalogs, booking,
                             BookingStatus(status), by=staff.username, now=utcnow(),
                             message=text or None)
    except service.RuleBroken as err:
        raise conflict(err) from err
    after: dict[str, Any] = {"status": booking.status.value}
    if text:
        after["message"] = text
    audit.record(session, staff, "reception.booking.mark", object_type="reception_booking",
                 object_id=reference, before=before, after=after, ip=ip)
    return booking


def act_urgent_handled(session: Session, staff: StaffUser, ip: str | None, *,
                       reference: str) -> UrgentRequest:
    request = find_urgent(session, reference)
    try:
        service.mark_urgent_handled(request, by=staff.username, now=utcnow())
    except service.RuleBroken as err:
        raise conflict(err) from err
    audit.record(session, staff, "reception.urgent.handled", object_type="reception_urgent",
                 object_id=reference, before={"status": UrgentStatus.open.value},
                 after={"status": UrgentStatus.handled.value}, ip=ip)
    return request


def feed_url(runtime: Runtime, request: Request, token: str) -> str:
    base = (runtime.settings.public_url or str(request.base_url)).rstrip("/")
    return f"{base}/api/v1/reception/calendar/{token}.ics"


def act_create_feed(session: Session, staff: StaffUser,
                    ip: str | None) -> tuple[CalendarFeed, str]:
    """A new secret feed URL for this officer; only its hash is kept."""
    token = new_token()
    feed = CalendarFeed(token_hash=token_hash(token), staff_id=staff.id, created_at=utcnow())
    session.add(feed)
    session.flush()
    audit.record(session, staff, "reception.calendar.create", object_type="calendar_feed",
                 object_id=feed.id, after={"staff": staff.username}, ip=ip)
    return feed, token


def own_feeds(session: Session, staff: StaffUser) -> list[CalendarFeed]:
    return list(session.scalars(select(CalendarFeed).where(
        CalendarFeed.staff_id == staff.id, CalendarFeed.revoked_at.is_(None)
    ).order_by(CalendarFeed.id)))


def act_revoke_feed(session: Session, staff: StaffUser, ip: str | None, *,
                    feed_id: int) -> CalendarFeed:
    """An officer revokes their own feeds (disabling an account ends its feeds too)."""
    feed = session.get(CalendarFeed, feed_id)
    if feed is None or feed.revoked_at is not None or feed.staff_id != staff.id:
        raise Problem(404, "not_found", f"no active calendar feed {feed_id} of yours")
    feed.revoked_at = utcnow()
    audit.record(session, staff, "reception.calendar.revoke", object_type="calendar_feed",
                 object_id=feed.id, before={"revoked": False}, after={"revoked": True}, ip=ip)
    return feed


def settlement_label(runtime: Runtime, locale: str, code: str | None) -> str:
    if code == ABROAD:
        return runtime.catalogs.gettext(locale, "staff.abroad")
    found = runtime.profile.settlement(code or "")
    return found.label(locale) if found else "—"


def calendar_ics(session: Session, runtime: Runtime, feed: CalendarFeed,
                 owner: StaffUser) -> bytes:
    """The active bookings as iCalendar events, times in UTC (every client
    shows them right in its own zone; the calendar names Europe/Belgrade as
    its zone). Names and topics only where the profile allows them to leave
    the municipality's systems and the officer may see them."""
    profile, locale = runtime.profile, owner.language

    def t(key: str, **params: object) -> str:
        return runtime.catalogs.gettext(locale, key, **params)

    personal = profile.reception.calendar_personal and shows_personal_data(owner)
    bookings = session.scalars(
        select(Booking).join(Booking.day).options(contains_eager(Booking.day))
        .where(Booking.status == BookingStatus.booked).order_by(Booking.starts_at, Booking.id)
    ).all()
    calendar = Calendar()
    calendar.add("prodid", f"-//{profile.municipality_name('en')}//Mayor's reception//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", t("staff.reception.calendar_name"))
    calendar.add("x-wr-timezone", profile.timezone)
    for booking in bookings:
        starts = booking.starts_at.astimezone(UTC)
        local = booking.starts_at.astimezone(profile.tz)
        settlement = settlement_label(runtime, locale, booking.settlement)
        event = Event()
        event.add("uid", f"{booking.reference}@{profile.code}.reception")
        event.add("dtstamp", (booking.moved_at or booking.created_at).astimezone(UTC))
        event.add("dtstart", starts)
        event.add("dtend", starts + timedelta(minutes=booking.day.slot_minutes))
        event.add("sequence", 1 if booking.moved_at else 0)
        event.add("status", "CONFIRMED")
        event.add("location", profile.reception.place_in(locale))
        when = f"{local:%Y-%m-%d %H:%M} ({profile.timezone})"
        if personal:
            event.add("summary", f"{booking.reference} · {booking.full_name or '—'} · "
                                 f"{settlement}")
            event.add("description", t("staff.reception.calendar_personal", when=when,
                                       settlement=settlement, topic=booking.topic))
        else:
            event.add("summary", f"{booking.reference} · {settlement}")
            event.add("description", t("staff.reception.calendar_plain", when=when,
                                       settlement=settlement))
        calendar.add_component(event)
    if personal:
        audit_shown(session, owner, "reception.export", [b.reference for b in bookings], None,
                    detail=f"calendar feed {feed.id}")
    return bytes(calendar.to_ical())


# --- routes --------------------------------------------------------------------------

@router.get("/days", response_model=Page[DayOut], responses=READ_ERRORS)
def days(staff: Reader, session: SessionDep, runtime: RuntimeDep,
         filters: Annotated[DayFilters, Depends()],
         page: Annotated[PageParams, Depends(DayPage)]) -> Page[DayOut]:
    """Reception days (the weekly pattern's and those staff added), with booked and free counts."""
    now = utcnow()
    rows, total = list_days(session, runtime.profile, filters, page, now)
    return Page(items=[day_out(session, runtime.profile, d, now) for d in rows], total=total,
                limit=page.limit, offset=page.offset)


@router.post("/days", status_code=201, response_model=DayOut,
             responses=problems(401, 403, 409, 422))
def create_day(body: DayIn, staff: Writer, session: SessionDep, runtime: RuntimeDep,
               request: Request) -> DayOut:
    """Add a reception day; not in the past, not twice, not past midnight."""
    row = act_create_day(session, runtime, staff, client_ip(request), day=body.day,
                         start=parse_hhmm(body.start), slots=body.slots,
                         slot_minutes=body.slot_minutes)
    return day_out(session, runtime.profile, row, utcnow())


@router.get("/days/{day}", response_model=DayDetail, responses=ONE_ERRORS)
def day_detail(day: DayPath, staff: Reader, session: SessionDep,
               runtime: RuntimeDep) -> DayDetail:
    """One day with its slots and which booking holds each."""
    row = find_day(session, day)
    now = utcnow()
    held = {b.slot_index: b.reference for b in service.active_bookings(session, row.id)}
    schedule = [SlotOut(index=s.index, time=f"{s.starts_at:%H:%M}", starts_at=s.starts_at,
                        reference=held.get(s.index))
                for s in service.slots_of(row, runtime.profile.tz)]
    return DayDetail(**day_out(session, runtime.profile, row, now).model_dump(),
                     schedule=schedule)


@router.patch("/days/{day}", response_model=DayOut, responses=WRITE_ERRORS)
def change_day(day: DayPath, body: DayChange, staff: Writer, session: SessionDep,
               runtime: RuntimeDep, request: Request) -> DayOut:
    """Change a day's start, slot count or slot length (409 when bookings forbid it)."""
    row = act_change_day(session, runtime, staff, client_ip(request), day=day,
                         start=parse_hhmm(body.start), slots=body.slots,
                         slot_minutes=body.slot_minutes)
    return day_out(session, runtime.profile, row, utcnow())


@router.post("/days/{day}/close", response_model=ClosedOut, responses=WRITE_ERRORS)
def close_day(day: DayPath, body: DayClose, staff: Writer, session: SessionDep,
              runtime: RuntimeDep, request: Request) -> ClosedOut:
    """Close a day; its booked citizens are told why and offered another time."""
    row, cancelled = act_close_day(session, runtime, staff, client_ip(request), day=day,
                                   reason=body.reason)
    out = day_out(session, runtime.profile, row, utcnow())
    return ClosedOut(**out.model_dump(), cancelled=[b.reference for b in cancelled])


@router.post("/days/{day}/reopen", response_model=DayOut, responses=WRITE_ERRORS)
def reopen_day(day: DayPath, staff: Writer, session: SessionDep, runtime: RuntimeDep,
               request: Request) -> DayOut:
    """Open a closed day again (cancelled bookings stay cancelled)."""
    row = act_reopen_day(session, runtime, staff, client_ip(request), day=day)
    return day_out(session, runtime.profile, row, utcnow())


@router.get("/bookings", response_model=Page[BookingOut], responses=READ_ERRORS)
def bookings(staff: Reader, session: SessionDep, runtime: RuntimeDep, request: Request,
             filters: Annotated[BookingFilters, Depends(booking_filters)],
             page: Annotated[PageParams, Depends(BookingPage)]) -> Page[BookingOut]:
    """Bookings with filters and paging; names, phones and topics only where the role allows."""
    rows, total = list_bookings(session, runtime.profile, filters, page, utcnow())
    personal = shows_personal_data(staff)
    if personal:
        audit_shown(session, staff, "reception.list", [b.reference for b in rows],
                    client_ip(request))
    return Page(items=[booking_out(b, runtime.profile, personal) for b in rows], total=total,
                limit=page.limit, offset=page.offset)


@router.get("/bookings.csv", response_class=Response, responses={
    200: {"description": "CSV, UTF-8 with BOM", "content": {"text/csv": {
        "schema": {"type": "string"}}}}, **READ_ERRORS})
def bookings_csv(staff: Reader, session: SessionDep, runtime: RuntimeDep, request: Request,
                 filters: Annotated[BookingFilters, Depends(booking_filters)]) -> Response:
    """The bookings matching the filters as CSV (Excel-safe); every export is audited."""
    return export_bookings(session, runtime, staff, filters, client_ip(request))


@router.get("/bookings/{reference}", response_model=BookingOut, responses=ONE_ERRORS)
def booking(reference: ReferencePath, staff: Reader, session: SessionDep, runtime: RuntimeDep,
            request: Request) -> BookingOut:
    """One booking; viewing the citizen's data is recorded."""
    service.expire_past(session, runtime.profile, utcnow())
    found = find_booking(session, reference)
    personal = shows_personal_data(staff)
    if personal:
        audit_shown(session, staff, "reception.view", [found.reference], client_ip(request))
    return booking_out(found, runtime.profile, personal)


@router.post("/bookings/{reference}/mark", response_model=BookingOut, responses=WRITE_ERRORS)
def mark(reference: ReferencePath, body: BookingMark, staff: Writer, session: SessionDep,
         runtime: RuntimeDep, request: Request) -> BookingOut:
    """Mark `attended` or `no_show` (from the booking's day on), or `cancelled`
    before it begins (the citizen is told, with `message`, and offered another time)."""
    found = act_mark(session, runtime, staff, client_ip(request), reference=reference,
                     status=body.status, message=body.message)
    return booking_out(found, runtime.profile, shows_personal_data(staff))


@router.get("/urgent", response_model=Page[UrgentOut], responses=READ_ERRORS)
def urgent(staff: Reader, session: SessionDep, request: Request,
           page: Annotated[PageParams, Depends(UrgentPage)],
           status: UrgentStatus | None = None) -> Page[UrgentOut]:
    """Urgent requests (they take no slot), newest first."""
    rows, total = list_urgent(session, status, page)
    personal = shows_personal_data(staff)
    if personal:
        audit_shown(session, staff, "reception.list", [u.reference for u in rows],
                    client_ip(request), object_type="reception_urgent")
    return Page(items=[urgent_out(u, personal) for u in rows], total=total, limit=page.limit,
                offset=page.offset)


@router.post("/urgent/{reference}/handled", response_model=UrgentOut, responses=WRITE_ERRORS)
def urgent_handled(reference: ReferencePath, staff: Writer, session: SessionDep,
                   request: Request) -> UrgentOut:
    """An officer called the citizen back."""
    found = act_urgent_handled(session, staff, client_ip(request), reference=reference)
    return urgent_out(found, shows_personal_data(staff))


@router.get("/calendar-feeds", response_model=list[FeedOut], responses=READ_ERRORS)
def calendar_feeds(staff: Reader, session: SessionDep) -> list[FeedOut]:
    """The officer's own active calendar feeds (their secret URLs are shown only once)."""
    return [FeedOut.model_validate(f, from_attributes=True) for f in own_feeds(session, staff)]


@router.post("/calendar-feeds", status_code=201, response_model=FeedCreated,
             responses=READ_ERRORS)
def create_calendar_feed(staff: Reader, session: SessionDep, runtime: RuntimeDep,
                         request: Request) -> FeedCreated:
    """A new secret iCalendar URL for the officer (calendar apps cannot send a bearer token)."""
    feed, token = act_create_feed(session, staff, client_ip(request))
    return FeedCreated(id=feed.id, created_at=feed.created_at, revoked_at=None,
                       url=feed_url(runtime, request, token))


@router.delete("/calendar-feeds/{feed_id}", status_code=204, response_class=Response,
               responses=ONE_ERRORS)
def revoke_calendar_feed(feed_id: Annotated[int, Path(ge=1, le=2**31 - 1)], staff: Reader,
                         session: SessionDep, request: Request) -> Response:
    """Revoke a feed: its URL stops working at once."""
    act_revoke_feed(session, staff, client_ip(request), feed_id=feed_id)
    return Response(status_code=204)


@router.get("/calendar/{feed_token}.ics", include_in_schema=False)
def calendar(feed_token: Annotated[str, Path(max_length=128)], session: SessionDep,
             runtime: RuntimeDep) -> Response:
    """The feed itself: the secret token in the URL is the only credential; an
    unknown or revoked token, or an officer who lost access, finds nothing."""
    found = session.execute(
        select(CalendarFeed, StaffUser).join(StaffUser, StaffUser.id == CalendarFeed.staff_id)
        .where(CalendarFeed.token_hash == token_hash(feed_token),
               CalendarFeed.revoked_at.is_(None), StaffUser.disabled_at.is_(None))
    ).one_or_none()
    missing = Problem(404, "not_found", "no such calendar feed (revoked, or never issued)")
    if found is None:
        raise missing
    feed, owner = found
    try:
        require(Capability.reception)(owner)
    except Problem as err:
        raise missing from err
    return Response(calendar_ics(session, runtime, feed, owner),
                    media_type="text/calendar; charset=utf-8",
                    headers={"Cache-Control": "private, max-age=300"})
