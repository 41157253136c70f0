"""An officer books a reception slot for a citizen found by their phone
(issue #19): the citizen registered for SMS with the number (told by SMS),
else the citizen who gave it in the chat (told on the chat they used last),
else a new citizen nobody messages; the citizen's own booking rules hold.
And the staff-made changes of a booking reach an SMS citizen as a short SMS
(no buttons). Time comes from the injectable clock."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.clock import FixedClock
from bot.db import Database
from bot.i18n import Catalogs, format_date, format_time
from bot.models import Booking, ChannelAccount, Citizen, OutboxMessage, ReceptionDay
from bot.models.sms import SmsConsentSource
from bot.profile import get_profile
from bot.refusals import Invalid
from bot.services import reception as service
from bot.services import sms as sms_service
from tests.factories import make_booking, make_citizen, make_day, nth_day_off_pattern

T = Catalogs()
PROFILE = get_profile()
NUMBER = "+38344123456"
pytestmark = pytest.mark.clock


def ahead(clock: FixedClock, days: int) -> date:
    """The `days`-th day ahead that is not the weekly pattern's (no day exists
    there yet): distinct numbers, distinct days, whatever the date."""
    return nth_day_off_pattern(service.today(PROFILE, clock.now()), days,
                               PROFILE.reception.weekday)


def register_sms(db: Database, clock: FixedClock, language: str = "sr_Latn") -> int:
    with db.session() as session:
        return sms_service.register(
            session, phone="044 123 456", settlement="vrbovac", language=language,
            topics=["public_debates"], source=SmsConsentSource.counter, officer="desk1",
            now=clock.now()).id


def book(session: Session, clock: FixedClock, day_id: int, *, phone: str = "044 123 456",
         slot_index: int = 2, name: str | None = "Dragica Stojanović",
         settlement: str | None = "vrbovac", language: str | None = "sr_Latn",
         via: str = "counter") -> Booking:
    return service.book_for_citizen(
        session, PROFILE, T, phone=phone, day_id=day_id, slot_index=slot_index,
        topic="Put do Vrbovca", full_name=name, settlement=settlement, language=language,
        by="mayor1", via=via, now=clock.now())


def outbox(db: Database) -> list[OutboxMessage]:
    with db.read_session() as session:
        rows = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        for row in rows:
            session.expunge(row)
        return rows


def sms_text(locale: str, key: str, booking: Booking, **params: object) -> str:
    local = booking.starts_at.astimezone(PROFILE.tz)
    return T.gettext(locale, key, municipality=PROFILE.municipality_name(locale),
                     reference=booking.reference, day=format_date(local, locale, long=True),
                     time=format_time(local), place=PROFILE.reception.place_in(locale),
                     phone=PROFILE.localized_contact("phone", locale), **params)


def test_a_citizen_registered_for_sms_is_booked_on_the_sms_account_and_told_by_sms(
        db: Database, clock: FixedClock) -> None:
    citizen_id = register_sms(db, clock)
    day_id = make_day(db, day=ahead(clock, 8))
    with db.session() as session:
        booking = book(session, clock, day_id, phone="+383 44 123 456", via="phone")
        account = sms_service.sms_account(session, NUMBER)
        assert account is not None
        assert (booking.citizen_id, booking.account_id) == (citizen_id, account.id)
        assert (booking.booked_by, booking.booked_via, booking.phone) == (
            "mayor1", "phone", NUMBER)
        assert booking.full_name == "Dragica Stojanović" and booking.settlement == "vrbovac"
        expected = sms_text("sr_Latn", "sms.booked", booking)
    [row] = outbox(db)
    assert row.channel == "sms" and row.chat_id == NUMBER and not row.body.get("buttons")
    assert row.body["text"] == expected
    assert expected.startswith("Opština Klokot: zakazan Vam je termin")
    assert PROFILE.localized_contact("phone", "sr_Latn") in expected
    with db.read_session() as session:
        citizen = session.get(Citizen, citizen_id)
        assert citizen is not None and citizen.full_name == "Dragica Stojanović"


def test_after_stop_the_sms_citizen_is_told_on_their_chat_if_they_have_one(
        db: Database, clock: FixedClock) -> None:
    citizen_id = register_sms(db, clock)
    day_id = make_day(db, day=ahead(clock, 8))
    with db.session() as session:
        sms_service.stop(session, NUMBER, clock.now())
        stopped = book(session, clock, day_id)
        assert stopped.citizen_id == citizen_id
        assert stopped.account_id == session.get_one(Citizen, citizen_id).accounts[0].id
        service.cancel(stopped, by="staff", now=clock.now())
        session.add(ChannelAccount(citizen_id=citizen_id, channel="telegram", external_id="t7",
                                   chat_id="t7", last_inbound_at=clock.now()))
        session.flush()
        booking = book(session, clock, day_id, slot_index=3)
        account = session.get_one(ChannelAccount, booking.account_id)
        assert (booking.citizen_id, account.channel) == (citizen_id, "telegram")
    assert [r.channel for r in outbox(db) if r.status.value == "queued"] == ["telegram"]


def test_a_chat_citizen_with_the_number_is_told_on_the_chat_they_used_last(
        db: Database, clock: FixedClock) -> None:
    citizen_id = make_citizen(db, channel="telegram", external_id="t1", language="en",
                              phone=NUMBER, full_name="Ana Marković")
    erased = make_citizen(db, channel="telegram", external_id="t9", phone=NUMBER)
    now = clock.now()
    with db.session() as session:
        session.get_one(Citizen, erased).erased_at = now  # never matched
        session.get_one(Citizen, erased).last_seen_at = now
        telegram = session.scalars(select(ChannelAccount).where(
            ChannelAccount.citizen_id == citizen_id)).one()
        telegram.last_inbound_at = now - timedelta(days=5)
        session.add_all([
            ChannelAccount(citizen_id=citizen_id, channel="viber", external_id="v1",
                           chat_id="v1", last_inbound_at=now - timedelta(days=1)),
            ChannelAccount(citizen_id=citizen_id, channel="viber", external_id="v2",
                           chat_id="v2", last_inbound_at=now, blocked_at=now),
        ])
    day_id = make_day(db, day=ahead(clock, 8))
    with db.session() as session:
        booking = book(session, clock, day_id, name=None, language="sq")
        account = session.get(ChannelAccount, booking.account_id)
        assert booking.citizen_id == citizen_id and account is not None
        assert account.external_id == "v1"  # the most recently active, not blocked
        assert booking.full_name == "Ana Marković"  # the citizen's, none typed
        citizen = session.get_one(Citizen, citizen_id)
        assert citizen.language == "en"  # theirs, not replaced
        reference = booking.reference
    [row] = outbox(db)
    assert row.channel == "viber" and row.chat_id == "v1"
    assert row.body["text"].startswith("Your appointment is booked.")
    assert reference in row.body["text"]
    assert [b["payload"] for line in row.body["buttons"] for b in line] == [
        f"rsv:cancel:{reference}"]


def test_an_unknown_number_becomes_a_new_citizen_whom_nobody_messages(
        db: Database, clock: FixedClock) -> None:
    day_id = make_day(db, day=ahead(clock, 8))
    with db.session() as session:
        booking = book(session, clock, day_id, phone="049 765 432", language="sq",
                       settlement="mogila", name="Besa Krasniqi")
        citizen = session.get_one(Citizen, booking.citizen_id)
        assert (citizen.phone, citizen.language, citizen.settlement, citizen.full_name) == (
            "+38349765432", "sq", "mogila", "Besa Krasniqi")
        assert citizen.created_at == clock.now() and citizen.last_seen_at == clock.now()
        assert booking.account_id is None and booking.booked_by == "mayor1"
        assert session.scalar(select(func.count()).select_from(ChannelAccount)) == 0
    assert outbox(db) == []
    # Booked again under the same number: the same citizen, who has a booking.
    with db.session() as session, pytest.raises(service.AlreadyBooked) as refused:
        book(session, clock, day_id, phone="+38349765432", slot_index=3)
    assert refused.value.extra == {"reference": booking.reference}


def test_registered_for_sms_after_the_booking_the_reminder_goes_by_sms(
        db: Database, clock: FixedClock) -> None:
    day_id = make_day(db, day=ahead(clock, 8))
    with db.session() as session:
        booking = book(session, clock, day_id, language="en")
        citizen_id, starts = booking.citizen_id, booking.starts_at
    assert register_sms(db, clock, language="en") == citizen_id  # the same person
    with db.session() as session:
        account = sms_service.sms_account(session, NUMBER)
        assert account is not None and account.citizen_id == citizen_id
        assert session.get_one(Booking, booking.id).account_id == account.id
        local = starts.astimezone(PROFILE.tz)
        due = datetime.combine(local.date() - timedelta(days=1), datetime.min.time(),
                               tzinfo=PROFILE.tz).replace(hour=PROFILE.reception.reminder_hour)
        assert service.send_reminders(session, PROFILE, T, due) == 1
    [row] = outbox(db)
    assert row.channel == "sms" and row.body["text"].startswith("Municipality of Klokot: reminder")
    # A number with a chat is not taken over: registering it makes its own citizen.
    chat = make_citizen(db, channel="telegram", external_id="t3", phone="+38349111222")
    with db.session() as session:
        other = sms_service.register(session, phone="049 111 222", settlement=None,
                                     language="en", topics=None,
                                     source=SmsConsentSource.counter, officer="desk1",
                                     now=clock.now())
        assert other.id != chat


def test_the_citizen_s_own_booking_rules_hold(db: Database, clock: FixedClock) -> None:
    register_sms(db, clock)
    day = ahead(clock, 8)
    day_id = make_day(db, day=day)
    closed = make_day(db, day=ahead(clock, 9), closed=True, closed_reason="Dan opštine")
    today = make_day(db, day=service.today(PROFILE, clock.now()), start="09:00")
    held = make_booking(db, day=day, slot_index=4, phone="+38344999000")
    with db.session() as session:
        with pytest.raises(Invalid) as invalid:
            book(session, clock, day_id, phone="12")
        assert (invalid.value.code, invalid.value.field) == ("invalid_phone", "phone")
        with pytest.raises(service.SlotTaken):
            book(session, clock, day_id, slot_index=4)
        for day_id_, slot in ((closed, 0), (today, 0), (day_id, 99)):  # 09:00 went by at noon
            with pytest.raises(service.DayUnavailable):
                book(session, clock, day_id_, slot_index=slot)
        first = book(session, clock, day_id)
        with pytest.raises(service.AlreadyBooked) as again:
            book(session, clock, day_id, slot_index=5)
        assert again.value.reference == first.reference
        assert held != first.reference


def test_staff_changes_reach_an_sms_citizen_as_short_sms(db: Database,
                                                         clock: FixedClock) -> None:
    register_sms(db, clock, language="en")
    day, later, other = ahead(clock, 8), ahead(clock, 15), ahead(clock, 22)
    ids = [make_day(db, day=d) for d in (day, later, other)]
    with db.session() as session:
        booking = book(session, clock, ids[0], language="en")
        service.staff_move(session, PROFILE, T, booking, day_id=ids[1], slot_index=1,
                           now=clock.now())
        moved = sms_text("en", "sms.booking_moved", booking)
        service.mark_booking(session, PROFILE, T, booking, service.BookingStatus.cancelled,
                             by="mayor1", now=clock.now(), message="The mayor is ill")
        because = sms_text("en", "sms.booking_cancelled_because", booking,
                           message="The mayor is ill")
    with db.session() as session:
        booking = book(session, clock, ids[2], language="en")
        service.mark_booking(session, PROFILE, T, booking, service.BookingStatus.cancelled,
                             by="mayor1", now=clock.now(),
                             message="x" * (service.SMS_MESSAGE_MAX + 1))
        plain = sms_text("en", "sms.booking_cancelled", booking)
    with db.session() as session:
        booking = book(session, clock, ids[2], slot_index=3, language="en")
        service.close_day(session, PROFILE, T, session.get_one(ReceptionDay, ids[2]),
                          reason="Dan opštine", now=clock.now())
        closed = sms_text("en", "sms.booking_day_closed", booking)
    rows = outbox(db)
    assert all(r.channel == "sms" and not r.body.get("buttons") for r in rows)
    texts = [r.body["text"] for r in rows]
    assert texts[1:3] == [moved, because] and texts[4] == plain and texts[6] == closed
    assert "is moved to" in moved and "(The mayor is ill)" in because
    assert "xxxx" not in plain and "call" in plain


@pytest.mark.parametrize("locale", ["en", "sq", "sr_Latn", "sr_Cyrl"])
def test_the_booking_sms_are_short(locale: str) -> None:
    at = datetime(2026, 12, 9, 9, 20, tzinfo=PROFILE.tz)
    booking = Booking(reference="R-2026-004242", starts_at=at)
    for key in ("sms.booked", "sms.booking_moved", "sms.booking_cancelled",
                "sms.booking_cancelled_because", "sms.booking_day_closed"):
        text = sms_text(locale, key, booking, message="m" * service.SMS_MESSAGE_MAX)
        assert len(text) <= 300, (key, len(text))
        assert "{" not in text
