"""Viber citizens who write rarely (#17, item 1), through the real viberbot
parsing against the fake Viber API, with the shipped profile (bot-started
Viber messages off) and the process's clock moved, not waited for:

- what the law requires (a refusal, with its appeal route) goes after 25
  hours of silence all the same, and is counted as billed;
- what can wait (a reminder) is held, and comes once, as a "while you were
  away" summary before the answer to the citizen's next message — or inside
  the welcome when they only re-open the chat;
- the texts promise only what Viber will do ("see /status", not "a reminder
  the day before"), and /status shows a refusal's appeal route."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot import clock as clocks
from bot.app import create_app
from bot.clock import FixedClock
from bot.db import utcnow
from bot.messages import Reply
from bot.metrics import REGISTRY
from bot.models import (
    Booking,
    ChannelAccount,
    DocumentRequest,
    DocumentStatus,
    OutboxMessage,
    OutboxStatus,
)
from bot.outbox.queue import Purpose
from bot.services import deadlines, notify
from bot.services import documents as documents_service
from bot.services import reception as reception_service
from tests.channels.conftest import VIBER_TOKEN, Bench
from tests.factories import make_booking
from tests.fakes.viber_api import (
    FakeViberAPI,
    viber_conversation_started,
    viber_message_event,
    viber_signature,
)

LOCALES = ("en", "sr_Latn", "sr_Cyrl", "sq")
REASON = "The document holds the personal data of third persons."
BILLED = "klokot_viber_out_of_session_messages_total"


def now_ms() -> int:
    """Viber stamps each callback; the bot refuses stamps far from its own clock."""
    return int(utcnow().timestamp() * 1000)


class ViberChat:
    """One Viber user talking to the bot through the webhook, and what reached them."""

    def __init__(self, bench: Bench, viber: FakeViberAPI, user: str) -> None:
        self.bench, self.viber, self.user = bench, viber, user

    async def post(self, event: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(event).encode()
        response = await self.bench.client.post(
            "/webhooks/viber", content=body,
            headers={"X-Viber-Content-Signature": viber_signature(body, VIBER_TOKEN)})
        assert response.status_code == 200
        await self.bench.deliver()
        answer: dict[str, Any] = response.json()
        return answer

    async def write(self, text: str | None = None, **fields: Any) -> None:
        await self.post(viber_message_event(self.user, text, timestamp=now_ms(), **fields))

    async def reopen(self) -> dict[str, Any]:
        """The user opens the chat again (Viber's conversation_started)."""
        return await self.post(viber_conversation_started(self.user, subscribed=True,
                                                          timestamp=now_ms()))

    def texts(self) -> list[str]:
        return [str(call.params.get("text", "")) for call in self.viber.delivered("send_message")
                if call.params.get("receiver") == self.user]

    def first(self, prefix: str) -> str:
        keys = self.viber.delivered("send_message")[-1].params["keyboard"]["Buttons"]
        return next(b["ActionBody"] for b in keys if b["ActionBody"].startswith(prefix))

    async def onboard(self, locale: str) -> None:
        for text in ("/start", f"lang:{locale}", "privacy:ok"):
            await self.write(text)

    def account(self) -> ChannelAccount:
        with self.bench.runtime.db.read_session() as session:
            account = session.scalar(select(ChannelAccount).where(
                ChannelAccount.external_id == self.user))
            assert account is not None
            return account


def t(bench: Bench, locale: str, key: str, **params: object) -> str:
    return bench.runtime.catalogs.gettext(locale, key, **params)


def billed(purpose: str) -> float:
    return REGISTRY.get_sample_value(BILLED, {"purpose": purpose}) or 0.0


def refuse(bench: Bench) -> str:
    """An officer refuses the citizen's one request (as the staff page does)."""
    with bench.runtime.db.session() as session:
        request = session.scalars(select(DocumentRequest)).one()
        documents_service.transition(session, bench.runtime.profile, bench.runtime.catalogs,
                                     request, DocumentStatus.refused, by="officer1",
                                     now=utcnow(), reason=REASON)
        return request.reference


async def loopback_metrics(bench: Bench) -> str:
    """/metrics as Prometheus on the same machine reads it."""
    app = create_app(runtime=bench.runtime, run_sender=False)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 9000))
    async with httpx.AsyncClient(transport=transport, base_url="http://bot.test") as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    return response.text


@pytest.mark.parametrize("locale", LOCALES)
async def test_a_refusal_after_25_hours_of_silence_reaches_viber_and_is_counted(
        bench: Bench, viber: FakeViberAPI, clock: FixedClock, locale: str) -> None:
    chat = ViberChat(bench, viber, f"vRefused-{locale}==")
    await chat.onboard(locale)
    for text in ("/documents", "The minutes of the assembly session of 12 March 2026.",
                 "ddep:assembly", "dform:electronic", "durg:no", "dname:skip", "dconf:yes"):
        await chat.write(text)
    with bench.runtime.db.read_session() as session:
        request = session.scalars(select(DocumentRequest)).one()
        due = documents_service.due_text(bench.runtime.profile, request, locale)
    # The confirmation promises what Viber will carry: the decision, not "every change".
    assert chat.texts()[-1] == t(bench, locale, "documents.registered_waits",
                                 reference=request.reference, due=due)
    clock.advance(hours=25)  # the citizen has not written since
    before = billed("document_decision")
    reference = refuse(bench)
    await bench.deliver()
    terms = documents_service.law_terms(bench.runtime.profile,
                                        bench.runtime.catalogs.translator(locale), locale)
    refusal = t(bench, locale, "documents.changed.refused", reference=reference, reason=REASON,
                **terms)
    assert chat.texts()[-1] == refusal  # delivered, not skipped, not held
    assert billed("document_decision") == before + 1
    with bench.runtime.db.read_session() as session:
        row = session.scalars(select(OutboxMessage).where(
            OutboxMessage.purpose == "document_decision")).one()
    assert (row.status, row.out_of_session) == (OutboxStatus.sent, True)
    assert 'klokot_viber_out_of_session_messages_this_month{purpose="document_decision"} 1.0' \
        in await loopback_metrics(bench)
    # The citizen looks the request up: its appeal route is there too.
    await chat.write("/status")  # its buttons name the requests
    await chat.write(f"doc:show:{reference}")
    assert t(bench, locale, "documents.appeal_route",
             appeal_days=deadlines.APPEAL_DAYS) in chat.texts()[-1]


def reminder_evening(bench: Bench, day: datetime) -> datetime:
    """The evening before `day`, once the profile's reminder hour has come."""
    tz = bench.runtime.profile.tz
    hour = bench.runtime.profile.reception.reminder_hour
    return datetime.combine(day.astimezone(tz).date() - timedelta(days=1), time(hour, 30),
                            tzinfo=tz)


async def booked_and_reminded(bench: Bench, chat: ViberChat, clock: FixedClock,
                              locale: str) -> Booking:
    """The citizen books (on the chat), falls silent; the evening before, the
    reminder timer runs: the reminder is held, nothing reaches Viber."""
    await chat.onboard(locale)
    citizen_id = chat.account().citizen_id
    day = clocks.local_moment(bench.runtime.profile.tz, time(9, 0)).date() + timedelta(days=3)
    reference = make_booking(bench.runtime.db, day=day, citizen_id=citizen_id)
    clock.set(reminder_evening(bench, datetime.combine(day, time(9, 0),
                                                       tzinfo=bench.runtime.profile.tz)))
    sent_before = len(chat.texts())
    with bench.runtime.db.session() as session:
        assert reception_service.send_reminders(session, bench.runtime.profile,
                                                bench.runtime.catalogs, utcnow()) == 1
        booking = session.scalars(select(Booking).where(Booking.reference == reference)).one()
        session.expunge(booking)
    await bench.deliver()
    assert len(chat.texts()) == sent_before
    with bench.runtime.db.read_session() as session:
        row = session.scalars(select(OutboxMessage).where(
            OutboxMessage.purpose == "reminder")).one()
    assert row.status is OutboxStatus.held
    return booking


def reminder_line(bench: Bench, booking: Booking, locale: str) -> str:
    day, at = reception_service.when(bench.runtime.profile, booking, locale)
    return "• " + t(bench, locale, "away.reminder", reference=booking.reference, day=day,
                    time=at, place=bench.runtime.profile.reception.place_in(locale))


@pytest.mark.parametrize("locale", LOCALES)
async def test_a_held_reminder_comes_once_in_the_summary_before_the_answer(
        bench: Bench, viber: FakeViberAPI, clock: FixedClock, locale: str) -> None:
    chat = ViberChat(bench, viber, f"vAway-{locale}==")
    booking = await booked_and_reminded(bench, chat, clock, locale)
    sent_before = len(chat.texts())
    await chat.write("/status")
    summary, *answer = chat.texts()[sent_before:]
    assert summary.startswith(t(bench, locale, "away.summary"))
    assert reminder_line(bench, booking, locale) in summary.split("\n")
    assert answer and booking.reference in answer[0]  # then /status itself
    assert t(bench, locale, "away.summary") not in answer[0]
    with bench.runtime.db.read_session() as session:
        row = session.scalars(select(OutboxMessage).where(
            OutboxMessage.purpose == "reminder")).one()
    assert row.status is OutboxStatus.summarised
    # Never twice: not on the next message, not by the sender on its own.
    seen = len(chat.texts())
    await chat.write("/help")
    await bench.deliver()
    later = chat.texts()[seen:]
    assert later and not any(t(bench, locale, "away.summary") in text for text in later)
    reminder_text = t(bench, locale, "reception.reminder", reference=booking.reference,
                      day=reception_service.when(bench.runtime.profile, booking, locale)[0],
                      time=reception_service.when(bench.runtime.profile, booking, locale)[1],
                      place=bench.runtime.profile.reception.place_in(locale))
    assert reminder_text not in chat.texts()


@pytest.mark.parametrize("locale", LOCALES)
async def test_reopening_the_chat_brings_the_summary_in_the_welcome_once(
        bench: Bench, viber: FakeViberAPI, clock: FixedClock, locale: str) -> None:
    chat = ViberChat(bench, viber, f"vReopen-{locale}==")
    booking = await booked_and_reminded(bench, chat, clock, locale)
    sent_before = len(chat.texts())
    welcome = await chat.reopen()
    # The one message Viber lets the bot send on re-opening: the summary, then the welcome.
    assert welcome["type"] == "text"
    assert welcome["text"].startswith(t(bench, locale, "away.summary"))
    assert reminder_line(bench, booking, locale) in welcome["text"].split("\n")
    assert welcome.get("keyboard")  # the welcome's menu stays
    assert not any(t(bench, locale, "away.summary") in text
                   for text in chat.texts()[sent_before:])
    await chat.write("/help")
    assert not any(t(bench, locale, "away.summary") in text
                   for text in chat.texts()[sent_before:])
    again = await chat.reopen()
    assert t(bench, locale, "away.summary") not in str(again.get("text", ""))


@pytest.mark.parametrize("locale", LOCALES)
async def test_a_viber_booking_confirmation_points_to_status_not_a_reminder(
        bench: Bench, viber: FakeViberAPI, clock: FixedClock, locale: str) -> None:
    chat = ViberChat(bench, viber, f"vBook-{locale}==")
    await chat.onboard(locale)
    for text in ("/reception", "rk:regular"):
        await chat.write(text)
    await chat.write(chat.first("rday:"))
    await chat.write(chat.first("rtime:"))
    await chat.write("I would like to talk about the school bus to Mogila.")
    await chat.write("Milica Jović")
    await chat.write(contact={"name": "Milica", "phone_number": "+38344555666"})
    await chat.write("rset:mogila")
    await chat.write("rconf:yes")
    with bench.runtime.db.read_session() as session:
        booking = session.scalars(select(Booking)).one()
    day, at = reception_service.when(bench.runtime.profile, booking, locale)
    params = {"reference": booking.reference, "day": day, "time": at,
              "place": bench.runtime.profile.reception.place_in(locale)}
    confirmation = chat.texts()[-1]
    assert confirmation == t(bench, locale, "reception.booked_waits", **params)
    assert confirmation != t(bench, locale, "reception.booked", **params)
    assert "/status" in confirmation


async def test_opening_the_chat_does_not_open_vibers_session(
        bench: Bench, viber: FakeViberAPI, clock: FixedClock) -> None:
    """Only a message from the user opens Viber's 24 hours: a citizen who
    merely opens the chat again after two silent days gets no held message
    from the sender, only the welcome (with its summary) Viber allows."""
    chat = ViberChat(bench, viber, "vOpenOnly==")
    booking = await booked_and_reminded(bench, chat, clock, "en")
    last_wrote = chat.account().last_inbound_at
    await chat.reopen()
    assert chat.account().last_inbound_at == last_wrote
    clock.advance(minutes=5)
    sent_before = len(chat.texts())
    with bench.runtime.db.session() as session:
        notify.tell_citizen(
            session, bench.runtime.profile, bench.runtime.catalogs,
            citizen_id=booking.citizen_id, account_id=booking.account_id,
            message=lambda tr, _locale: Reply(tr("reception.reminder", reference="R-1",
                                                 day="—", time="—", place="—")),
            now=utcnow(), purpose=Purpose.reminder)
    await bench.deliver()
    assert chat.texts()[sent_before:] == []  # held for the next message, not billed
    await chat.write("/help")
    assert chat.texts()[sent_before].startswith(t(bench, "en", "away.summary"))
