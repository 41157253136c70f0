"""Staff changes to the reception: each does the change (by the rules of
`bot.services.reception`) and writes its audit entry, with the before and
after, together — for the API and the pages alike. A refusal is the
service's `Invalid`/`Conflict`, or `NotFound` for an unknown day, booking or
urgent request."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any, Literal

from sqlalchemy.orm import Session

from bot.i18n import Catalogs
from bot.models import Booking, BookingStatus, ReceptionDay, UrgentRequest, UrgentStatus
from bot.models.staff import StaffUser
from bot.profile import Profile
from bot.services import reception as service
from bot.staff import audit
from bot.staff.reception.views import find_booking, find_day, find_urgent
from bot.staff.text import clean

HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
MarkStatus = Literal["attended", "no_show", "cancelled"]


def parse_hhmm(value: str | None) -> time | None:
    """A local time given as HH:MM (the API and the forms check the pattern first)."""
    return None if value is None else time(int(value[:2]), int(value[3:5]))


def day_snapshot(day: ReceptionDay) -> dict[str, Any]:
    return {"day": day.day.isoformat(), "start": f"{day.start:%H:%M}", "slots": day.slots,
            "slot_minutes": day.slot_minutes, "closed": day.closed,
            "closed_reason": day.closed_reason}


def create_day(session: Session, profile: Profile, staff: StaffUser, ip: str | None, *,
               day: date, start: time | None, slots: int | None, slot_minutes: int | None,
               now: datetime) -> ReceptionDay:
    """Add a reception day; what is not given comes from the weekly pattern."""
    row = service.create_day(session, profile, day=day, start=start, slots=slots,
                             slot_minutes=slot_minutes, now=now)
    audit.record(session, staff, "reception.day.create", object_type="reception_day",
                 object_id=day.isoformat(), after=day_snapshot(row), ip=ip)
    return row


def change_day(session: Session, profile: Profile, staff: StaffUser, ip: str | None, *,
               day: date, start: time | None, slots: int | None, slot_minutes: int | None,
               now: datetime) -> ReceptionDay:
    """Change a day's start, slot count or slot length; audited only when it changed."""
    row = find_day(session, day)
    before = day_snapshot(row)
    changed = service.change_day(session, profile, row, start=start, slots=slots,
                                 slot_minutes=slot_minutes, now=now)
    if changed:
        audit.record(session, staff, "reception.day.update", object_type="reception_day",
                     object_id=day.isoformat(), before=before, after=day_snapshot(row), ip=ip)
    return row


def close_day(session: Session, profile: Profile, catalogs: Catalogs, staff: StaffUser,
              ip: str | None, *, day: date, reason: str,
              now: datetime) -> tuple[ReceptionDay, list[Booking]]:
    """Close a day: its booked citizens are told, in their language, and
    offered another time."""
    row = find_day(session, day)
    service.check_closable(profile, row, now)
    before = day_snapshot(row)
    cancelled = service.close_day(session, profile, catalogs, row,
                                  reason=clean(reason) or "—", now=now)
    audit.record(session, staff, "reception.day.close", object_type="reception_day",
                 object_id=day.isoformat(), before=before,
                 after={**day_snapshot(row), "cancelled": [b.reference for b in cancelled]},
                 ip=ip)
    return row, cancelled


def reopen_day(session: Session, profile: Profile, staff: StaffUser, ip: str | None, *,
               day: date, now: datetime) -> ReceptionDay:
    """Open a closed day again (cancelled bookings stay cancelled)."""
    row = find_day(session, day)
    before = day_snapshot(row)
    service.reopen_day(profile, row, now)
    audit.record(session, staff, "reception.day.update", object_type="reception_day",
                 object_id=day.isoformat(), before=before, after=day_snapshot(row), ip=ip)
    return row


def mark(session: Session, profile: Profile, catalogs: Catalogs, staff: StaffUser,
         ip: str | None, *, reference: str, status: str, message: str | None,
         now: datetime) -> Booking:
    """Mark a booking attended or no-show, or cancel it (the citizen is told,
    with the officer's message)."""
    booking = find_booking(session, reference)
    before = {"status": booking.status.value}
    text = clean(message) if status == BookingStatus.cancelled else ""
    service.mark_booking(session, profile, catalogs, booking, BookingStatus(status),
                         by=staff.username, now=now, message=text or None)
    after: dict[str, Any] = {"status": booking.status.value}
    if text:
        after["message"] = text
    audit.record(session, staff, "reception.booking.mark", object_type="reception_booking",
                 object_id=reference, before=before, after=after, ip=ip)
    return booking


def move(session: Session, profile: Profile, catalogs: Catalogs, staff: StaffUser,
         ip: str | None, *, reference: str, day: date, slot_index: int,
         now: datetime) -> Booking:
    """Move a booking to another free time: the old slot is freed and the
    citizen told in their language. Refused: an unknown or closed day, a slot
    that does not exist or has passed (`day_unavailable`), a slot another
    citizen holds (`slot_taken`), a booking not booked or begun (409)."""
    booking = find_booking(session, reference)
    # Two officers moving the same booking at once: the second waits and
    # sees the first's move (PostgreSQL; SQLite writes one at a time anyway).
    session.refresh(booking, with_for_update=True)
    target = find_day(session, day)
    before = {"day": booking.starts_at.astimezone(profile.tz).date().isoformat(),
              "time": f"{booking.starts_at.astimezone(profile.tz):%H:%M}",
              "slot_index": booking.slot_index}
    service.staff_move(session, profile, catalogs, booking, day_id=target.id,
                       slot_index=slot_index, now=now)
    local = booking.starts_at.astimezone(profile.tz)
    audit.record(session, staff, "reception.booking.move", object_type="reception_booking",
                 object_id=reference, before=before,
                 after={"day": local.date().isoformat(), "time": f"{local:%H:%M}",
                        "slot_index": booking.slot_index}, ip=ip)
    return booking


def urgent_handled(session: Session, staff: StaffUser, ip: str | None, *, reference: str,
                   now: datetime) -> UrgentRequest:
    """An officer called the citizen back."""
    request = find_urgent(session, reference)
    service.mark_urgent_handled(request, by=staff.username, now=now)
    audit.record(session, staff, "reception.urgent.handled", object_type="reception_urgent",
                 object_id=reference, before={"status": UrgentStatus.open.value},
                 after={"status": UrgentStatus.handled.value}, ip=ip)
    return request
