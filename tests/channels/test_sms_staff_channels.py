"""Issue #19's "done means", end to end through the real `twilio` library
against the fake of Twilio's REST API: an officer registers an older citizen
for SMS at the counter (the admin API) and the number is welcomed, the next
public-debate notice reaches the number as the short form staff wrote
(Serbian Latin without its diacritics, as the profile says), the citizen texts STOP, and the notice
after that never reaches them."""

from __future__ import annotations

from pathlib import Path

from bot.clock import FixedClock
from bot.db import Database
from bot.services import notices as notice_service
from tests.channels.test_sms import CITIZEN, _bench, text_in
from tests.channels.test_sms import tw as tw  # the fake Twilio API fixture
from tests.factories import PASSWORD, make_staff
from tests.fakes.twilio_api import FakeTwilioAPI
from tests.handlers.test_notices import TEXTS

SHORT = "Opština Klokot: javna rasprava o budžetu u petak u 18č, sala Skupštine."


async def test_registered_at_the_counter_gets_the_next_notice_by_sms_until_stop(
        db: Database, tw: FakeTwilioAPI, tmp_path: Path, clock: FixedClock) -> None:
    bench, client = await _bench(db, tw, tmp_path)
    async with client:
        make_staff(db, "desk1", "info_office")
        token = (await client.post("/api/v1/auth/token", data={
            "username": "desk1", "password": PASSWORD})).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        made = await client.post("/api/v1/sms/subscribers", headers=headers, json={
            "phone": "044 123 456", "settlement": "mogila", "language": "sr_Latn",
            "topics": ["public_debates"], "source": "counter"})
        assert made.status_code == 201, made.text

        async def send_notice() -> None:
            response = await client.post("/api/v1/notices", headers=headers, json={
                "topic": "public_debates", "text": TEXTS, "sms_text": {"sr_Latn": SHORT}})
            assert response.status_code == 201, response.text
            with db.session() as session:
                notice_service.deliver(session, bench.runtime.profile, bench.runtime.catalogs,
                                       clock.now())
            await bench.deliver()

        await bench.deliver()  # the welcome: what they signed up for, and STOP
        assert tw.texts(CITIZEN) == ["Opstina Klokot: prijavljeni ste za SMS obavestenja o "
                                     "temama: Javne rasprave. Za odjavu posaljite STOP."]
        await send_notice()
        assert tw.texts(CITIZEN)[1:] == [
            "Opstina Klokot: javna rasprava o budzetu u petak u 18c, sala Skupstine."]
        assert tw.messages(CITIZEN)[1]["num_segments"] == "1"  # GSM-7, not UCS-2

        assert (await text_in(bench, tw, CITIZEN, "STOP")).status_code == 200
        await bench.deliver()
        stopped = len(tw.texts(CITIZEN))  # the STOP confirmation
        clock.advance(minutes=5)
        await send_notice()
        assert len(tw.texts(CITIZEN)) == stopped
        listed = (await client.get("/api/v1/sms/subscribers", headers=headers)).json()
        assert listed["items"][0]["active"] is False
    bench.sender.lease.release()
    await bench.runtime.close()
