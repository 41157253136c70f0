"""Staff pages of the mayor's reception at /staff/reception: days, urgent
requests, bookings with their buttons, the officer's calendar feed, and a
printable week for the mayor's desk. They parse the forms and call the same
use-cases as the API (bot.staff.reception), so audit and rules are the same
on both."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from bot.admin import rendering
from bot.admin.deps import RuntimeDep, SessionDep, client_ip
from bot.db import utcnow
from bot.models import BookingStatus
from bot.models.staff import StaffUser
from bot.profile import Profile
from bot.refusals import Conflict, Invalid
from bot.services import reception as service
from bot.staff.permissions import Capability, can_write, shows_personal
from bot.staff.query import PageWindow
from bot.staff.reception import actions, calendar, views
from bot.staff.reception.actions import HHMM, MarkStatus, parse_hhmm
from bot.staff.reception.views import BookingFilters

router = APIRouter(prefix="/staff/reception", include_in_schema=False)
HOME = "/staff/reception"
DONE = ("day_created", "day_changed", "day_closed", "day_reopened", "marked",
        "urgent_handled", "feed_revoked", "moved", "booked")
MOVE_ERRORS = ("slot_taken", "day_unavailable")
SLOT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}/[0-9]{1,2}$"
FILTERS = ("date_from", "date_to", "status", "settlement")
Csrf = Annotated[str, Form(max_length=200)]
Back = Annotated[str, Form(max_length=1000)]
ReferencePath = Annotated[str, Path(pattern=views.REFERENCE, max_length=16)]


Reader = Annotated[StaffUser, Depends(rendering.page_role(Capability.reception))]
Writer = Annotated[StaffUser, Depends(rendering.page_role(Capability.reception, write=True))]


def _redirect(back: str, done: str) -> RedirectResponse:
    """Back to the page the form was on (only ever a reception page), saying what was done."""
    if not back.startswith(HOME) or "//" in back or "\\" in back:
        back = HOME
    parts = urlsplit(back)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "done"] + [("done", done)]
    return RedirectResponse(f"{parts.path}?{urlencode(query)}", status_code=303)


def _parse_date(value: str) -> date | None:
    """A date from a form field; empty is none, nonsense is a ValueError."""
    return date.fromisoformat(value) if value else None


def _filters(profile: Profile, params: dict[str, str],
             today: date) -> tuple[BookingFilters, str | None]:
    """The bookings filters of the page, the API's model. Unlike the API, an
    empty field means "any"; with no date given at all the list starts today."""
    values: dict[str, object] = {**params}
    if "date_from" not in params:
        values["date_from"] = today
    return rendering.page_filters(BookingFilters, values, profile, views.check_filters,
                                  message="staff.reception.bad_filter",
                                  default=BookingFilters(date_from=today))


# A refusal of "book for a citizen" with a message of its own (the SMS form's
# for the same mistakes); anything else shows its detail.
BOOK_ERRORS = {"invalid_phone": "staff.sms.error.invalid_phone",
               "unknown_settlement": "staff.sms.error.unknown_settlement",
               "unknown_language": "staff.sms.error.unknown_language",
               "slot_taken": "staff.reception.error.slot_taken",
               "day_unavailable": "staff.reception.error.day_unavailable",
               **{code: f"staff.reception.book_error.{code}" for code in (
                   "invalid_topic", "invalid_name", "invalid_source", "invalid_slot",
                   "already_booked")}}


def _book_form() -> dict[str, str]:
    return {"slot": "", "phone": "", "full_name": "", "settlement": "", "language": "",
            "topic": "", "source": "counter"}


def _book_options(session: Session, profile: Profile,
                  now: datetime) -> list[tuple[date, list[tuple[int, str]]]]:
    """The free slots an officer may book, day by day (the SLOT values)."""
    return [(day.day, [(slot.index, f"{slot.starts_at:%H:%M}") for slot in free])
            for day, free in service.move_options(session, profile, now)]


@router.get("", response_class=HTMLResponse)
def reception_page(request: Request, runtime: RuntimeDep, staff: Reader, session: SessionDep,
                   offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> HTMLResponse:
    return _reception(request, runtime, staff, session, offset)


def _reception(request: Request, runtime: RuntimeDep, staff: StaffUser, session: Session,
               offset: int = 0, *, book_form: dict[str, str] | None = None,
               book_error: str | None = None, status: int = 200) -> HTMLResponse:
    """The reception page; with `book_form`, the "book for a citizen" form
    shown again as the officer filled it, with what to fix."""
    profile, now = runtime.profile, utcnow()
    today = service.today(profile, now)
    params = {k: v for k, v in request.query_params.items() if k in FILTERS}
    filters, error = _filters(profile, params, today)
    page = PageWindow(limit=25, offset=offset)
    shown = views.overview(session, profile, staff, filters, page, now, client_ip(request))
    csv_query = {k: v for k, v in filters.model_dump(mode="json").items() if v}
    done = request.query_params.get("done")
    writer = can_write(staff.role, Capability.reception)
    return rendering.render(
        request, runtime, "reception.html", staff, status=status,
        days=shown.days, urgent=shown.urgent, bookings=shown.bookings, total=shown.total,
        personal=shown.personal, can_write=writer,
        book_options=_book_options(session, profile, now) if writer else [],
        book_form=book_form or _book_form(), book_error=book_error,
        book_sources=service.STAFF_SOURCES, locales=list(profile.enabled_locales),
        error=error, params=params, filters=filters, today=today, now=now,
        statuses=[s.value for s in BookingStatus],
        settlements=rendering.settlement_labels(runtime, staff.language),
        defaults=profile.reception, feeds=calendar.own_feeds(session, staff),
        done=done if done in DONE else None,
        here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        csv_link="/api/v1/reception/bookings.csv" + (f"?{urlencode(csv_query)}"
                                                     if csv_query else ""),
        **rendering.pager_links(request, offset, page.limit, shown.total),
    )


@router.get("/week", response_class=HTMLResponse)
def week_page(request: Request, runtime: RuntimeDep, staff: Reader, session: SessionDep,
              start: Annotated[str, Query(max_length=10)] = "") -> HTMLResponse:
    """Seven days from `start` (default: this week's Monday), every slot of
    each reception day with who comes and why — for printing."""
    profile, now = runtime.profile, utcnow()
    today = service.today(profile, now)
    try:
        first = _parse_date(start) or today - timedelta(days=today.weekday())
        last = first + timedelta(days=6)
        links = (first - timedelta(days=7), first + timedelta(days=7))
    except (ValueError, OverflowError):
        return rendering.render(request, runtime, "error.html", staff, status=422,
                                detail=runtime.catalogs.gettext(staff.language,
                                                                "staff.reception.bad_week"))
    week, personal = views.week(session, profile, staff, first, last, now, client_ip(request))
    return rendering.render(
        request, runtime, "reception_week.html", staff, week=week, first=first, last=last,
        prev_start=links[0].isoformat(), next_start=links[1].isoformat(), personal=personal,
        place=profile.reception.place_in(staff.language),
        settlements=rendering.settlement_labels(runtime, staff.language))


@router.get("/bookings/{reference}", response_class=HTMLResponse)
def booking_page(reference: ReferencePath, request: Request, runtime: RuntimeDep,
                 staff: Reader, session: SessionDep) -> HTMLResponse:
    profile, now = runtime.profile, utcnow()
    shown = views.shown_booking(session, profile, staff, reference, now, client_ip(request))
    writer = can_write(staff.role, Capability.reception)
    movable = writer and shown.status is BookingStatus.booked and shown.starts_at > now
    options = [(day.day, [(slot.index, f"{slot.starts_at:%H:%M}") for slot in free])
               for day, free in service.move_options(session, profile, now)] if movable else []
    done = request.query_params.get("done")
    error = request.query_params.get("error")
    return rendering.render(request, runtime, "reception_booking.html", staff,
                            b=shown, personal=shows_personal(staff), can_write=writer,
                            sms_number=views.sms_number(session, staff, reference),
                            told_nowhere=views.told_nowhere(session, reference),
                            voices=views.booking_voices(session, staff, reference),
                            today=service.today(profile, now), now=now,
                            settlements=rendering.settlement_labels(runtime, staff.language),
                            here=request.url.path, movable=movable, move_options=options,
                            done=done if done in DONE else None,
                            error=error if error in MOVE_ERRORS else None)


VoiceIdPath = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("/bookings/{reference}/voice/{voice_id}")
def booking_voice(reference: ReferencePath, voice_id: VoiceIdPath, staff: Reader,
                  session: SessionDep, download: Annotated[bool, Query()] = False
                  ) -> FileResponse:
    """The recording for the <audio> of the booking's page, or (`download`) as
    a file to keep; only for roles that see the booking's topic."""
    path, media_type = views.stored_booking_voice(session, staff, reference, voice_id)
    return FileResponse(path, media_type=media_type,
                        filename=f"{reference}-voice-{voice_id}{path.suffix}" if download
                        else None, headers={"Cache-Control": "private, no-store"})


@router.get("/urgent/{reference}/voice/{voice_id}")
def urgent_voice(reference: ReferencePath, voice_id: VoiceIdPath, staff: Reader,
                 session: SessionDep, download: Annotated[bool, Query()] = False
                 ) -> FileResponse:
    """The recording of an urgent request, on the reception page's list."""
    path, media_type = views.stored_urgent_voice(session, staff, reference, voice_id)
    return FileResponse(path, media_type=media_type,
                        filename=f"{reference}-voice-{voice_id}{path.suffix}" if download
                        else None, headers={"Cache-Control": "private, no-store"})


# --- forms -----------------------------------------------------------------------------

# The day form's fields, shared by "add a day" and "change a day".
StartField = Annotated[str | None, Form(pattern=HHMM)]
SlotsField = Annotated[int | None, Form(ge=1, le=service.SLOTS_MAX)]
MinutesField = Annotated[int | None, Form(ge=service.SLOT_MINUTES_MIN,
                                          le=service.SLOT_MINUTES_MAX)]


def day_form(start: StartField = None, slots: SlotsField = None,
             slot_minutes: MinutesField = None) -> dict[str, Any]:
    """What the officer set of a day (empty fields keep the weekly pattern's)."""
    return {"start": parse_hhmm(start), "slots": slots, "slot_minutes": slot_minutes}


DayFields = Annotated[dict[str, Any], Depends(day_form)]


@router.post("/days")
def create_day(request: Request, runtime: RuntimeDep, staff: Writer, session: SessionDep,
               day: Annotated[date, Form()], fields: DayFields,
               csrf_token: Csrf = "") -> Response:
    rendering.check_csrf(request, runtime, csrf_token)
    actions.create_day(session, runtime.profile, staff, client_ip(request), day=day,
                       now=utcnow(), **fields)
    return _redirect(HOME, "day_created")


@router.post("/days/{day}/change")
def change_day(day: date, request: Request, runtime: RuntimeDep, staff: Writer,
               session: SessionDep, fields: DayFields, csrf_token: Csrf = "") -> Response:
    rendering.check_csrf(request, runtime, csrf_token)
    actions.change_day(session, runtime.profile, staff, client_ip(request), day=day,
                       now=utcnow(), **fields)
    return _redirect(HOME, "day_changed")


@router.post("/days/{day}/close")
def close_day(day: date, request: Request, runtime: RuntimeDep, staff: Writer,
              session: SessionDep, reason: Annotated[str, Form(min_length=1, max_length=200)],
              csrf_token: Csrf = "") -> Response:
    rendering.check_csrf(request, runtime, csrf_token)
    actions.close_day(session, runtime.profile, runtime.catalogs, staff, client_ip(request),
                      day=day, reason=reason, now=utcnow())
    return _redirect(HOME, "day_closed")


@router.post("/days/{day}/reopen")
def reopen_day(day: date, request: Request, runtime: RuntimeDep, staff: Writer,
               session: SessionDep, csrf_token: Csrf = "") -> Response:
    rendering.check_csrf(request, runtime, csrf_token)
    actions.reopen_day(session, runtime.profile, staff, client_ip(request), day=day,
                       now=utcnow())
    return _redirect(HOME, "day_reopened")


@router.post("/bookings/{reference}/mark")
def mark(reference: ReferencePath, request: Request, runtime: RuntimeDep, staff: Writer,
         session: SessionDep, status: Annotated[MarkStatus, Form()],
         csrf_token: Csrf = "", message: Annotated[str, Form(max_length=500)] = "",
         back: Back = HOME) -> Response:
    rendering.check_csrf(request, runtime, csrf_token)
    actions.mark(session, runtime.profile, runtime.catalogs, staff, client_ip(request),
                 reference=reference, status=status, message=message, now=utcnow())
    return _redirect(back, "marked")


@router.post("/bookings/{reference}/move")
def move(reference: ReferencePath, request: Request, runtime: RuntimeDep, staff: Writer,
         session: SessionDep, slot: Annotated[str, Form(pattern=SLOT)],
         csrf_token: Csrf = "") -> Response:
    """`slot` is the new day and slot, `YYYY-MM-DD/index`. A slot taken or
    gone since the page was shown sends the officer back to choose again."""
    rendering.check_csrf(request, runtime, csrf_token)
    day_text, _, index = slot.partition("/")
    try:
        day = date.fromisoformat(day_text)
    except ValueError:
        raise Invalid("invalid_slot", "the day is not a date") from None
    page = f"{HOME}/bookings/{reference}"
    try:
        actions.move(session, runtime.profile, runtime.catalogs, staff, client_ip(request),
                     reference=reference, day=day, slot_index=int(index), now=utcnow())
    except (service.SlotTaken, service.DayUnavailable) as refused:
        return RedirectResponse(f"{page}?error={refused.code}", status_code=303)
    return RedirectResponse(f"{page}?done=moved", status_code=303)


Short = Annotated[str, Form(max_length=40)]


@router.post("/bookings", response_class=HTMLResponse)
def book_for_citizen(request: Request, runtime: RuntimeDep, staff: Writer, session: SessionDep,
                     csrf_token: Csrf = "", slot: Short = "", phone: Short = "",
                     full_name: Annotated[str, Form(max_length=300)] = "",
                     settlement: Short = "", language: Short = "",
                     topic: Annotated[str, Form(max_length=2000)] = "",
                     source: Short = "counter") -> Response:
    """Book for a citizen at the counter or on the phone, then open the new
    booking; a mistake or a refusal shows the form again as it was filled."""
    rendering.check_csrf(request, runtime, csrf_token)
    form = {"slot": slot, "phone": phone, "full_name": full_name, "settlement": settlement,
            "language": language, "topic": topic, "source": source}
    try:
        if not re.fullmatch(SLOT, slot):
            raise Invalid("invalid_slot", "choose a free time", "slot")
        day_text, _, index = slot.partition("/")
        try:
            day = date.fromisoformat(day_text)
        except ValueError:
            raise Invalid("invalid_slot", "the day is not a date", "slot") from None
        # A refusal leaves nothing behind (a citizen made for the booking).
        with session.begin_nested():
            booking = actions.book_for_citizen(
                session, runtime.profile, runtime.catalogs, staff, client_ip(request),
                actions.ForCitizen(day=day, slot_index=int(index), phone=phone, topic=topic,
                                   full_name=full_name, settlement=settlement,
                                   language=language, source=source), now=utcnow())
    except (Invalid, Conflict) as refused:
        key = BOOK_ERRORS.get(refused.code)
        message = (runtime.catalogs.gettext(staff.language, key,
                                            reference=refused.extra.get("reference", ""))
                   if key else refused.detail)
        return _reception(request, runtime, staff, session, book_form=form,
                          book_error=message, status=refused.status)
    return RedirectResponse(f"{HOME}/bookings/{booking.reference}?done=booked",
                            status_code=303)


@router.post("/urgent/{reference}/handled")
def urgent_handled(reference: ReferencePath, request: Request, runtime: RuntimeDep,
                   staff: Writer, session: SessionDep, csrf_token: Csrf = "") -> Response:
    rendering.check_csrf(request, runtime, csrf_token)
    actions.urgent_handled(session, staff, client_ip(request), reference=reference,
                           now=utcnow())
    return _redirect(HOME, "urgent_handled")


@router.post("/calendar", response_class=HTMLResponse)
def create_feed(request: Request, runtime: RuntimeDep, staff: Reader, session: SessionDep,
                csrf_token: Csrf = "") -> HTMLResponse:
    """The new feed's URL is shown once, on this answer; only its hash is kept."""
    rendering.check_csrf(request, runtime, csrf_token)
    _, token = calendar.create_feed(session, staff, client_ip(request), utcnow())
    url = calendar.feed_url(runtime.settings.public_url, str(request.base_url), token)
    return rendering.render(request, runtime, "reception_feed.html", staff, url=url)


@router.post("/calendar/{feed_id}/revoke")
def revoke_feed(feed_id: int, request: Request, runtime: RuntimeDep, staff: Reader,
                session: SessionDep, csrf_token: Csrf = "") -> Response:
    rendering.check_csrf(request, runtime, csrf_token)
    calendar.revoke_feed(session, staff, client_ip(request), feed_id=feed_id, now=utcnow())
    return _redirect(HOME, "feed_revoked")
