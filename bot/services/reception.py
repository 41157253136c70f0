"""The mayor's reception: days from the weekly pattern, free slots, booking,
moving, cancelling, urgent requests, closing a day, and reminders.

Two citizens never get the same slot and no citizen holds two bookings: the
database's partial unique indexes decide, not a check in Python; a lost race
surfaces here as `SlotTaken`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db import insert_for
from bot.i18n import Catalogs, Translate, format_date, format_time
from bot.messages import Button, Reply
from bot.models import (
    Booking,
    BookingStatus,
    ChannelAccount,
    Citizen,
    ReceptionDay,
    UrgentRequest,
    UrgentStatus,
    next_reference,
)
from bot.models.staff import Role
from bot.outbox.queue import Purpose
from bot.profile import Profile
from bot.refusals import Conflict, Invalid
from bot.services.notify import alert_officers, tell_citizen
from bot.services.phones import normalize_phone
from bot.services.sms import CHANNEL as SMS_CHANNEL
from bot.services.sms import is_active as sms_active
from bot.services.sms import sms_account

TOPIC_MIN, TOPIC_MAX = 10, 1000


class SlotTaken(Conflict):
    """Another citizen got the slot first."""

    def __init__(self) -> None:
        super().__init__("slot_taken", "another citizen got this slot first")


class AlreadyBooked(Conflict):
    """A citizen has at most one upcoming booking (`reference`: that one,
    told to staff, who may move it instead)."""

    def __init__(self, reference: str | None = None) -> None:
        extra = {"reference": reference} if reference is not None else {}
        super().__init__("already_booked", "there is an upcoming booking already"
                         + (f": {reference}" if reference else ""), **extra)
        self.reference = reference


class DayUnavailable(Conflict):
    """The day closed, or the slot has passed, since the citizen saw it."""

    def __init__(self) -> None:
        super().__init__("day_unavailable", "the day or the slot is no longer available")


@dataclass(frozen=True)
class Slot:
    index: int
    starts_at: datetime  # aware, in the municipality's time zone


def today(profile: Profile, now: datetime) -> date:
    return now.astimezone(profile.tz).date()


def ensure_days(session: Session, profile: Profile, now: datetime) -> None:
    """Make the pattern's days for the bookable weeks (idempotent, race-free);
    a Kosovo public holiday is made closed, with its name as the reason."""
    pattern = profile.reception
    start = today(profile, now)
    for offset in range(pattern.weeks_ahead * 7 + 1):
        day = start + timedelta(days=offset)
        if day.weekday() != pattern.weekday:
            continue
        holiday = profile.holiday_name(day)
        session.execute(
            insert_for(session)(ReceptionDay)
            .values(day=day, start=pattern.start, slots=pattern.slots,
                    slot_minutes=pattern.slot_minutes, closed=holiday is not None,
                    closed_reason=holiday, created_at=now)
            .on_conflict_do_nothing(index_elements=["day"])
        )


def slots_of(day: ReceptionDay, tz: ZoneInfo) -> list[Slot]:
    first = datetime.combine(day.day, day.start, tzinfo=tz)
    return [Slot(i, first + timedelta(minutes=i * day.slot_minutes)) for i in range(day.slots)]


def taken_slots(session: Session, day_id: int) -> set[int]:
    return set(session.scalars(select(Booking.slot_index).where(
        Booking.day_id == day_id, Booking.status == BookingStatus.booked)))


def free_slots(session: Session, profile: Profile, day: ReceptionDay,
               now: datetime) -> list[Slot]:
    if day.closed:
        return []
    taken = taken_slots(session, day.id)
    return [s for s in slots_of(day, profile.tz) if s.index not in taken and s.starts_at > now]


def bookable_days(session: Session, profile: Profile,
                  now: datetime) -> list[tuple[ReceptionDay, int]]:
    """Open days in the bookable weeks that still have room, with their free count."""
    ensure_days(session, profile, now)
    first = today(profile, now)
    last = first + timedelta(days=profile.reception.weeks_ahead * 7)
    days = session.scalars(select(ReceptionDay).where(
        ReceptionDay.day >= first, ReceptionDay.day <= last,
        ReceptionDay.closed.is_(False)).order_by(ReceptionDay.day)).all()
    result = []
    for day in days:
        free = len(free_slots(session, profile, day, now))
        if free:
            result.append((day, free))
    return result


def upcoming_booking(session: Session, citizen_id: int) -> Booking | None:
    return session.scalar(select(Booking).where(
        Booking.citizen_id == citizen_id, Booking.status == BookingStatus.booked))


def expire_past(session: Session, profile: Profile, now: datetime,
                citizen_id: int | None = None) -> int:
    """Bookings whose day has ended become `past` (still markable by staff), so
    they neither block the citizen's next booking nor look upcoming."""
    day_ended = now - timedelta(hours=12)
    stmt = update(Booking).where(Booking.status == BookingStatus.booked,
                                 Booking.starts_at < day_ended)
    if citizen_id is not None:
        stmt = stmt.where(Booking.citizen_id == citizen_id)
    return int(session.execute(stmt.values(status=BookingStatus.past)).rowcount)  # type: ignore[attr-defined]


def _check_slot(session: Session, profile: Profile, day_id: int, slot_index: int,
                now: datetime) -> tuple[ReceptionDay, Slot]:
    day = session.get(ReceptionDay, day_id)
    if day is None or day.closed:
        raise DayUnavailable
    slots = {s.index: s for s in slots_of(day, profile.tz)}
    slot = slots.get(slot_index)
    if slot is None or slot.starts_at <= now:
        raise DayUnavailable
    return day, slot


def book(session: Session, profile: Profile, *, citizen: Citizen,
         account: ChannelAccount | None, day_id: int, slot_index: int, topic: str,
         full_name: str | None, phone: str, settlement: str | None, now: datetime,
         booked_by: str | None = None, booked_via: str | None = None) -> Booking:
    """Book a slot; raises SlotTaken when another citizen got it first. No
    `account` (an officer booked for a citizen with no chat and no SMS):
    nobody is messaged about it."""
    expire_past(session, profile, now, citizen.id)
    day, slot = _check_slot(session, profile, day_id, slot_index, now)
    existing = upcoming_booking(session, citizen.id)
    if existing is not None:
        raise AlreadyBooked(existing.reference)
    booking = Booking(
        reference=next_reference(session, "R", now, profile.tz), day_id=day.id,
        slot_index=slot.index, starts_at=slot.starts_at, citizen_id=citizen.id,
        account_id=account.id if account is not None else None, topic=topic,
        full_name=full_name, phone=phone, settlement=settlement,
        status=BookingStatus.booked, created_at=now, booked_by=booked_by,
        booked_via=booked_via,
    )
    try:
        with session.begin_nested():
            session.add(booking)
            session.flush()
    except IntegrityError as exc:
        raise SlotTaken from exc
    return booking


STAFF_SOURCES = ("counter", "phone")  # the citizen stood at the counter, or called


def _latest_chat(session: Session, citizen_id: int) -> ChannelAccount | None:
    """The citizen's chat (Telegram, Viber…) they wrote from last, not blocked."""
    return session.scalar(select(ChannelAccount).where(
        ChannelAccount.citizen_id == citizen_id, ChannelAccount.channel != SMS_CHANNEL,
        ChannelAccount.blocked_at.is_(None))
        .order_by(ChannelAccount.last_inbound_at.desc().nulls_last(),
                  ChannelAccount.id.desc()).limit(1))


def citizen_by_phone(session: Session, phone: str, *, full_name: str | None,
                     settlement: str | None, language: str | None,
                     now: datetime) -> tuple[Citizen, ChannelAccount | None]:
    """Who a number (E.164) belongs to, and where to tell them: the citizen
    registered for SMS with it (told by SMS; after STOP on their chat, if they
    have one, else nowhere); else the citizen who gave it in the chat (told on
    the chat they used last); else a new citizen with no channel (told by
    nobody: the officer tells them). What the officer wrote fills in what the
    citizen had not given; it replaces nothing."""
    found: tuple[Citizen, ChannelAccount | None] | None = None
    account = sms_account(session, phone)
    owner = session.get(Citizen, account.citizen_id) if account is not None else None
    if account is not None and owner is not None and owner.erased_at is None:
        if not sms_active(session, account):
            account = _latest_chat(session, owner.id) or account
        found = owner, account
    if found is None:
        owner = session.scalar(select(Citizen).where(
            Citizen.phone == phone, Citizen.erased_at.is_(None))
            .order_by(Citizen.last_seen_at.desc().nulls_last(), Citizen.id.desc()).limit(1))
        if owner is not None:
            found = owner, _latest_chat(session, owner.id)
    if found is None:
        citizen = Citizen(phone=phone, created_at=now, last_seen_at=now)
        session.add(citizen)
        found = citizen, None
    citizen = found[0]
    citizen.full_name = citizen.full_name or full_name
    citizen.settlement = citizen.settlement or settlement
    citizen.language = citizen.language or language
    session.flush()
    return found


def book_for_citizen(session: Session, profile: Profile, catalogs: Catalogs, *, phone: str,
                     day_id: int, slot_index: int, topic: str, full_name: str | None,
                     settlement: str | None, language: str | None, by: str, via: str,
                     now: datetime) -> Booking:
    """An officer books a slot for a citizen found by their phone number
    (see `citizen_by_phone`), with the same rules as the citizen's own
    booking; the citizen is told where they can be (by SMS: the short form).
    `Invalid` for a number that is not one."""
    number = normalize_phone(phone)
    if number is None:
        raise Invalid("invalid_phone", "This is not a phone number.", "phone")
    _check_slot(session, profile, day_id, slot_index, now)  # before a new citizen is made
    citizen, account = citizen_by_phone(session, number, full_name=full_name,
                                        settlement=settlement, language=language, now=now)
    booking = book(session, profile, citizen=citizen, account=account, day_id=day_id,
                   slot_index=slot_index, topic=topic, full_name=full_name or citizen.full_name,
                   phone=number, settlement=settlement or citizen.settlement, now=now,
                   booked_by=by[:64], booked_via=via)
    tell_about(session, profile, catalogs, booking, "reception.booked", now=now,
               purpose=Purpose.booking_made, sms_key="sms.booked")
    return booking


def move(session: Session, profile: Profile, booking: Booking, *, day_id: int,
         slot_index: int, now: datetime) -> Booking:
    day, slot = _check_slot(session, profile, day_id, slot_index, now)
    try:
        with session.begin_nested():
            booking.day_id, booking.slot_index, booking.starts_at = day.id, slot.index, (
                slot.starts_at)
            booking.moved_at = now
            session.flush()
    except IntegrityError as exc:
        session.refresh(booking)
        raise SlotTaken from exc
    return booking


def cancel(booking: Booking, *, by: str, now: datetime, reason: str | None = None) -> None:
    booking.status = BookingStatus.cancelled
    booking.cancelled_at, booking.cancelled_by, booking.cancel_reason = now, by, reason


def create_urgent(session: Session, profile: Profile, catalogs: Catalogs, *, citizen: Citizen,
                  account: ChannelAccount, topic: str, phone: str, full_name: str | None,
                  now: datetime) -> UrgentRequest:
    """An urgent request takes no slot: the Office of the Mayor is alerted at once."""
    request = UrgentRequest(
        reference=next_reference(session, "R", now, profile.tz), citizen_id=citizen.id,
        account_id=account.id, topic=topic, phone=phone, full_name=full_name, created_at=now)
    session.add(request)
    session.flush()
    alert_officers(
        session, profile, catalogs, roles=(Role.mayor_office,),
        message=lambda t: Reply(t("reception.urgent_alert", reference=request.reference,
                                  topic=topic, phone=phone, name=request.full_name or "—")),
        purpose=Purpose.urgent_alert,
    )
    return request


# --- messages the bot starts ------------------------------------------------

def when(profile: Profile, booking: Booking, locale: str) -> tuple[str, str]:
    local = booking.starts_at.astimezone(profile.tz)
    return format_date(local, locale, long=True), format_time(local)


def tell_about(session: Session, profile: Profile, catalogs: Catalogs, booking: Booking,
               key: str, *, now: datetime, purpose: Purpose, offer_new: bool = False,
               dedupe_key: str | None = None, brief_key: str | None = None,
               sms_key: str | None = None, **params: object) -> None:
    """Tell the booking's citizen something, in their language, on their chat:
    with "book again" when the booking is gone, else with "cancel". A
    reminder that has to wait is listed under `brief_key` in the summary, and
    is out of date once the appointment begins. With `sms_key`, a citizen
    reached by SMS gets that short text instead (no buttons by SMS)."""
    def message(t: Translate, locale: str) -> Reply:
        day, at = when(profile, booking, locale)
        text = t(key, reference=booking.reference, day=day, time=at,
                 place=profile.reception.place_in(locale), **params)
        buttons = []
        if offer_new:
            buttons.append([Button(t("reception.book_again"), "menu:reception")])
        elif booking.status is BookingStatus.booked:
            buttons.append([Button(t("reception.cancel_booking"),
                                   f"rsv:cancel:{booking.reference}")])
        return Reply(text, buttons)

    def brief(t: Translate, locale: str) -> str:
        day, at = when(profile, booking, locale)
        return t(brief_key or key, reference=booking.reference, day=day, time=at,
                 place=profile.reception.place_in(locale), **params)

    def by_sms(t: Translate, locale: str) -> Reply:
        day, at = when(profile, booking, locale)
        return Reply(t(sms_key or "", municipality=profile.municipality_name(locale),
                       reference=booking.reference, day=day, time=at,
                       place=profile.reception.place_in(locale),
                       phone=profile.localized_contact("phone", locale), **params))

    tell_citizen(session, profile, catalogs, citizen_id=booking.citizen_id,
                 account_id=booking.account_id, message=message, now=now,
                 dedupe_key=dedupe_key, purpose=purpose,
                 brief=brief if brief_key else None, stale_at=booking.starts_at,
                 sms=by_sms if sms_key else None)


def close_day(session: Session, profile: Profile, catalogs: Catalogs, day: ReceptionDay, *,
              reason: str, now: datetime) -> list[Booking]:
    """Close a day; its booked citizens are told and offered another time."""
    day.closed, day.closed_reason = True, reason
    bookings = session.scalars(select(Booking).where(
        Booking.day_id == day.id, Booking.status == BookingStatus.booked)).all()
    for booking in bookings:
        cancel(booking, by="closed", now=now, reason=reason)
        tell_about(session, profile, catalogs, booking, "reception.day_closed_notice",
                   now=now, purpose=Purpose.booking_cancelled, offer_new=True, reason=reason,
                   sms_key="sms.booking_day_closed")
    return list(bookings)


def send_reminders(session: Session, profile: Profile, catalogs: Catalogs,
                   now: datetime) -> int:
    """The day before, from the profile's hour on: one reminder per booking,
    ever (the outbox's unique key survives restarts and repeated runs)."""
    local = now.astimezone(profile.tz)
    if local.hour < profile.reception.reminder_hour:
        return 0
    tomorrow = local.date() + timedelta(days=1)
    start = datetime.combine(tomorrow, datetime.min.time(), tzinfo=profile.tz)
    due = session.scalars(select(Booking).where(
        Booking.status == BookingStatus.booked, Booking.starts_at >= start,
        Booking.starts_at < start + timedelta(days=1))).all()
    for booking in due:
        tell_about(session, profile, catalogs, booking, "reception.reminder", now=now,
                   purpose=Purpose.reminder, dedupe_key=f"reception-reminder:{booking.id}",
                   brief_key="away.reminder", sms_key="sms.reminder")
    return len(due)


def count_booked(session: Session, day_id: int) -> int:
    return int(session.scalar(select(func.count()).select_from(Booking).where(
        Booking.day_id == day_id, Booking.status == BookingStatus.booked)) or 0)


# --- staff changes (through bot.staff.reception: admin API and staff pages) ---------

DAY_MAX_AHEAD = 730  # days: beyond that a date is a typo (2062 for 2026), not a plan
SLOTS_MAX = 60
SLOT_MINUTES_MIN, SLOT_MINUTES_MAX = 5, 240
MARKS = (BookingStatus.attended, BookingStatus.no_show, BookingStatus.cancelled)


def _check_not_past(profile: Profile, day: date, now: datetime) -> None:
    """A new day's date in the past is wrong input."""
    if day < today(profile, now):
        raise Invalid("day_in_past", f"{day.isoformat()} is in the past")


def _check_not_gone_by(profile: Profile, day: ReceptionDay, now: datetime) -> None:
    """A day that has gone by is history: its state, not the input, refuses a change."""
    if day.day < today(profile, now):
        raise Conflict("day_in_past", f"{day.day.isoformat()} is in the past")


def _check_shape(start: time, slots: int, slot_minutes: int) -> None:
    """Every slot ends on its own day: a reception does not run past midnight."""
    if not (1 <= slots <= SLOTS_MAX and SLOT_MINUTES_MIN <= slot_minutes <= SLOT_MINUTES_MAX):
        raise Invalid("invalid_slots", f"1–{SLOTS_MAX} slots of {SLOT_MINUTES_MIN}–"
                                       f"{SLOT_MINUTES_MAX} minutes")
    end = start.hour * 60 + start.minute + slots * slot_minutes
    if end > 24 * 60:
        raise Invalid("day_too_long",
                      f"{slots} slots of {slot_minutes} minutes from {start:%H:%M} would "
                      "run past midnight")


def active_bookings(session: Session, day_id: int) -> list[Booking]:
    return list(session.scalars(select(Booking).where(
        Booking.day_id == day_id, Booking.status == BookingStatus.booked
    ).order_by(Booking.slot_index)))


def create_day(session: Session, profile: Profile, *, day: date, start: time | None = None,
               slots: int | None = None, slot_minutes: int | None = None,
               now: datetime) -> ReceptionDay:
    """A reception day staff add (an extra day, or one the pattern does not
    make); what is not given comes from the profile's weekly pattern."""
    pattern = profile.reception
    start = pattern.start if start is None else start
    slots = pattern.slots if slots is None else slots
    slot_minutes = pattern.slot_minutes if slot_minutes is None else slot_minutes
    _check_not_past(profile, day, now)
    if day > today(profile, now) + timedelta(days=DAY_MAX_AHEAD):
        raise Invalid("day_too_far",
                      f"{day.isoformat()} is more than {DAY_MAX_AHEAD} days ahead")
    _check_shape(start, slots, slot_minutes)
    exists = Conflict("day_exists", f"there is already a reception day on {day.isoformat()}")
    if session.scalar(select(ReceptionDay.id).where(ReceptionDay.day == day)) is not None:
        raise exists
    row = ReceptionDay(day=day, start=start, slots=slots, slot_minutes=slot_minutes,
                       closed=False, created_at=now)
    try:
        with session.begin_nested():  # the timer may make the same day at this moment
            session.add(row)
            session.flush()
    except IntegrityError as err:
        raise exists from err
    return row


def change_day(session: Session, profile: Profile, day: ReceptionDay, *,
               start: time | None = None, slots: int | None = None,
               slot_minutes: int | None = None, now: datetime) -> bool:
    """Change a day's hours or slot count; False when nothing changed.

    Booked citizens keep the time they were told: with bookings, the start
    and slot length stay, and the day cannot lose a booked slot."""
    _check_not_gone_by(profile, day, now)
    new_start = day.start if start is None else start
    new_slots = day.slots if slots is None else slots
    new_minutes = day.slot_minutes if slot_minutes is None else slot_minutes
    _check_shape(new_start, new_slots, new_minutes)
    if (new_start, new_slots, new_minutes) == (day.start, day.slots, day.slot_minutes):
        return False
    booked = active_bookings(session, day.id)
    if booked and (new_start, new_minutes) != (day.start, day.slot_minutes):
        raise Conflict("day_has_bookings",
                       f"{len(booked)} citizen(s) booked on {day.day.isoformat()}: their "
                       "times cannot move; change only the number of slots, or close the "
                       "day")
    if booked and new_slots <= booked[-1].slot_index:
        last = booked[-1]
        at = last.starts_at.astimezone(profile.tz)
        raise Conflict("day_below_bookings",
                       f"{last.reference} is booked at {at:%H:%M} (slot "
                       f"{last.slot_index + 1}): the day needs at least "
                       f"{last.slot_index + 1} slots")
    day.start, day.slots, day.slot_minutes = new_start, new_slots, new_minutes
    return True


def check_closable(profile: Profile, day: ReceptionDay, now: datetime) -> None:
    _check_not_gone_by(profile, day, now)
    if day.closed:
        raise Conflict("day_closed", f"{day.day.isoformat()} is closed already")


def reopen_day(profile: Profile, day: ReceptionDay, now: datetime) -> None:
    """Open a closed day again; its cancelled bookings stay cancelled (those
    citizens were told and may book again)."""
    _check_not_gone_by(profile, day, now)
    if not day.closed:
        raise Conflict("day_open", f"{day.day.isoformat()} is open")
    day.closed, day.closed_reason = False, None


SMS_MESSAGE_MAX = 100  # an officer's message longer than this: "call us" instead


def short_enough(message: str | None) -> bool:
    """Whether the officer's cancelling message fits in the SMS."""
    return bool(message) and len(message or "") <= SMS_MESSAGE_MAX


def mark_booking(session: Session, profile: Profile, catalogs: Catalogs, booking: Booking,
                 status: BookingStatus, *, by: str, now: datetime,
                 message: str | None = None) -> None:
    """Staff mark a booking attended or no-show (from its day on), or cancel
    it before it begins (the citizen is told, with the officer's message, and
    offered another time)."""
    if status not in MARKS:
        raise Invalid("invalid_status", f"staff mark {', '.join(MARKS)}")
    if booking.status is status:
        raise Conflict("unchanged", f"{booking.reference} is {status.value} already")
    if status is BookingStatus.cancelled:
        if booking.status is not BookingStatus.booked:
            raise Conflict("not_cancellable",
                           f"{booking.reference} is {booking.status.value}: only a booked "
                           "appointment can be cancelled")
        if booking.starts_at <= now:
            raise Conflict("booking_started",
                           f"{booking.reference} has begun or gone by: mark it attended or "
                           "no-show instead")
        cancel(booking, by="staff", now=now, reason=message or None)
        tell_about(session, profile, catalogs, booking, "reception.staff_cancelled",
                   now=now, purpose=Purpose.booking_cancelled, offer_new=True,
                   message=message or "",
                   sms_key="sms.booking_cancelled_because" if short_enough(message)
                   else "sms.booking_cancelled")
    else:
        if booking.status is BookingStatus.cancelled:
            raise Conflict("booking_cancelled", f"{booking.reference} was cancelled")
        if booking.starts_at.astimezone(profile.tz).date() > today(profile, now):
            raise Conflict("booking_in_future",
                           f"{booking.reference} is on a later day: mark it on the day")
        booking.status = status
    booking.marked_at, booking.marked_by = now, by[:64]


def move_options(session: Session, profile: Profile, now: datetime,
                 limit: int = 60) -> list[tuple[ReceptionDay, list[Slot]]]:
    """The open reception days from today on (the weekly pattern's and any
    staff added) with their free slots, where staff may move a booking."""
    ensure_days(session, profile, now)
    days = session.scalars(select(ReceptionDay).where(
        ReceptionDay.day >= today(profile, now), ReceptionDay.closed.is_(False))
        .order_by(ReceptionDay.day).limit(limit)).all()
    options = [(day, free_slots(session, profile, day, now)) for day in days]
    return [(day, free) for day, free in options if free]


def staff_move(session: Session, profile: Profile, catalogs: Catalogs, booking: Booking, *,
               day_id: int, slot_index: int, now: datetime) -> Booking:
    """Staff move a booked appointment that has not begun to another free
    slot; its old slot is free again at once and the citizen is told, in
    their language. The slot's unique index decides a race (`SlotTaken`)."""
    if booking.status is not BookingStatus.booked:
        raise Conflict("not_movable", f"{booking.reference} is {booking.status.value}: only "
                                      "a booked appointment can be moved")
    if booking.starts_at <= now:
        raise Conflict("booking_started", f"{booking.reference} has begun or gone by")
    if (booking.day_id, booking.slot_index) == (day_id, slot_index):
        raise Conflict("unchanged", f"{booking.reference} is at that time already")
    move(session, profile, booking, day_id=day_id, slot_index=slot_index, now=now)
    tell_about(session, profile, catalogs, booking, "reception.staff_moved", now=now,
               purpose=Purpose.booking_moved, sms_key="sms.booking_moved")
    return booking


def mark_urgent_handled(request: UrgentRequest, *, by: str, now: datetime) -> None:
    if request.status is UrgentStatus.handled:
        raise Conflict("already_handled", f"{request.reference} was handled already")
    request.status, request.handled_at, request.handled_by = UrgentStatus.handled, now, by[:64]
