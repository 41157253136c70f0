"""Staff pages of the mayor's reception at /staff/reception: days, urgent
requests, bookings with their buttons, the officer's calendar feed, and a
printable week for the mayor's desk. They call the same actions as the API
(bot.admin.api.reception), so audit and rules are the same on both."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from bot.admin.api import reception as api
from bot.admin.api.citizens import shows_personal_data
from bot.admin.common import PageParams
from bot.admin.deps import RuntimeDep, SessionDep, client_ip
from bot.admin.pages import check_csrf, page_role, render
from bot.db import utcnow
from bot.models import Booking, BookingStatus, ReceptionDay, UrgentStatus
from bot.models.staff import StaffUser
from bot.runtime import Runtime
from bot.services import reception as service
from bot.staff.permissions import Capability, can_write

router = APIRouter(prefix="/staff/reception", include_in_schema=False)
HOME = "/staff/reception"
DONE = ("day_created", "day_changed", "day_closed", "day_reopened", "marked",
        "urgent_handled", "feed_revoked")
Csrf = Annotated[str, Form(max_length=200)]
Back = Annotated[str, Form(max_length=1000)]


Reader = Annotated[StaffUser, Depends(page_role(Capability.reception))]
Writer = Annotated[StaffUser, Depends(page_role(Capability.reception, write=True))]


def _redirect(back: str, done: str) -> RedirectResponse:
    """Back to the page the form was on (only ever a reception page), saying what was done."""
    if not back.startswith(HOME) or "//" in back or "\\" in back:
        back = HOME
    parts = urlsplit(back)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "done"] + [("done", done)]
    return RedirectResponse(f"{parts.path}?{urlencode(query)}", status_code=303)


def _settlements(runtime: Runtime, locale: str) -> dict[str, str]:
    return {code: api.settlement_label(runtime, locale, code)
            for code in api.settlement_codes(runtime.profile)}


def _parse_date(value: str) -> date | None:
    """A date from a form field; empty is none, nonsense is a ValueError."""
    return date.fromisoformat(value) if value else None


def _filters(runtime: Runtime, params: dict[str, str],
             today: date) -> tuple[api.BookingFilters, str | None]:
    """The bookings filters of the page. Unlike the API, an empty field means
    "any"; with no date given at all the list starts today."""
    try:
        date_from = (_parse_date(params.get("date_from", "")) if "date_from" in params
                     else today)
        date_to = _parse_date(params.get("date_to", ""))
        status = BookingStatus(params["status"]) if params.get("status") else None
    except ValueError:
        return api.BookingFilters(date_from=today), "staff.reception.bad_filter"
    settlement = params.get("settlement") or None
    if settlement is not None and settlement not in api.settlement_codes(runtime.profile):
        return api.BookingFilters(date_from=today), "staff.reception.bad_filter"
    return api.BookingFilters(date_from, date_to, status, settlement), None


@router.get("", response_class=HTMLResponse)
def reception_page(request: Request, runtime: RuntimeDep, staff: Reader, session: SessionDep,
                   offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> HTMLResponse:
    profile, now = runtime.profile, utcnow()
    today = service.today(profile, now)
    params = {k: v for k, v in request.query_params.items()
              if k in {"date_from", "date_to", "status", "settlement"}}
    filters, error = _filters(runtime, params, today)
    page = PageParams(limit=25, offset=offset)
    rows, total = api.list_bookings(session, profile, filters, page, now)
    days, _ = api.list_days(session, profile, api.DayFilters(date_from=today),
                            PageParams(limit=60), now)
    urgent, _ = api.list_urgent(session, UrgentStatus.open, PageParams(limit=100))
    personal = shows_personal_data(staff)
    if personal:
        api.audit_shown(session, staff, "reception.list",
                        [b.reference for b in rows] + [u.reference for u in urgent],
                        client_ip(request), detail="staff page", object_type="reception")
    query = {k: v for k, v in request.query_params.items() if k not in {"offset", "done"}}
    prev_offset = max(0, offset - page.limit) if offset else None
    next_offset = offset + page.limit if offset + page.limit < total else None
    csv_query = {k: v for k, v in {
        "date_from": filters.date_from.isoformat() if filters.date_from else None,
        "date_to": filters.date_to.isoformat() if filters.date_to else None,
        "status": filters.status.value if filters.status else None,
        "settlement": filters.settlement}.items() if v}
    done = request.query_params.get("done")
    return render(
        request, runtime, "reception.html", staff,
        days=[api.day_out(session, profile, d, now) for d in days],
        urgent=[api.urgent_out(u, personal) for u in urgent],
        bookings=[api.booking_out(b, profile, personal) for b in rows], total=total,
        personal=personal, can_write=can_write(staff.role, Capability.reception),
        error=error, params=params, filters=filters, today=today, now=now,
        statuses=[s.value for s in BookingStatus], settlements=_settlements(runtime,
                                                                             staff.language),
        defaults=profile.reception, feeds=api.own_feeds(session, staff),
        done=done if done in DONE else None,
        here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        csv_link="/api/v1/reception/bookings.csv" + (f"?{urlencode(csv_query)}"
                                                     if csv_query else ""),
        prev_link=None if prev_offset is None else "?" + urlencode({**query,
                                                                     "offset": prev_offset}),
        next_link=None if next_offset is None else "?" + urlencode({**query,
                                                                     "offset": next_offset}),
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
        return render(request, runtime, "error.html", staff, status=422,
                      detail=runtime.catalogs.gettext(staff.language,
                                                      "staff.reception.bad_week"))
    service.ensure_days(session, profile, now)
    service.expire_past(session, profile, now)
    personal = shows_personal_data(staff)
    week: list[dict[str, Any]] = []
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
            out = api.booking_out(booking, profile, personal) if booking else None
            if out:
                shown.append(out.reference)
            slots.append({"time": f"{slot.starts_at:%H:%M}", "booking": out})
        week.append({"day": api.day_out(session, profile, day, now), "slots": slots})
    if personal:
        api.audit_shown(session, staff, "reception.list", shown, client_ip(request),
                        detail=f"week of {first.isoformat()}")
    return render(request, runtime, "reception_week.html", staff, week=week, first=first,
                  last=last, prev_start=links[0].isoformat(), next_start=links[1].isoformat(),
                  personal=personal, place=profile.reception.place_in(staff.language),
                  settlements=_settlements(runtime, staff.language))


@router.get("/bookings/{reference}", response_class=HTMLResponse)
def booking_page(reference: api.ReferencePath, request: Request, runtime: RuntimeDep,
                 staff: Reader, session: SessionDep) -> HTMLResponse:
    profile, now = runtime.profile, utcnow()
    service.expire_past(session, profile, now)
    found = api.find_booking(session, reference)
    personal = shows_personal_data(staff)
    if personal:
        api.audit_shown(session, staff, "reception.view", [found.reference], client_ip(request))
    return render(request, runtime, "reception_booking.html", staff,
                  b=api.booking_out(found, profile, personal), personal=personal,
                  can_write=can_write(staff.role, Capability.reception),
                  today=service.today(profile, now), now=now,
                  settlements=_settlements(runtime, staff.language), here=request.url.path,
                  done=request.query_params.get("done") in DONE)


# --- forms -----------------------------------------------------------------------------

# The day form's fields, shared by "add a day" and "change a day".
StartField = Annotated[str | None, Form(pattern=api.HHMM)]
SlotsField = Annotated[int | None, Form(ge=1, le=service.SLOTS_MAX)]
MinutesField = Annotated[int | None, Form(ge=service.SLOT_MINUTES_MIN,
                                          le=service.SLOT_MINUTES_MAX)]


@router.post("/days")
def create_day(request: Request, runtime: RuntimeDep, staff: Writer, session: SessionDep,
               day: Annotated[date, Form()], csrf_token: Csrf = "",
               start: StartField = None, slots: SlotsField = None,
               slot_minutes: MinutesField = None,
               ) -> Response:
    check_csrf(request, runtime, csrf_token)
    api.act_create_day(session, runtime, staff, client_ip(request), day=day,
                       start=api.parse_hhmm(start), slots=slots, slot_minutes=slot_minutes)
    return _redirect(HOME, "day_created")


@router.post("/days/{day}/change")
def change_day(day: date, request: Request, runtime: RuntimeDep, staff: Writer,
               session: SessionDep, csrf_token: Csrf = "",
               start: StartField = None, slots: SlotsField = None,
               slot_minutes: MinutesField = None,
               ) -> Response:
    check_csrf(request, runtime, csrf_token)
    api.act_change_day(session, runtime, staff, client_ip(request), day=day,
                       start=api.parse_hhmm(start), slots=slots, slot_minutes=slot_minutes)
    return _redirect(HOME, "day_changed")


@router.post("/days/{day}/close")
def close_day(day: date, request: Request, runtime: RuntimeDep, staff: Writer,
              session: SessionDep, reason: Annotated[str, Form(min_length=1, max_length=200)],
              csrf_token: Csrf = "") -> Response:
    check_csrf(request, runtime, csrf_token)
    api.act_close_day(session, runtime, staff, client_ip(request), day=day, reason=reason)
    return _redirect(HOME, "day_closed")


@router.post("/days/{day}/reopen")
def reopen_day(day: date, request: Request, runtime: RuntimeDep, staff: Writer,
               session: SessionDep, csrf_token: Csrf = "") -> Response:
    check_csrf(request, runtime, csrf_token)
    api.act_reopen_day(session, runtime, staff, client_ip(request), day=day)
    return _redirect(HOME, "day_reopened")


@router.post("/bookings/{reference}/mark")
def mark(reference: api.ReferencePath, request: Request, runtime: RuntimeDep, staff: Writer,
         session: SessionDep, status: Annotated[api.MarkStatus, Form()],
         csrf_token: Csrf = "", message: Annotated[str, Form(max_length=500)] = "",
         back: Back = HOME) -> Response:
    check_csrf(request, runtime, csrf_token)
    api.act_mark(session, runtime, staff, client_ip(request), reference=reference,
                 status=status, message=message)
    return _redirect(back, "marked")


@router.post("/urgent/{reference}/handled")
def urgent_handled(reference: api.ReferencePath, request: Request, runtime: RuntimeDep,
                   staff: Writer, session: SessionDep, csrf_token: Csrf = "") -> Response:
    check_csrf(request, runtime, csrf_token)
    api.act_urgent_handled(session, staff, client_ip(request), reference=reference)
    return _redirect(HOME, "urgent_handled")


@router.post("/calendar", response_class=HTMLResponse)
def create_feed(request: Request, runtime: RuntimeDep, staff: Reader, session: SessionDep,
                csrf_token: Csrf = "") -> HTMLResponse:
    """The new feed's URL is shown once, on this answer; only its hash is kept."""
    check_csrf(request, runtime, csrf_token)
    _, token = api.act_create_feed(session, staff, client_ip(request))
    return render(request, runtime, "reception_feed.html", staff,
                  url=api.feed_url(runtime, request, token))


@router.post("/calendar/{feed_id}/revoke")
def revoke_feed(feed_id: int, request: Request, runtime: RuntimeDep, staff: Reader,
                session: SessionDep, csrf_token: Csrf = "") -> Response:
    check_csrf(request, runtime, csrf_token)
    api.act_revoke_feed(session, staff, client_ip(request), feed_id=feed_id)
    return _redirect(HOME, "feed_revoked")

