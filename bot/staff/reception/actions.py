"""Staff changes to the reception: each does the change (by the rules of
`bot.services.reception`) and writes its audit entry, with the before and
after, together — for the API and the pages alike. A refusal is the
service's `Invalid`/`Conflict`, or `NotFound` for an unknown day, booking or
urgent request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.i18n import Catalogs
from bot.models import (
    Booking,
    BookingStatus,
    ChannelAccount,
    ReceptionDay,
    UrgentRequest,
    UrgentStatus,
)
from bot.models.staff import StaffUser
from bot.profile import Profile
from bot.refusals import Invalid
from bot.services import reception as service
from bot.staff import audit
from bot.staff.reception.views import find_booking, find_day, find_urgent
from bot.staff.text import clean, tidy

HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
MarkStatus = Literal["attended", "no_show", "cancelled"]
Source = Literal["counter", "phone"]
NAME_MAX = 200


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


@dataclass(frozen=True)
class ForCitizen:
    """What the officer wrote down with a citizen who asked at the counter or
    on the phone for a reception slot (empty strings: not given)."""

    day: date
    slot_index: int
    phone: str
    topic: str
    full_name: str = ""
    settlement: str = ""
    language: str = ""
    source: str = "counter"


def _field_error(code: str, detail: str, field: str) -> Invalid:
    return Invalid(code, detail, field, errors=[{"loc": ["body", field], "msg": detail}])


def _checked(profile: Profile, form: ForCitizen) -> tuple[str, str | None, str | None, str | None]:
    """The topic, name, settlement and language as stored, or `Invalid`
    naming the field to fix (the phone is the service's to check)."""
    topic, name = tidy(form.topic), clean(form.full_name)
    if not topic:
        raise _field_error("invalid_topic", "what the citizen wants to talk about", "topic")
    if len(topic) > service.TOPIC_MAX:
        raise _field_error("invalid_topic", f"at most {service.TOPIC_MAX} characters", "topic")
    if len(name) > NAME_MAX:
        raise _field_error("invalid_name", f"at most {NAME_MAX} characters", "full_name")
    if form.settlement and form.settlement not in profile.settlement_codes():
        raise _field_error("unknown_settlement", f"no settlement {form.settlement[:32]!r}",
                           "settlement")
    if form.language and form.language not in profile.enabled_locales:
        raise _field_error("unknown_language", f"no language {form.language[:16]!r}",
                           "language")
    if form.source not in service.STAFF_SOURCES:
        raise _field_error("invalid_source", "counter or phone", "source")
    return topic, name or None, form.settlement or None, form.language or None


def reached_by(session: Session, booking: Booking) -> str:
    """Where the citizen of a booking is told: "sms", "chat", or "none"."""
    if booking.account_id is None:
        return "none"
    account = session.get(ChannelAccount, booking.account_id)
    return "none" if account is None else "sms" if account.channel == "sms" else "chat"


def book_for_citizen(session: Session, profile: Profile, catalogs: Catalogs, staff: StaffUser,
                     ip: str | None, form: ForCitizen, *, now: datetime) -> Booking:
    """Book a free slot for a citizen found by their phone (registered for
    SMS, known from the chat, or new), told by SMS or on their chat where
    they can be. Refused: a number that is not one, an unknown settlement
    or language (422); a slot taken (`slot_taken`), a closed, unknown or
    past day or slot (`day_unavailable`), a citizen with an upcoming
    booking (`already_booked`, with its reference) (409)."""
    topic, name, settlement, language = _checked(profile, form)
    service.ensure_days(session, profile, now)
    day_id = session.scalar(select(ReceptionDay.id).where(ReceptionDay.day == form.day))
    if day_id is None:
        raise service.DayUnavailable
    booking = service.book_for_citizen(
        session, profile, catalogs, phone=form.phone, day_id=day_id,
        slot_index=form.slot_index, topic=topic, full_name=name, settlement=settlement,
        language=language, by=staff.username, via=form.source, now=now)
    local = booking.starts_at.astimezone(profile.tz)
    audit.record(session, staff, "reception.booking.create", object_type="reception_booking",
                 object_id=booking.reference, before=None,
                 after={"reference": booking.reference, "day": local.date().isoformat(),
                        "time": f"{local:%H:%M}", "source": form.source,
                        "told": reached_by(session, booking)}, ip=ip)
    return booking
