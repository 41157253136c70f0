"""SMS through the real `twilio` library against the fake of Twilio's REST API:
sends and their segments, the status callback, errors and retries, the signed
webhooks (the library's validator), keywords and STOP end to end, the budget
and the once-a-day reply to strangers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bot.app import create_app
from bot.channels.sms import SmsProvider
from bot.clock import FixedClock
from bot.db import Database, utcnow
from bot.messages import Reply
from bot.models import (
    ChannelAccount,
    Citizen,
    InboundUpdate,
    OutboxMessage,
    OutboxStatus,
    Subscription,
)
from bot.models.sms import SmsConsentSource, SmsSubscription
from bot.models.staff import Role, StaffUser
from bot.outbox.queue import enqueue
from bot.profile import DEFAULT_PROFILE, get_profile
from bot.services import sms as sms_service
from bot.worker import build_sender, build_timers
from tests.channels.conftest import Bench
from tests.factories import make_runtime
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.twilio_api import FakeTwilioAPI

PUBLIC = "https://bot.klokot.example"
INBOUND = f"{PUBLIC}/webhooks/sms"
STATUS = f"{PUBLIC}/webhooks/sms/status"
CITIZEN = "+38344123456"
OTHER = "+38349765432"


@pytest.fixture
def tw() -> Iterator[FakeTwilioAPI]:
    with FakeTwilioAPI() as server:
        yield server


def profile_file(tmp_path: Path, budget: int) -> Path:
    path = tmp_path / "profile.toml"
    path.write_text(DEFAULT_PROFILE.read_text(encoding="utf-8").replace(
        "monthly_segment_budget = 5000", f"monthly_segment_budget = {budget}"), encoding="utf-8")
    return path


async def _bench(db: Database, tw: FakeTwilioAPI, tmp_path: Path, *, budget: int = 5000,
                 tg: FakeTelegramAPI | None = None) -> tuple[Bench, httpx.AsyncClient]:
    extra: dict[str, object] = {}
    if tg is not None:
        extra.update(telegram_bot_token=tg.token, telegram_api_url=tg.url,
                     telegram_chat_burst=20, telegram_chat_rate_per_second=50.0)
    runtime = make_runtime(
        db, data_dir=tmp_path, public_url=PUBLIC, profile_path=profile_file(tmp_path, budget),
        twilio_account_sid=tw.account_sid, twilio_auth_token=tw.auth_token,
        twilio_from_number=tw.number, twilio_api_url=tw.url, twilio_rate_per_second=50.0,
        **extra)
    app = create_app(runtime=runtime, run_sender=False)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                               base_url="http://bot.test")
    return Bench(runtime, client, build_sender(runtime)), client


@pytest.fixture
async def bench(db: Database, tw: FakeTwilioAPI, tmp_path: Path,
                clock: FixedClock) -> AsyncIterator[Bench]:
    made, client = await _bench(db, tw, tmp_path)
    async with client:
        yield made
    made.sender.lease.release()
    await made.runtime.close()


async def text_in(bench: Bench, tw: FakeTwilioAPI, sender: str, body: str,
                  sid: str | None = None) -> httpx.Response:
    content, headers = tw.inbound(INBOUND, sender, body, sid=sid)
    return await bench.client.post("/webhooks/sms", content=content, headers=headers)


def rows(db: Database) -> list[OutboxMessage]:
    with db.read_session() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


# --- the provider through the library --------------------------------------------

async def test_a_send_reaches_twilio_with_the_status_callback_and_counts_segments(
        tw: FakeTwilioAPI) -> None:
    provider = SmsProvider(tw.account_sid, tw.auth_token, tw.number, api_url=tw.url,
                           status_callback=STATUS, plain_letters=frozenset())
    try:
        short = await provider.send(CITIZEN, Reply("Javna rasprava u sredu u 10:00."))
        latin = await provider.send(CITIZEN, Reply("Opština Klokot: čćđšž " + "a" * 60,
                                                   locale="sr_Latn"))
    finally:
        await provider.close()
    assert short.ok and short.provider_message_id and short.provider_message_id.startswith("SM")
    assert short.segments == 1
    assert latin.ok and latin.segments == 2  # 81 UCS-2 characters: 67 a segment
    call = tw.delivered("Messages")[0]
    assert call.params["StatusCallback"] == STATUS
    assert call.params["From"] == tw.number and call.params["To"] == CITIZEN
    assert tw.texts(CITIZEN)[1] == "Opština Klokot: čćđšž " + "a" * 60


async def test_serbian_latin_goes_without_diacritics_when_the_profile_says_so(
        tw: FakeTwilioAPI) -> None:
    provider = SmsProvider(tw.account_sid, tw.auth_token, tw.number, api_url=tw.url,
                           plain_letters=frozenset({"sr_Latn"}))
    text = "Opština Klokot: sednica Skupštine u četvrtak, Đurđevdan " + "x" * 90
    try:
        stripped = await provider.send(CITIZEN, Reply(text, locale="sr_Latn"))
        albanian = await provider.send(CITIZEN, Reply("Komuna e Kllokotit: seanca të enjten",
                                                      locale="sq"))
    finally:
        await provider.close()
    assert tw.texts(CITIZEN)[0] == ("Opstina Klokot: sednica Skupstine u cetvrtak, "
                                    "Djurdjevdan " + "x" * 90)
    assert stripped.segments == 1  # 147 GSM-7 characters; with č š đ it would be 3
    assert provider.segments_of(Reply(text, locale="sr_Latn")) == 1
    assert provider.segments_of(Reply(text, locale="sr_Cyrl")) == 3
    assert tw.texts(CITIZEN)[1] == "Komuna e Kllokotit: seanca të enjten"  # ë kept: not Serbian
    assert albanian.segments == 1


async def test_albanian_goes_without_e_and_c_diaeresis_when_the_profile_says_so(
        tw: FakeTwilioAPI) -> None:
    """ë and ç make an Albanian SMS UCS-2: with the option, 160 a segment."""
    provider = SmsProvider(tw.account_sid, tw.auth_token, tw.number, api_url=tw.url,
                           plain_letters=frozenset({"sr_Latn", "sq"}))
    text = "Komuna e Kllokotit: dëgjimi publik për buxhetin do të mbahet të premten në " \
           "orën 18, në sallën e kuvendit. Çdo qytetar është i mirëpritur."
    try:
        sent = await provider.send(CITIZEN, Reply(text, locale="sq"))
    finally:
        await provider.close()
    assert tw.texts(CITIZEN) == [
        "Komuna e Kllokotit: degjimi publik per buxhetin do te mbahet te premten ne oren 18, "
        "ne sallen e kuvendit. Çdo qytetar eshte i mirepritur."]
    assert sent.segments == 1  # 138 GSM-7 characters; with ë ç, 3 UCS-2 segments of 67
    assert provider.segments_of(Reply(text, locale="sr_Latn")) == 3


@pytest.mark.parametrize(("code", "http_status", "expect"), [
    (21610, 400, "blocked"),
    (21211, 400, "permanent"),
    (21614, 400, "permanent"),
    (30007, 400, "permanent"),
    (20429, 429, "retry_after"),
    (20500, 500, "transient"),
    (None, 503, "transient"),
])
async def test_twilio_errors_are_classified(tw: FakeTwilioAPI, code: int | None,
                                            http_status: int, expect: str) -> None:
    provider = SmsProvider(tw.account_sid, tw.auth_token, tw.number, api_url=tw.url)
    tw.fail_next(code, http_status=http_status, retry_after="3" if http_status == 429 else None)
    try:
        result = await provider.send(CITIZEN, Reply("x"))
    finally:
        await provider.close()
    assert not result.ok
    if expect == "blocked":
        assert result.blocked and result.permanent
    elif expect == "permanent":
        assert result.permanent and not result.blocked
        assert str(code) in (result.error or "")
    elif expect == "retry_after":
        assert result.retry_after == 3.0 and not result.permanent
    else:
        assert not result.permanent and result.retry_after is None
        assert result.reason == "server_error"


async def test_wrong_credentials_are_not_the_message_s_fault(tw: FakeTwilioAPI) -> None:
    provider = SmsProvider(tw.account_sid, "not-the-token", tw.number, api_url=tw.url)
    try:
        result = await provider.send(CITIZEN, Reply("x"))
    finally:
        await provider.close()
    assert not result.ok and not result.permanent and result.reason == "other"


async def test_the_doctor_sees_the_account(tw: FakeTwilioAPI) -> None:
    provider = SmsProvider(tw.account_sid, tw.auth_token, tw.number, api_url=tw.url,
                           status_callback=STATUS)
    try:
        status = await provider.webhook_status()
    finally:
        await provider.close()
    assert "Opstina Klokot" in status.account and tw.number in status.account
    assert status.url == STATUS


# --- the sender with SMS ---------------------------------------------------------

def register(db: Database, phone: str = CITIZEN, language: str = "sr_Latn",
             topics: tuple[str, ...] = ("public_debates",)) -> int:
    with db.session() as session:
        citizen = sms_service.register(
            session, phone=phone, settlement="klokot", language=language, topics=topics,
            source=SmsConsentSource.counter, officer="officer1",
            now=utcnow())
        account = sms_service.sms_account(session, phone)
        assert account is not None and citizen.phone == phone
        return account.id


def queue_sms(db: Database, account_id: int, *texts: str, locale: str = "sr_Latn") -> None:
    with db.session() as session:
        account = session.get_one(ChannelAccount, account_id)
        for text in texts:
            enqueue(session, account, Reply(text, locale=locale), profile=get_profile(),
                    origin="bot")


async def test_sms_rows_are_sent_in_order_with_their_segments(bench: Bench, db: Database,
                                                              tw: FakeTwilioAPI) -> None:
    account = register(db)
    queue_sms(db, account, "Prvo obaveštenje", "Drugo: " + "ž" * 100)
    await bench.deliver()
    assert tw.texts(CITIZEN) == ["Prvo obavestenje", "Drugo: " + "z" * 100]
    sent = rows(db)
    assert [r.status for r in sent] == [OutboxStatus.sent, OutboxStatus.sent]
    assert [r.segments for r in sent] == [1, 1]
    assert all(r.provider_message_id and r.provider_message_id.startswith("SM") for r in sent)


async def test_a_server_error_is_retried_and_the_order_kept(bench: Bench, db: Database,
                                                            tw: FakeTwilioAPI,
                                                            clock: FixedClock) -> None:
    account = register(db)
    queue_sms(db, account, "jedan", "dva")
    tw.fail_next(None, http_status=503)
    await bench.deliver()
    assert tw.texts(CITIZEN) == []
    first = rows(db)[0]
    assert first.status is OutboxStatus.queued and first.attempts == 1
    assert "503" in (first.last_error or "")
    clock.advance(minutes=1)
    await bench.deliver()
    assert tw.texts(CITIZEN) == ["jedan", "dva"]


async def test_a_429_waits_as_long_as_twilio_asks(bench: Bench, db: Database,
                                                  tw: FakeTwilioAPI,
                                                  clock: FixedClock) -> None:
    account = register(db)
    queue_sms(db, account, "jedan")
    tw.fail_next(20429, http_status=429, retry_after="30")
    await bench.deliver()
    [row] = rows(db)
    assert row.status is OutboxStatus.queued and row.attempts == 0  # not counted as a fault
    assert row.next_attempt_at - clock.now() == timedelta(seconds=30)
    bench.sender._global["sms"].paused_until = 0.0  # the pause is monotonic time: skip it
    clock.advance(seconds=31)
    await bench.deliver()
    assert tw.texts(CITIZEN) == ["jedan"]


async def test_twilio_s_unsubscribed_error_blocks_the_number(bench: Bench, db: Database,
                                                             tw: FakeTwilioAPI) -> None:
    account = register(db)
    tw.unsubscribe(CITIZEN)
    queue_sms(db, account, "jedan", "dva")
    await bench.deliver()
    assert [r.status for r in rows(db)] == [OutboxStatus.failed, OutboxStatus.skipped]
    with db.read_session() as session:
        assert session.get_one(ChannelAccount, account).blocked_at is not None


# --- signatures -------------------------------------------------------------------

async def test_a_signed_text_is_taken_and_answered_through_the_outbox(
        bench: Bench, db: Database, tw: FakeTwilioAPI) -> None:
    response = await text_in(bench, tw, OTHER, "KLOKOT")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert "<Response></Response>" in response.text  # Twilio itself sends nothing
    assert tw.texts() == []
    await bench.deliver()
    assert len(tw.texts(OTHER)) == 1


@pytest.mark.parametrize("how", ["missing", "wrong", "tampered", "other_url", "other_token"])
async def test_an_unsigned_or_wrongly_signed_text_is_refused_and_nothing_stored(
        bench: Bench, db: Database, tw: FakeTwilioAPI, how: str) -> None:
    content, headers = tw.inbound(INBOUND, OTHER, "KLOKOT")
    if how == "missing":
        del headers["X-Twilio-Signature"]
    elif how == "wrong":
        headers["X-Twilio-Signature"] = "bm90IGEgc2lnbmF0dXJl"
    elif how == "tampered":
        content = content.replace(b"KLOKOT", b"STOP")
    elif how == "other_url":
        content, headers = tw.inbound("https://elsewhere.example/webhooks/sms", OTHER, "KLOKOT")
    else:
        forger = FakeTwilioAPI(auth_token="someone-elses-token")
        content, headers = forger.inbound(INBOUND, OTHER, "KLOKOT")
    response = await bench.client.post("/webhooks/sms", content=content, headers=headers)
    assert response.status_code == 403
    with db.read_session() as session:
        assert session.scalars(select(InboundUpdate)).all() == []
        assert session.scalars(select(ChannelAccount)).all() == []
    assert rows(db) == []


async def test_a_status_callback_needs_its_signature_too(bench: Bench, db: Database,
                                                         tw: FakeTwilioAPI) -> None:
    content, headers = tw.status_callback(STATUS, "SM" + "1" * 32, "delivered")
    headers["X-Twilio-Signature"] = tw.sign(INBOUND, {})
    response = await bench.client.post("/webhooks/sms/status", content=content,
                                       headers=headers)
    assert response.status_code == 403


@pytest.mark.parametrize("form", [
    {"From": OTHER, "Body": "KLOKOT"},  # no MessageSid
    {"MessageSid": "not-a-sid", "From": OTHER, "Body": "KLOKOT"},
    {"MessageSid": "SM" + "a" * 32, "From": "<script>", "Body": "KLOKOT"},
    {"MessageSid": "SM" + "a" * 32, "From": OTHER},  # no Body
    {"MessageSid": "SM" + "a" * 32, "From": OTHER, "Body": "x" * 1601},
])
async def test_a_signed_but_malformed_text_is_a_400(bench: Bench, db: Database,
                                                    tw: FakeTwilioAPI,
                                                    form: dict[str, str]) -> None:
    content, headers = tw.form(INBOUND, form)
    response = await bench.client.post("/webhooks/sms", content=content, headers=headers)
    assert response.status_code == 400
    assert rows(db) == []


async def test_not_a_form_is_refused_without_a_500(bench: Bench, tw: FakeTwilioAPI) -> None:
    response = await bench.client.post("/webhooks/sms", content=b'{"Body": "KLOKOT"}',
                                       headers={"Content-Type": "application/json"})
    assert response.status_code == 415
    response = await bench.client.post(
        "/webhooks/sms", content=b"\xff\xfe=%%%",
        headers={"Content-Type": "application/x-www-form-urlencoded",
                 "X-Twilio-Signature": "x"})
    assert response.status_code == 403


# --- status callbacks ------------------------------------------------------------

async def test_status_callbacks_update_the_message(bench: Bench, db: Database,
                                                   tw: FakeTwilioAPI) -> None:
    account = register(db)
    queue_sms(db, account, "jedan", "dva")
    await bench.deliver()
    first, second = (r.provider_message_id or "" for r in rows(db))
    for sid, status, code in ((first, "sent", None), (first, "delivered", None),
                              (second, "undelivered", 30003),
                              (first, "sent", None)):  # late and out of order
        content, headers = tw.status_callback(STATUS, sid, status, error_code=code)
        response = await bench.client.post("/webhooks/sms/status", content=content,
                                           headers=headers)
        assert response.status_code == 200
    one, two = rows(db)
    assert one.delivery_status == "delivered"
    assert two.delivery_status == "undelivered" and "30003" in (two.last_error or "")


async def test_a_long_message_partly_delivered_is_recorded_not_refused(
        bench: Bench, db: Database, tw: FakeTwilioAPI) -> None:
    """Twilio reports `partially_delivered` when only some segments of a long
    SMS reached the phone; refusing it (400) would fill Twilio's error log."""
    account = register(db)
    queue_sms(db, account, "dugo " * 80)
    await bench.deliver()
    [row] = rows(db)
    content, headers = tw.status_callback(STATUS, row.provider_message_id or "",
                                          "partially_delivered")
    response = await bench.client.post("/webhooks/sms/status", content=content,
                                       headers=headers)
    assert response.status_code == 200
    [row] = rows(db)
    assert row.delivery_status == "partial"  # the column holds 16 characters


async def test_a_status_callback_for_an_unknown_message_is_ignored(
        bench: Bench, db: Database, tw: FakeTwilioAPI) -> None:
    content, headers = tw.status_callback(STATUS, "SM" + "f" * 32, "delivered")
    response = await bench.client.post("/webhooks/sms/status", content=content,
                                       headers=headers)
    assert response.status_code == 200
    content, headers = tw.status_callback(STATUS, "SM" + "f" * 32, "exploded")
    response = await bench.client.post("/webhooks/sms/status", content=content,
                                       headers=headers)
    assert response.status_code == 400


# --- keywords end to end ---------------------------------------------------------

@pytest.mark.parametrize(("word", "language", "expect"), [
    ("KLOKOT", "sr_Latn", "prijavljeni ste za SMS obavestenja"),
    ("start", "sr_Latn", "prijavljeni ste za SMS obavestenja"),
    ("Počni", "sr_Latn", "prijavljeni ste za SMS obavestenja"),
    ("pocni!", "sr_Latn", "prijavljeni ste za SMS obavestenja"),
    ("ПРИЈАВА", "sr_Cyrl", "пријављени сте за СМС обавештења"),
    ("FILLO", "sq", "jeni regjistruar për njoftime me SMS"),
    ("Kllokot", "sq", "jeni regjistruar për njoftime me SMS"),
    ("join", "en", "you are signed up for SMS notices"),
])
async def test_a_start_keyword_signs_up_in_its_language(bench: Bench, db: Database,
                                                        tw: FakeTwilioAPI, word: str,
                                                        language: str, expect: str) -> None:
    assert (await text_in(bench, tw, OTHER, word)).status_code == 200
    await bench.deliver()
    [welcome] = tw.texts(OTHER)
    assert expect in welcome and ("STOP" in welcome or "СТОП" in welcome)
    with db.read_session() as session:
        citizen = session.scalars(select(Citizen)).one()
        assert citizen.language == language and citizen.phone == OTHER
        consent = session.scalars(select(SmsSubscription)).one()
        assert consent.source is SmsConsentSource.keyword and consent.registered_by is None
        topics = set(session.scalars(select(Subscription.topic)))
    assert topics == {"public_debates", "emergencies"}


@pytest.mark.parametrize(("word", "expect"), [
    ("STOP", "vise necete dobijati SMS"),
    ("stop.", "vise necete dobijati SMS"),
    ("ODJAVA", "vise necete dobijati SMS"),
    ("СТОП", "више нећете добијати СМС"),
    ("NDALO", "nuk do të merrni më SMS"),
    ("Unsubscribe", "you will get no more SMS"),
])
async def test_stop_ends_every_sms_and_is_confirmed_once(bench: Bench, db: Database,
                                                         tw: FakeTwilioAPI, word: str,
                                                         expect: str) -> None:
    account = register(db, phone=CITIZEN)
    queue_sms(db, account, "Obaveštenje u redu pre STOP-a")  # queued before: never sent
    assert (await text_in(bench, tw, CITIZEN, word)).status_code == 200
    assert (await text_in(bench, tw, CITIZEN, word)).status_code == 200  # again: no reply
    await bench.deliver()
    [confirmation] = tw.texts(CITIZEN)
    assert expect in confirmation
    queue_sms(db, account, "Posle STOP-a")
    await bench.deliver()
    assert tw.texts(CITIZEN) == [confirmation]
    statuses = {r.body["text"]: r.status for r in rows(db)}
    assert statuses["Obaveštenje u redu pre STOP-a"] is OutboxStatus.skipped
    assert statuses["Posle STOP-a"] is OutboxStatus.skipped


async def test_a_row_claimed_before_stop_is_still_not_sent(bench: Bench, db: Database,
                                                           tw: FakeTwilioAPI) -> None:
    """The STOP lands between the queueing and the sender's round: the sender
    itself checks the account when it claims."""
    account = register(db)
    queue_sms(db, account, "staro")
    queued_at = rows(db)[0].created_at
    with db.session() as session:  # what STOP leaves, without its own skipping
        session.get_one(ChannelAccount, account).blocked_at = queued_at + timedelta(seconds=1)
    await bench.deliver()
    assert tw.texts(CITIZEN) == []
    assert rows(db)[0].status is OutboxStatus.skipped


async def test_start_after_stop_signs_up_again_with_the_old_topics(
        bench: Bench, db: Database, tw: FakeTwilioAPI) -> None:
    register(db, topics=("assembly",))
    await text_in(bench, tw, CITIZEN, "STOP")
    await text_in(bench, tw, CITIZEN, "START")
    await bench.deliver()
    stopped, welcome = tw.texts(CITIZEN)
    assert "vise necete" in stopped
    assert "Sednice Skupstine opstine" in welcome
    with db.read_session() as session:
        consent = session.scalars(select(SmsSubscription)).one()
        account = session.scalars(select(ChannelAccount)).one()
        assert consent.stopped_at is None and account.blocked_at is None
        assert consent.source is SmsConsentSource.keyword


async def test_a_stranger_gets_the_keywords_once_a_day(bench: Bench, db: Database,
                                                       tw: FakeTwilioAPI,
                                                       clock: FixedClock) -> None:
    for text in ("Dobar dan, kada radi opština?", "Halo?", "???"):
        assert (await text_in(bench, tw, OTHER, text)).status_code == 200
    await bench.deliver()
    [reply] = tw.texts(OTHER)
    assert "posaljite START" in reply  # Serbian without diacritics …
    assert "dërgoni START" in reply and "text START" in reply  # … Albanian, English
    assert "пошаљите" not in reply  # Serbian once
    with db.read_session() as session:
        assert session.scalars(select(Citizen)).all() == []  # no citizen made for a stranger
    clock.advance(days=1)
    await text_in(bench, tw, OTHER, "Halo?")
    await bench.deliver()
    assert len(tw.texts(OTHER)) == 2


async def test_a_subscriber_s_other_text_gets_the_keywords_in_their_language(
        bench: Bench, db: Database, tw: FakeTwilioAPI) -> None:
    register(db, language="sq")
    await text_in(bench, tw, CITIZEN, "Faleminderit")
    await text_in(bench, tw, CITIZEN, "Faleminderit përsëri")
    await bench.deliver()
    [reply] = tw.texts(CITIZEN)
    assert reply.startswith("Komuna e Kllokotit: dërgoni START") and "text START" not in reply


async def test_twilio_delivering_a_text_twice_is_handled_once(bench: Bench, db: Database,
                                                              tw: FakeTwilioAPI) -> None:
    sid = "SM" + "d" * 32
    await text_in(bench, tw, OTHER, "KLOKOT", sid=sid)
    assert (await text_in(bench, tw, OTHER, "KLOKOT", sid=sid)).status_code == 200
    await bench.deliver()
    assert len(tw.texts(OTHER)) == 1


# --- the budget ------------------------------------------------------------------

async def test_the_budget_reached_stops_sms_but_not_chat(db: Database, tw: FakeTwilioAPI,
                                                         tg: FakeTelegramAPI,
                                                         tmp_path: Path,
                                                         clock: FixedClock) -> None:
    bench, client = await _bench(db, tw, tmp_path, budget=3, tg=tg)
    try:
        sms_account = register(db)
        with db.session() as session:
            citizen = Citizen(language="en")
            session.add(citizen)
            session.flush()
            chat = ChannelAccount(citizen_id=citizen.id, channel="telegram",
                                  external_id="500", chat_id="500")
            officer_chat = ChannelAccount(citizen_id=citizen.id, channel="telegram",
                                          external_id="600", chat_id="600")
            session.add_all([chat, officer_chat])
            session.flush()
            session.add(StaffUser(username="info", full_name="Info", role=Role.info_office,
                                  password_hash="x", language="en",
                                  chat_account_id=officer_chat.id))
            chat_id = chat.id
        queue_sms(db, sms_account, "jedan " + "a" * 170, "dva")  # 2 segments, then 1
        queue_sms(db, sms_account, "tri")  # over the budget of 3
        queue_sms(db, chat_id, "chat one", "chat two", locale="en")
        await bench.deliver()
        assert tw.texts(CITIZEN) == ["jedan " + "a" * 170, "dva"]
        assert [m["text"] for m in tg.messages("500")] == ["chat one", "chat two"]
        by_text = {r.body["text"]: r for r in rows(db)}
        assert by_text["tri"].status is OutboxStatus.skipped
        assert by_text["tri"].last_error == "sms budget reached"
        assert by_text["chat two"].status is OutboxStatus.sent
        with db.read_session() as session:
            state = sms_service.budget_state(session, bench.runtime.profile, clock.now())
        assert state.used == 3 and state.left == 0 and state.reached
        assert state.cost == pytest.approx(0.21)
        budget_timer = next(t for t in build_timers(bench.runtime) if t.name == "sms_budget")
        budget_timer.run(clock.now())
        budget_timer.run(clock.now())  # staff are told once
        await bench.deliver()
        alerts = [r for r in rows(db) if r.chat_id == "600"]
        assert len(alerts) == 1 and "SMS budget reached: 3 of 3" in alerts[0].body["text"]
        clock.advance(days=40)  # a new month: SMS go again
        queue_sms(db, sms_account, "četiri")
        await bench.deliver()
        assert tw.texts(CITIZEN)[-1] == "cetiri"
    finally:
        await client.aclose()
        bench.sender.lease.release()
        await bench.runtime.close()


@pytest.fixture
def tg() -> Iterator[FakeTelegramAPI]:
    with FakeTelegramAPI() as server:
        yield server


def test_budget_month_is_klokot_s(db: Database) -> None:
    profile = get_profile()
    from datetime import UTC, datetime
    # 23:30 UTC on 31 January is already February in Klokot (UTC+1).
    now = datetime(2027, 1, 31, 23, 30, tzinfo=UTC)
    assert sms_service.month_start(now, profile.tz) == datetime(2027, 1, 31, 23, 0, tzinfo=UTC)
    assert sms_service.month_start(now - timedelta(hours=1), profile.tz) == datetime(
        2026, 12, 31, 23, 0, tzinfo=UTC)


# --- klokot-bot doctor -----------------------------------------------------------

async def test_the_doctor_checks_the_twilio_account(tw: FakeTwilioAPI, tmp_path: Path) -> None:
    from bot.entry.doctor import OK, check_sms
    from tests.factories import make_settings

    settings = make_settings(data_dir=tmp_path, public_url=PUBLIC,
                             twilio_account_sid=tw.account_sid,
                             twilio_auth_token=tw.auth_token, twilio_from_number=tw.number,
                             twilio_api_url=tw.url)
    # The number's incoming texts not pointed at us yet: the doctor says what to run.
    findings = await check_sms(settings)
    [unset_hook] = [f for f in findings if f.state != OK]
    assert "nowhere" in unset_hook.text and "set-webhooks" in (unset_hook.fix or "")
    tw.sms_url = f"{PUBLIC}/webhooks/sms"
    findings = await check_sms(settings)
    assert all(f.state == OK for f in findings), findings
    assert any("Opstina Klokot" in f.text for f in findings)
    assert any(f"{PUBLIC}/webhooks/sms" in f.text for f in findings)
    wrong = settings.model_copy(update={"twilio_auth_token": "wrong-token"})
    [finding] = await check_sms(wrong)
    assert finding.state != OK and "401" in finding.text
    assert "TWILIO_AUTH_TOKEN" in (finding.fix or "")
    unset = settings.model_copy(update={"twilio_account_sid": None})
    [skipped] = await check_sms(unset)
    assert "not configured" in skipped.text


async def test_set_webhooks_points_the_numbers_texts_at_the_bot(
        db: Database, tw: FakeTwilioAPI, tmp_path: Path) -> None:
    """An operator runs `klokot-bot set-webhooks` once: texts to the
    municipality's number then come to PUBLIC_URL/webhooks/sms, by POST."""
    from bot.entry.setup import set_webhooks

    made, client = await _bench(db, tw, tmp_path)
    await client.aclose()
    made.sender.lease.release()
    tw.sms_url, tw.sms_method = "https://demo.twilio.com/welcome/sms/reply", "GET"
    assert await set_webhooks(made.runtime) == 0
    assert (tw.sms_url, tw.sms_method) == (f"{PUBLIC}/webhooks/sms", "POST")
    [update] = tw.calls_to("IncomingPhoneNumber")
    assert update.params["SmsUrl"] == f"{PUBLIC}/webhooks/sms"


async def test_set_webhooks_says_when_the_number_is_not_the_accounts(
        db: Database, tw: FakeTwilioAPI, tmp_path: Path) -> None:
    from bot.entry.setup import set_webhooks

    made, client = await _bench(db, tw, tmp_path)
    await client.aclose()
    made.sender.lease.release()
    tw.number = "+38345999999"  # the account holds another number than TWILIO_FROM_NUMBER
    assert await set_webhooks(made.runtime) == 1
    assert tw.calls_to("IncomingPhoneNumber") == []


# --- any signed form -------------------------------------------------------------

FIELDS = ["MessageSid", "SmsSid", "From", "To", "Body", "MessageStatus", "SmsStatus",
          "ErrorCode", "AccountSid", "NumMedia", "Extra"]


def test_any_signed_form_is_answered_without_a_500(db: Database, tw: FakeTwilioAPI,
                                                   tmp_path: Path) -> None:
    """Property: whatever form Twilio's signature covers, both webhooks answer
    200 or 400 — never a 5xx."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    loop = asyncio.new_event_loop()
    made, client = loop.run_until_complete(_bench(db, tw, tmp_path))
    value = st.one_of(st.text(max_size=40), st.sampled_from(
        ["SM" + "a" * 32, "+38344123456", "KLOKOT", "STOP", "delivered", "30007", "x" * 1601]))
    forms = st.dictionaries(st.sampled_from(FIELDS), value, max_size=8)

    @settings(max_examples=60, derandomize=True, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])
    @given(form=forms, path=st.sampled_from(["/webhooks/sms", "/webhooks/sms/status"]))
    def post(form: dict[str, str], path: str) -> None:
        content, headers = tw.form(PUBLIC + path, form)
        response = loop.run_until_complete(client.post(path, content=content,
                                                       headers=headers))
        assert response.status_code in (200, 400), (form, response.text)

    try:
        post()
    finally:
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(made.runtime.close())
        loop.close()
