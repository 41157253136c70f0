"""The mayor's reception for staff (SPEC §3.2, §3.7): reception days, the
citizens' bookings, urgent requests, a CSV export and each officer's
iCalendar feed — the routes and their request bodies. What is shown, what
is done and what is audited is decided in `bot.staff.reception`, shared
with the staff pages."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from bot.admin.common import CSV, ONE_ERRORS, READ_ERRORS, WRITE_ERRORS, Page, PageParams, problems
from bot.admin.deps import RuntimeDep, SessionDep, client_ip, require
from bot.admin.export import csv_response
from bot.admin.paging import page_params
from bot.db import utcnow
from bot.models import UrgentStatus
from bot.models.staff import StaffUser
from bot.services import reception as service
from bot.staff.permissions import Capability, shows_personal
from bot.staff.reception import actions, calendar, export, views
from bot.staff.reception.actions import HHMM, MarkStatus, Source, parse_hhmm
from bot.staff.reception.calendar import FeedCreated, FeedOut

router = APIRouter(prefix="/reception", tags=["reception"])
Reader = Annotated[StaffUser, Depends(require(Capability.reception))]
Writer = Annotated[StaffUser, Depends(require(Capability.reception, write=True))]
ReferencePath = Annotated[str, Path(pattern=views.REFERENCE, max_length=16,
                                    description="The reference, e.g. R-2026-0042")]
DayPath = Annotated[date, Path(description="The day, YYYY-MM-DD")]
DayPage = page_params(*views.DAY_SORTS)
BookingPage = page_params(*views.BOOKING_SORTS)
UrgentPage = page_params(*views.URGENT_SORTS)


# --- request bodies --------------------------------------------------------------------

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


class BookingMove(BaseModel):
    day: date = Field(description="An open reception day")
    slot_index: int = Field(ge=0, le=service.SLOTS_MAX, description="A free slot of that day, "
                                                                     "from 0")


class BookingForCitizen(BaseModel):
    """A booking an officer makes for a citizen at the counter or on the
    phone: the citizen is found by the number (registered for SMS, known from
    the chat, or new) and told by SMS or on their chat where they can be."""

    model_config = ConfigDict(extra="forbid")

    day: date = Field(description="An open reception day")
    slot_index: int = Field(ge=0, le=service.SLOTS_MAX, description="A free slot of that day, "
                                                                     "from 0")
    phone: str = Field(max_length=32, description="The citizen's number as they say it "
                                                  "(044 123 456, or +… for a foreign one)")
    full_name: str | None = Field(None, max_length=actions.NAME_MAX)
    topic: str = Field(min_length=1, max_length=service.TOPIC_MAX,
                       description="What the citizen wants to talk to the mayor about")
    settlement: str | None = Field(None, max_length=32, description="A settlement code")
    language: str | None = Field(None, max_length=16,
                                 description="An enabled locale: the messages' language "
                                             "(a known citizen keeps their own)")
    source: Source = Field(description="The citizen stood at the counter, or called")

    def form(self) -> actions.ForCitizen:
        return actions.ForCitizen(day=self.day, slot_index=self.slot_index, phone=self.phone,
                                  topic=self.topic, full_name=self.full_name or "",
                                  settlement=self.settlement or "",
                                  language=self.language or "", source=self.source)


class BookingMark(BaseModel):
    status: MarkStatus
    message: str | None = Field(None, max_length=500,
                                description="With `cancelled`: added to the citizen's message")


# --- days ------------------------------------------------------------------------------

@router.get("/days", response_model=Page[views.DayOut], responses=READ_ERRORS)
def days(staff: Reader, session: SessionDep, runtime: RuntimeDep,
         filters: Annotated[views.DayFilters, Query()],
         page: Annotated[PageParams, Depends(DayPage)]) -> Page[views.DayOut]:
    """Reception days (the weekly pattern's and those staff added), with booked and free counts."""
    now = utcnow()
    rows, total = views.list_days(session, runtime.profile, filters, page, now)
    return Page(items=[views.day_out(session, runtime.profile, d, now) for d in rows],
                total=total, limit=page.limit, offset=page.offset)


@router.post("/days", status_code=201, response_model=views.DayOut,
             responses=problems(401, 403, 409, 422))
def create_day(body: DayIn, staff: Writer, session: SessionDep, runtime: RuntimeDep,
               request: Request) -> views.DayOut:
    """Add a reception day; not in the past, not twice, not past midnight."""
    row = actions.create_day(session, runtime.profile, staff, client_ip(request), day=body.day,
                             start=parse_hhmm(body.start), slots=body.slots,
                             slot_minutes=body.slot_minutes, now=utcnow())
    return views.day_out(session, runtime.profile, row, utcnow())


@router.get("/days/{day}", response_model=views.DayDetail, responses=ONE_ERRORS)
def day_detail(day: DayPath, staff: Reader, session: SessionDep,
               runtime: RuntimeDep) -> views.DayDetail:
    """One day with its slots and which booking holds each."""
    return views.day_detail(session, runtime.profile, day, utcnow())


@router.patch("/days/{day}", response_model=views.DayOut, responses=WRITE_ERRORS)
def change_day(day: DayPath, body: DayChange, staff: Writer, session: SessionDep,
               runtime: RuntimeDep, request: Request) -> views.DayOut:
    """Change a day's start, slot count or slot length (409 when bookings forbid it)."""
    row = actions.change_day(session, runtime.profile, staff, client_ip(request), day=day,
                             start=parse_hhmm(body.start), slots=body.slots,
                             slot_minutes=body.slot_minutes, now=utcnow())
    return views.day_out(session, runtime.profile, row, utcnow())


@router.post("/days/{day}/close", response_model=views.ClosedOut, responses=WRITE_ERRORS)
def close_day(day: DayPath, body: DayClose, staff: Writer, session: SessionDep,
              runtime: RuntimeDep, request: Request) -> views.ClosedOut:
    """Close a day; its booked citizens are told why and offered another time."""
    row, cancelled = actions.close_day(session, runtime.profile, runtime.catalogs, staff,
                                       client_ip(request), day=day, reason=body.reason,
                                       now=utcnow())
    out = views.day_out(session, runtime.profile, row, utcnow())
    return views.ClosedOut(**out.model_dump(), cancelled=[b.reference for b in cancelled])


@router.post("/days/{day}/reopen", response_model=views.DayOut, responses=WRITE_ERRORS)
def reopen_day(day: DayPath, staff: Writer, session: SessionDep, runtime: RuntimeDep,
               request: Request) -> views.DayOut:
    """Open a closed day again (cancelled bookings stay cancelled)."""
    row = actions.reopen_day(session, runtime.profile, staff, client_ip(request), day=day,
                             now=utcnow())
    return views.day_out(session, runtime.profile, row, utcnow())


# --- bookings ------------------------------------------------------------------------

@router.get("/bookings", response_model=Page[views.BookingOut], responses=READ_ERRORS)
def bookings(staff: Reader, session: SessionDep, runtime: RuntimeDep, request: Request,
             filters: Annotated[views.BookingFilters, Query()],
             page: Annotated[PageParams, Depends(BookingPage)]) -> Page[views.BookingOut]:
    """Bookings with filters and paging; names, phones and topics only where the role allows."""
    items, total = views.shown_bookings(session, runtime.profile, staff, filters, page,
                                        utcnow(), client_ip(request))
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/bookings.csv", response_class=Response, responses={**CSV, **READ_ERRORS})
def bookings_csv(staff: Reader, session: SessionDep, runtime: RuntimeDep, request: Request,
                 filters: Annotated[views.BookingFilters, Query()]) -> Response:
    """The bookings matching the filters as CSV (Excel-safe); every export is audited."""
    body = export.export_bookings(session, runtime.profile, staff, filters, client_ip(request),
                                  utcnow())
    return csv_response(body, f"reception-{utcnow():%Y%m%d-%H%M}.csv")


@router.post("/bookings", status_code=201, response_model=views.BookingOut,
             responses=problems(401, 403, 409, 422))
def book_for_citizen(body: BookingForCitizen, staff: Writer, session: SessionDep,
                     runtime: RuntimeDep, request: Request) -> views.BookingOut:
    """Book a free slot for a citizen who asked at the counter or on the
    phone. 409 `slot_taken`, `day_unavailable` (a closed, past or unknown day
    or slot), `already_booked` (with the citizen's upcoming `reference`);
    422 for a number that is not one, an unknown settlement or language."""
    found = actions.book_for_citizen(session, runtime.profile, runtime.catalogs, staff,
                                     client_ip(request), body.form(), now=utcnow())
    return views.booking_out(found, runtime.profile, shows_personal(staff))


@router.get("/bookings/{reference}", response_model=views.BookingOut, responses=ONE_ERRORS)
def booking(reference: ReferencePath, staff: Reader, session: SessionDep, runtime: RuntimeDep,
            request: Request) -> views.BookingOut:
    """One booking; viewing the citizen's data is recorded."""
    return views.shown_booking(session, runtime.profile, staff, reference, utcnow(),
                               client_ip(request))


@router.post("/bookings/{reference}/mark", response_model=views.BookingOut, responses=WRITE_ERRORS)
def mark(reference: ReferencePath, body: BookingMark, staff: Writer, session: SessionDep,
         runtime: RuntimeDep, request: Request) -> views.BookingOut:
    """Mark `attended` or `no_show` (from the booking's day on), or `cancelled`
    before it begins (the citizen is told, with `message`, and offered another time)."""
    found = actions.mark(session, runtime.profile, runtime.catalogs, staff, client_ip(request),
                         reference=reference, status=body.status, message=body.message,
                         now=utcnow())
    return views.booking_out(found, runtime.profile, shows_personal(staff))


@router.post("/bookings/{reference}/move", response_model=views.BookingOut,
             responses=WRITE_ERRORS)
def move(reference: ReferencePath, body: BookingMove, staff: Writer, session: SessionDep,
         runtime: RuntimeDep, request: Request) -> views.BookingOut:
    """Move a booked appointment that has not begun to a free slot: its old
    slot is free again and the citizen is told in their language. 409
    `slot_taken` when another booking holds the slot, `day_unavailable` for a
    closed day or a slot that does not exist or has passed; 404 for a day
    with no reception."""
    found = actions.move(session, runtime.profile, runtime.catalogs, staff, client_ip(request),
                         reference=reference, day=body.day, slot_index=body.slot_index,
                         now=utcnow())
    return views.booking_out(found, runtime.profile, shows_personal(staff))


# --- urgent requests ------------------------------------------------------------------

@router.get("/urgent", response_model=Page[views.UrgentOut], responses=READ_ERRORS)
def urgent(staff: Reader, session: SessionDep, request: Request,
           page: Annotated[PageParams, Depends(UrgentPage)],
           status: UrgentStatus | None = None) -> Page[views.UrgentOut]:
    """Urgent requests (they take no slot), newest first."""
    items, total = views.shown_urgent(session, staff, status, page, client_ip(request))
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post("/urgent/{reference}/handled", response_model=views.UrgentOut, responses=WRITE_ERRORS)
def urgent_handled(reference: ReferencePath, staff: Writer, session: SessionDep,
                   request: Request) -> views.UrgentOut:
    """An officer called the citizen back."""
    found = actions.urgent_handled(session, staff, client_ip(request), reference=reference,
                                   now=utcnow())
    return views.urgent_out(found, shows_personal(staff))


# --- calendar feeds ---------------------------------------------------------------------

@router.get("/calendar-feeds", response_model=list[FeedOut], responses=READ_ERRORS)
def calendar_feeds(staff: Reader, session: SessionDep) -> list[FeedOut]:
    """The officer's own active calendar feeds (their secret URLs are shown only once)."""
    return [FeedOut.model_validate(f, from_attributes=True)
            for f in calendar.own_feeds(session, staff)]


@router.post("/calendar-feeds", status_code=201, response_model=FeedCreated,
             responses=READ_ERRORS)
def create_calendar_feed(staff: Reader, session: SessionDep, runtime: RuntimeDep,
                         request: Request) -> FeedCreated:
    """A new secret iCalendar URL for the officer (calendar apps cannot send a bearer token)."""
    feed, token = calendar.create_feed(session, staff, client_ip(request), utcnow())
    return FeedCreated(id=feed.id, created_at=feed.created_at, revoked_at=None,
                       url=calendar.feed_url(runtime.settings.public_url,
                                             str(request.base_url), token))


@router.delete("/calendar-feeds/{feed_id}", status_code=204, response_class=Response,
               responses=ONE_ERRORS)
def revoke_calendar_feed(feed_id: Annotated[int, Path(ge=1, le=2**31 - 1)], staff: Reader,
                         session: SessionDep, request: Request) -> Response:
    """Revoke a feed: its URL stops working at once."""
    calendar.revoke_feed(session, staff, client_ip(request), feed_id=feed_id, now=utcnow())
    return Response(status_code=204)


@router.get("/calendar/{feed_token}.ics", include_in_schema=False)
def calendar_ics(feed_token: Annotated[str, Path(max_length=128)], session: SessionDep,
                 runtime: RuntimeDep) -> Response:
    """The feed itself: the secret token in the URL is the only credential; an
    unknown or revoked token, or an officer who lost access, finds nothing."""
    feed, owner = calendar.feed_for_token(session, feed_token)
    return Response(calendar.calendar_ics(session, runtime.profile, runtime.catalogs, feed,
                                          owner),
                    media_type="text/calendar; charset=utf-8",
                    headers={"Cache-Control": "private, max-age=300"})
