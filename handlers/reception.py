"""The mayor's weekly reception by chat (SPEC §3.2): book a regular
appointment, move or cancel it, or raise an urgent matter that takes no slot
and alerts the Office of the Mayor at once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from sqlalchemy.orm import Session

from bot.engine.context import Context
from bot.engine.fsm import State, StatesGroup
from bot.engine.router import Router, StatusLine
from bot.i18n import Catalogs, format_date, format_day_short, format_time
from bot.messages import Button, Kind, fit_label
from bot.models import Booking, BookingStatus, ReceptionDay
from bot.profile import ABROAD, Profile
from bot.services import reception as service
from bot.services import voice
from bot.services.phones import normalize_phone
from handlers import sms_match

router = Router("reception")
NAME_MIN, NAME_MAX = 2, 100


class Appointment(StatesGroup):
    kind = State()
    day = State()
    time = State()
    topic = State()
    name = State()
    phone = State()
    settlement = State()
    confirm = State()


class Urgent(StatesGroup):
    topic = State()
    phone = State()
    confirm = State()


def _rows(buttons: list[Button], width: int) -> list[list[Button]]:
    return [buttons[i : i + width] for i in range(0, len(buttons), width)]


# --- entry --------------------------------------------------------------------

@router.command("reception")
@router.menu_item("reception", "menu.reception", order=10)
def reception(ctx: Context) -> None:
    ctx.clear()
    service.expire_past(ctx.session, ctx.profile, ctx.now, ctx.citizen.id)
    booking = service.upcoming_booking(ctx.session, ctx.citizen.id)
    if booking is not None:
        show_existing(ctx, booking)
        return
    ctx.set_state(Appointment.kind)
    ask_kind(ctx)


def show_existing(ctx: Context, booking: Booking) -> None:
    day, at = service.when(ctx.profile, booking, ctx.locale)
    ctx.reply(
        ctx.t("reception.existing", reference=booking.reference, day=day, time=at,
              place=ctx.profile.reception.place_in(ctx.locale)),
        [[Button(ctx.t("reception.move_booking"), f"rsv:move:{booking.reference}")],
         [Button(ctx.t("reception.cancel_booking"), f"rsv:cancel:{booking.reference}")],
         ctx.menu_row()],
    )


@router.prompt(Appointment.kind)
def ask_kind(ctx: Context) -> None:
    ctx.reply(ctx.t("reception.choose_kind"), [
        [Button(ctx.t("reception.kind_regular"), "rk:regular"),
         Button(ctx.t("reception.kind_urgent"), "rk:urgent")],
        ctx.nav_row(back=False),
    ])


@router.state(Appointment.kind, accepts={Kind.button})
def on_kind(ctx: Context) -> None:
    choice = ctx.payload("rk")
    if choice == "regular":
        ask_day(ctx)
    elif choice == "urgent":
        ctx.set_state(Urgent.topic)
        ask_urgent_topic(ctx)
    else:
        ctx.again()


# --- regular appointment ---------------------------------------------------------

@router.prompt(Appointment.day)
def ask_day(ctx: Context) -> None:
    days = service.bookable_days(ctx.session, ctx.profile, ctx.now)
    if not days:
        ctx.clear()
        ctx.reply(ctx.tn("reception.no_days", ctx.profile.reception.weeks_ahead,
                         phone=_mayor_phone(ctx.profile)), [ctx.menu_row()])
        return
    ctx.set_state(Appointment.day)
    buttons = [Button(day_label(ctx.tn, ctx.locale, day.day, free), f"rday:{day.id}")
               for day, free in days]
    ctx.reply(ctx.t("reception.choose_day"), [*_rows(buttons, 1), ctx.nav_row()])


def day_label(tn: Callable[..., str], locale: str, day: date, free: int) -> str:
    """A reception day on a button: `Wed 2 Dec · 15 free` (the long date is in
    the next message)."""
    return tn("reception.day_button", free, day=format_day_short(day, locale))


@router.state(Appointment.day, accepts={Kind.button})
def on_day(ctx: Context) -> None:
    chosen = ctx.payload("rday")
    days = {str(day.id): day for day, _ in
            service.bookable_days(ctx.session, ctx.profile, ctx.now)}
    if chosen not in days:
        ctx.preface(ctx.t("reception.day_full"))
        ask_day(ctx)
        return
    ctx.update_data(r_day=days[chosen].id)
    ask_time(ctx)


@router.prompt(Appointment.time)
def ask_time(ctx: Context) -> None:
    day = ctx.session.get(ReceptionDay, ctx.data.get("r_day") or 0)
    slots = service.free_slots(ctx.session, ctx.profile, day, ctx.now) if day else []
    if day is None or not slots:
        ctx.preface(ctx.t("reception.day_full"))
        ask_day(ctx)
        return
    ctx.set_state(Appointment.time)
    buttons = [Button(format_time(slot.starts_at), f"rtime:{slot.index}") for slot in slots]
    ctx.reply(ctx.t("reception.choose_time", day=format_date(day.day, ctx.locale, long=True)),
              [*_rows(buttons, 4), ctx.nav_row()])


@router.state(Appointment.time, accepts={Kind.button})
def on_time(ctx: Context) -> None:
    day = ctx.session.get(ReceptionDay, ctx.data.get("r_day") or 0)
    free = {str(s.index) for s in service.free_slots(ctx.session, ctx.profile, day, ctx.now)
            } if day else set()
    chosen = ctx.payload("rtime")
    if chosen not in free:
        ctx.preface(ctx.t("reception.slot_taken"))
        ask_time(ctx)
        return
    ctx.update_data(r_slot=int(chosen))
    if ctx.data.get("r_move"):
        ask_confirm(ctx)
    else:
        ask_topic(ctx)


@router.prompt(Appointment.topic)
def ask_topic(ctx: Context) -> None:
    _ask_topic(ctx, Appointment.topic, "reception.ask_topic")


@router.state(Appointment.topic, accepts={Kind.text, Kind.voice}, max_length=service.TOPIC_MAX)
def on_topic(ctx: Context) -> None:
    if ctx.msg.kind is Kind.voice:
        _take_voice_topic(ctx, "r_topic", "r_voice", ask_name)
    elif _take_topic(ctx, "r_topic"):
        ctx.update_data(r_voice=None)
        ask_name(ctx)


def _ask_topic(ctx: Context, state: State, question: str) -> None:
    """What the citizen wants to talk about (a booking's, or an urgent one's)."""
    ctx.set_state(state)
    ctx.reply(ctx.t(question, min=service.TOPIC_MIN, max=service.TOPIC_MAX), [ctx.nav_row()])


def _take_voice_topic(ctx: Context, key: str, voice_key: str,
                      then: Callable[[Context], None]) -> None:
    """A recording instead of a typed topic: over the limits it is refused
    (the citizen can type instead); else the topic is "(voice message)" and
    the next question comes, after "🎤 Voice message received, 0:42"."""
    media = ctx.msg.media[0] if ctx.msg.media else None
    reason = voice.problem(media) if media is not None else "not_audio"
    if reason is not None or media is None:
        ctx.preface(voice.refusal(ctx.t, reason or "not_audio"))
        ctx.prompt_again()
        ctx.flush_preface()
        return
    caption = (ctx.msg.text or "").strip()[:service.TOPIC_MAX // 2]
    ctx.update_data(**{key: voice.text_with_marker(ctx.profile, ctx.catalogs, caption),
                       voice_key: {**voice.to_data(ctx.msg.channel, media),
                                   "caption": caption}})
    ctx.preface(voice.received_note(ctx.t, media))
    then(ctx)
    ctx.flush_preface()


def _shown_topic(ctx: Context, key: str, voice_key: str) -> str:
    """The topic as the citizen sees it in a summary (a recording named in their language)."""
    said = ctx.data.get(voice_key)
    return voice.shown_text(ctx.t, said.get("caption")) if said else ctx.data.get(key, "")


def _take_topic(ctx: Context, key: str) -> bool:
    """The same topic rules for a regular and an urgent request."""
    topic = ctx.meaningful_text(service.TOPIC_MIN)
    if topic is None:
        ctx.again("reception.topic_short", min=service.TOPIC_MIN)
        return False
    ctx.update_data(**{key: topic})
    return True


@router.prompt(Appointment.name)
def ask_name(ctx: Context) -> None:
    ctx.set_state(Appointment.name)
    rows = []
    if ctx.citizen.full_name:  # remembered from last time, can be changed
        rows.append([Button(fit_label(ctx.t("reception.use_value", value=ctx.citizen.full_name)),
                            "rname:keep")])
    ctx.reply(ctx.t("reception.ask_name"), [*rows, ctx.nav_row()])


@router.state(Appointment.name, accepts={Kind.text, Kind.button}, max_length=NAME_MAX)
def on_name(ctx: Context) -> None:
    if ctx.msg.kind is Kind.button:
        if ctx.payload("rname") != "keep" or not ctx.citizen.full_name:
            ctx.again()
            return
        name = ctx.citizen.full_name
    else:
        name = " ".join((ctx.msg.text or "").split())
        if not (NAME_MIN <= len(name) <= NAME_MAX) or not any(ch.isalpha() for ch in name):
            ctx.again("reception.name_invalid", min=NAME_MIN, max=NAME_MAX)
            return
    ctx.update_data(r_name=name)
    ask_phone(ctx)


def _phone_prompt(ctx: Context, key: str) -> None:
    rows = []
    if ctx.citizen.phone:
        rows.append([Button(fit_label(ctx.t("reception.use_value", value=ctx.citizen.phone)),
                            "rphone:keep")])
    ctx.reply(ctx.t(key), [*rows, ctx.nav_row()], request="contact",
              request_label=ctx.t("reception.share_phone"))


def _take_phone(ctx: Context, key: str, then: Callable[[Context], None]) -> None:
    """Keep a valid phone (shared contact or typed) under `key` and go on;
    anything else is explained and asked again."""
    phone = _phone_from(ctx)
    if phone is None:
        ctx.again("reception.phone_invalid")
        return
    ctx.update_data(**{key: phone})
    then(ctx)


def _phone_from(ctx: Context) -> str | None:
    if ctx.msg.kind is Kind.contact and ctx.msg.contact:
        raw = ctx.msg.contact.phone.strip()
        return normalize_phone(raw if raw.startswith(("+", "0")) else f"+{raw}")
    if ctx.msg.kind is Kind.button:
        return ctx.citizen.phone if ctx.payload("rphone") == "keep" else None
    return normalize_phone(ctx.msg.text or "")


@router.prompt(Appointment.phone)
def ask_phone(ctx: Context) -> None:
    ctx.set_state(Appointment.phone)
    _phone_prompt(ctx, "reception.ask_phone")


@router.state(Appointment.phone, accepts={Kind.text, Kind.contact, Kind.button},
              max_length=40)
def on_phone(ctx: Context) -> None:
    _take_phone(ctx, "r_phone", ask_settlement)


@router.prompt(Appointment.settlement)
def ask_settlement(ctx: Context) -> None:
    ctx.set_state(Appointment.settlement)
    buttons = [Button(s.label(ctx.locale), f"rset:{s.code}") for s in ctx.profile.settlements]
    buttons.append(Button(ctx.t("reception.abroad"), f"rset:{ABROAD}"))
    ctx.reply(ctx.t("reception.ask_settlement"), [*_rows(buttons, 2), ctx.nav_row()])


def settlement_label(ctx: Context, code: str | None) -> str:
    if code == ABROAD:
        return ctx.t("reception.abroad")
    found = ctx.profile.settlement(code or "")
    return found.label(ctx.locale) if found else "—"


@router.state(Appointment.settlement, accepts={Kind.button})
def on_settlement(ctx: Context) -> None:
    if code := ctx.choice("rset", ctx.profile.settlement_codes()):
        ctx.update_data(r_settlement=code)
        ask_confirm(ctx)


@router.prompt(Appointment.confirm)
def ask_confirm(ctx: Context) -> None:
    day = ctx.session.get(ReceptionDay, ctx.data.get("r_day") or 0)
    if day is None:
        ask_day(ctx)
        return
    slot = next((s for s in service.slots_of(day, ctx.profile.tz)
                 if s.index == ctx.data.get("r_slot")), None)
    if slot is None:
        ask_time(ctx)
        return
    data = ctx.data
    booking = _moving(ctx)
    if booking is None and data.get("r_move"):
        _booking_gone(ctx)
        return
    ctx.set_state(Appointment.confirm)
    ctx.reply(
        ctx.t("reception.summary",
              day=format_date(day.day, ctx.locale, long=True), time=format_time(slot.starts_at),
              place=ctx.profile.reception.place_in(ctx.locale),
              topic=booking.topic if booking else _shown_topic(ctx, "r_topic", "r_voice"),
              name=booking.full_name if booking else data.get("r_name", ""),
              phone=booking.phone if booking else data.get("r_phone", ""),
              settlement=settlement_label(ctx, booking.settlement if booking
                                          else data.get("r_settlement"))),
        [[Button(ctx.t("reception.confirm"), "rconf:yes"),
          Button(ctx.t("reception.change"), "rconf:change")],
         ctx.nav_row()],
    )


def _booking_gone(ctx: Context) -> None:
    """The booking being moved was cancelled meanwhile (by the office, or its
    day closed): say so, rather than book a new one from half the answers."""
    ctx.clear()
    ctx.reply(ctx.t("reception.no_such_booking"), [ctx.menu_row()])


def _moving(ctx: Context) -> Booking | None:
    reference = ctx.data.get("r_move")
    return _own_booking(ctx, reference) if reference else None


def _own_booking(ctx: Context, reference: str | None) -> Booking | None:
    """The citizen's own active booking with this reference: a payload naming
    someone else's (forged or stale) finds nothing."""
    return ctx.own(Booking, reference, Booking.status == BookingStatus.booked)


@router.state(Appointment.confirm, accepts={Kind.button})
def on_confirm(ctx: Context) -> None:
    answer = ctx.payload("rconf")
    if answer == "change":
        ask_day(ctx)
        return
    if answer != "yes":
        ctx.again()
        return
    data = ctx.data
    moving = _moving(ctx)
    if moving is None and data.get("r_move"):
        _booking_gone(ctx)
        return
    try:
        if moving is not None:
            booking = service.move(ctx.session, ctx.profile, moving, day_id=data["r_day"],
                                   slot_index=data["r_slot"], now=ctx.now)
            key = "reception.moved"
        else:
            booking = service.book(
                ctx.session, ctx.profile, citizen=ctx.citizen, account=ctx.account,
                day_id=data["r_day"], slot_index=data["r_slot"], topic=data["r_topic"],
                full_name=data["r_name"], phone=data["r_phone"],
                settlement=data["r_settlement"], now=ctx.now)
            voice.record(ctx.session, data.get("r_voice"), citizen_id=ctx.citizen.id,
                         now=ctx.now, booking=booking)
            # No reminder can be promised where it may not reach the citizen.
            key = "reception.booked_waits" if ctx.news_waits else "reception.booked"
            # Remembered for next time (the privacy notice says so).
            ctx.citizen.full_name = data["r_name"]
            ctx.citizen.phone = data["r_phone"]
            ctx.citizen.settlement = data["r_settlement"]
    except service.SlotTaken:
        ctx.preface(ctx.t("reception.slot_taken"))
        ask_time(ctx)
        return
    except service.DayUnavailable:
        ctx.preface(ctx.t("reception.day_full"))
        ask_day(ctx)
        return
    except service.AlreadyBooked:
        ctx.clear()
        existing = service.upcoming_booking(ctx.session, ctx.citizen.id)
        if existing is not None:
            show_existing(ctx, existing)
        return
    ctx.clear()
    day, at = service.when(ctx.profile, booking, ctx.locale)
    ctx.reply(ctx.t(key, reference=booking.reference, day=day, time=at,
                    place=ctx.profile.reception.place_in(ctx.locale)), [ctx.menu_row()])
    # A number registered for SMS at the counter: is it this citizen's?
    sms_match.offer(ctx, booking.phone)


# --- an existing booking: move or cancel (buttons work from any state) ------------

@router.action("rsv")
def on_booking_action(ctx: Context) -> None:
    action, _, reference = (ctx.payload("rsv") or "").partition(":")
    booking = _own_booking(ctx, reference)
    if booking is None:
        ctx.reply(ctx.t("reception.no_such_booking"), [ctx.menu_row()])
        return
    day, at = service.when(ctx.profile, booking, ctx.locale)
    if action == "cancel":
        ctx.reply(ctx.t("reception.cancel_confirm", reference=booking.reference, day=day,
                        time=at),
                  [[Button(ctx.t("reception.cancel_yes"), f"rsv:cancel_yes:{reference}"),
                    Button(ctx.t("reception.cancel_no"), f"rsv:keep:{reference}")]])
    elif action == "cancel_yes":
        ctx.clear()
        service.cancel(booking, by="citizen", now=ctx.now)
        ctx.reply(ctx.t("reception.cancelled", reference=booking.reference),
                  [ctx.menu_row()])
    elif action == "move":
        ctx.clear()
        ctx.update_data(r_move=booking.reference)
        ask_day(ctx)
    else:  # keep
        ctx.clear()
        show_existing(ctx, booking)


# --- urgent -----------------------------------------------------------------------

@router.prompt(Urgent.topic)
def ask_urgent_topic(ctx: Context) -> None:
    _ask_topic(ctx, Urgent.topic, "reception.urgent_topic")


@router.state(Urgent.topic, accepts={Kind.text, Kind.voice}, max_length=service.TOPIC_MAX)
def on_urgent_topic(ctx: Context) -> None:
    if ctx.msg.kind is Kind.voice:
        _take_voice_topic(ctx, "u_topic", "u_voice", ask_urgent_phone)
    elif _take_topic(ctx, "u_topic"):
        ctx.update_data(u_voice=None)
        ask_urgent_phone(ctx)


@router.prompt(Urgent.phone)
def ask_urgent_phone(ctx: Context) -> None:
    ctx.set_state(Urgent.phone)
    _phone_prompt(ctx, "reception.ask_phone")


@router.state(Urgent.phone, accepts={Kind.text, Kind.contact, Kind.button}, max_length=40)
def on_urgent_phone(ctx: Context) -> None:
    _take_phone(ctx, "u_phone", ask_urgent_confirm)


@router.prompt(Urgent.confirm)
def ask_urgent_confirm(ctx: Context) -> None:
    ctx.set_state(Urgent.confirm)
    ctx.reply(ctx.t("reception.urgent_summary", topic=_shown_topic(ctx, "u_topic", "u_voice"),
                    phone=ctx.data.get("u_phone", "")),
              [[Button(ctx.t("reception.confirm"), "urg:yes")], ctx.nav_row()])


@router.state(Urgent.confirm, accepts={Kind.button})
def on_urgent_confirm(ctx: Context) -> None:
    if ctx.payload("urg") != "yes":
        ctx.again()
        return
    topic, phone = ctx.data["u_topic"], ctx.data["u_phone"]
    request = service.create_urgent(ctx.session, ctx.profile, ctx.catalogs, citizen=ctx.citizen,
                                    account=ctx.account, topic=topic, phone=phone,
                                    full_name=ctx.citizen.full_name or ctx.account.display_name,
                                    now=ctx.now)
    voice.record(ctx.session, ctx.data.get("u_voice"), citizen_id=ctx.citizen.id, now=ctx.now,
                 urgent=request)
    ctx.citizen.phone = phone
    ctx.clear()
    ctx.reply(ctx.t("reception.urgent_sent", phone=phone, reference=request.reference),
              [ctx.menu_row()])
    sms_match.offer(ctx, phone)


# --- /status and timers --------------------------------------------------------------

@router.status
def status_lines(ctx: Context) -> list[StatusLine]:
    booking = service.upcoming_booking(ctx.session, ctx.citizen.id)
    if booking is None:
        return []
    day, at = service.when(ctx.profile, booking, ctx.locale)
    return [StatusLine(ctx.t("reception.status_line", reference=booking.reference, day=day,
                             time=at), f"rsv:keep:{booking.reference}", booking.reference,
                       _brief_day(booking.starts_at.astimezone(ctx.profile.tz), at))]


def _brief_day(local: datetime, at: str) -> str:
    """"7.12. 10:20": the day and time, short enough for a /status button."""
    return f"{local.day}.{local.month}. {at}"


@router.timer("reception", every_seconds=300)
def reception_timer(session: Session, profile: Profile, catalogs: Catalogs,
                    now: datetime) -> None:
    """Make the coming weeks' days, retire past bookings, send tomorrow's reminders."""
    service.ensure_days(session, profile, now)
    service.expire_past(session, profile, now)
    service.send_reminders(session, profile, catalogs, now)


def _mayor_phone(profile: Profile) -> str:
    office = profile.department(profile.reception.office)
    return str(office.extra.get("phone", "")) if office else ""
