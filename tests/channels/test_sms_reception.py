"""Issue #19's reception by SMS, end to end through the real `twilio` library
against the fake of Twilio's REST API: the information office registers an
older citizen for SMS at the counter, the Office of the Mayor books a
reception slot for them (the admin API), the confirmation and — from the
worker's reception timer, the day before — the reminder reach the number as
SMS text (Serbian Latin without diacritics, as the profile says); after the
citizen texts STOP, neither a staff move nor the next reminder texts them.
Time comes from the injectable clock, never the wall clock."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import select

from bot.clock import FixedClock
from bot.db import Database
from bot.models import OutboxMessage, OutboxStatus
from bot.outbox.sender import Timer
from bot.profile import get_profile
from bot.services import reception as service
from bot.worker import build_timers
from tests.channels.conftest import Bench
from tests.channels.test_sms import CITIZEN, _bench, text_in
from tests.channels.test_sms import tw as tw  # the fake Twilio API fixture
from tests.factories import PASSWORD, make_day, make_staff, nth_day_off_pattern
from tests.fakes.twilio_api import FakeTwilioAPI

PROFILE = get_profile()


def off_pattern(start: date, days: int) -> date:
    return nth_day_off_pattern(start, days, PROFILE.reception.weekday)


def reminder_time(day: date) -> datetime:
    """The day before `day`, just after the profile's reminder hour (Klokot's time)."""
    return datetime.combine(day - timedelta(days=1), datetime.min.time(),
                            tzinfo=PROFILE.tz).replace(hour=PROFILE.reception.reminder_hour,
                                                       minute=5)


async def headers_of(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    token = (await client.post("/api/v1/auth/token", data={
        "username": username, "password": PASSWORD})).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def reception_timer(bench: Bench) -> Timer:
    """The worker's own reception timer (days, past bookings, reminders)."""
    return next(t for t in build_timers(bench.runtime) if t.name == "reception")


async def test_booked_by_an_officer_the_sms_citizen_gets_the_reminder_until_stop(
        db: Database, tw: FakeTwilioAPI, tmp_path: Path, clock: FixedClock) -> None:
    bench, client = await _bench(db, tw, tmp_path)
    today = service.today(PROFILE, clock.now())
    day, later = off_pattern(today, 8), off_pattern(today, 15)
    make_day(db, day=day, start="09:00", slots=6, slot_minutes=20)
    make_day(db, day=later, start="09:00", slots=6, slot_minutes=20)
    async with client:
        make_staff(db, "desk1", "info_office")
        make_staff(db, "mayor1", "mayor_office")
        desk = await headers_of(client, "desk1")
        registered = await client.post("/api/v1/sms/subscribers", headers=desk, json={
            "phone": "044 123 456", "settlement": "mogila", "language": "sr_Latn",
            "topics": ["public_debates"], "source": "counter"})
        assert registered.status_code == 201, registered.text
        await bench.deliver()
        [welcome] = tw.texts(CITIZEN)  # signed up: its topics, and how to stop
        assert "posaljite STOP" in welcome
        mayor = await headers_of(client, "mayor1")
        booked = await client.post("/api/v1/reception/bookings", headers=mayor, json={
            "day": day.isoformat(), "slot_index": 2, "phone": "+383 44 123 456",
            "full_name": "Dragica Stojanović", "topic": "Put do Mogile", "source": "counter"})
        assert booked.status_code == 201, booked.text
        reference = booked.json()["reference"]
        await bench.deliver()
        [confirmation] = tw.texts(CITIZEN)[1:]
        assert confirmation.startswith("Opstina Klokot: zakazan Vam je termin kod predsednika")
        assert reference in confirmation and "09:40" in confirmation

        timer = reception_timer(bench)
        clock.set(reminder_time(day) - timedelta(hours=2))
        timer.run(clock.now())  # too early: nothing
        await bench.deliver()
        assert len(tw.texts(CITIZEN)) == 2
        clock.set(reminder_time(day))
        for _ in range(2):  # on time, and once is enough
            timer.run(clock.now())
            await bench.deliver()
        reminder = tw.texts(CITIZEN)[2:]
        assert len(reminder) == 1
        assert reminder[0].startswith("Opstina Klokot: podsetnik, sutra")
        assert reference in reminder[0] and "09:40" in reminder[0]
        assert tw.messages(CITIZEN)[2]["to"] == CITIZEN

        assert (await text_in(bench, tw, CITIZEN, "STOP")).status_code == 200
        await bench.deliver()
        sent = len(tw.texts(CITIZEN))  # with the STOP confirmation
        assert "vise necete dobijati SMS" in tw.texts(CITIZEN)[-1]
        mayor = await headers_of(client, "mayor1")
        moved = await client.post(f"/api/v1/reception/bookings/{reference}/move",
                                  headers=mayor,
                                  json={"day": later.isoformat(), "slot_index": 1})
        assert moved.status_code == 200, moved.text
        await bench.deliver()
        clock.set(reminder_time(later))
        timer.run(clock.now())
        await bench.deliver()
        assert len(tw.texts(CITIZEN)) == sent
        with db.read_session() as session:
            # The move was told as an SMS (its short form), held back for the STOP.
            row = session.scalars(select(OutboxMessage).where(
                OutboxMessage.purpose == "booking_moved")).one()
            assert row.channel == "sms" and row.status is OutboxStatus.skipped
            assert row.body["text"].startswith("Opština Klokot: Vaš termin")
    bench.sender.lease.release()
    await bench.runtime.close()
