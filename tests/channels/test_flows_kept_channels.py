"""Nothing a citizen was doing is lost (#17, item 4), through viberbot's and
python-telegram-bot's parsing against the fake APIs: a chat re-opened in the
middle of a complaint offers to continue (the default) or to start over; a
photo with a caption — outside a flow, at the kind step, at the description
step — starts or continues a complaint with the photo kept and the caption as
its description; a sixth photo is explained; a notice or a survey invitation
that arrives mid-flow is followed by the step's question and keyboard; and
an invitation skips whoever answered the survey already."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.clock import ShiftedClock
from bot.db import utcnow
from bot.i18n import Catalogs
from bot.models import Complaint, ComplaintPhoto, Conversation, OutboxMessage
from bot.services import complaints as complaint_service
from bot.services import notices
from bot.services import surveys as survey_service
from tests.channels.conftest import HEADERS_TG, VIBER_TOKEN, Bench
from tests.factories import PASSWORD, make_staff
from tests.fakes.telegram_api import (
    FakeTelegramAPI,
    tg_callback_update,
    tg_command_update,
    tg_photo_update,
)
from tests.fakes.viber_api import (
    FakeViberAPI,
    viber_conversation_started,
    viber_message_event,
    viber_signature,
)
from tests.handlers.test_surveys import definition, tr

T = Catalogs()
LOCALES = ["sr_Latn", "sr_Cyrl", "sq", "en"]
PHONE = {"sr_Latn": "sr", "sr_Cyrl": "sr", "sq": "sq", "en": "en"}
CAPTION = {"sr_Latn": "Velika rupa na putu kod mosta u Vrbovcu.",
           "sr_Cyrl": "Велика рупа на путу код моста у Врбовцу.",
           "sq": "Një gropë e madhe në rrugë pranë urës në Vërboc.",
           "en": "A big pothole on the road by the bridge in Vrbovac."}


def t(locale: str, key: str, **params: object) -> str:
    return T.gettext(locale, key, **params)


def keyboard(body: dict[str, Any]) -> list[str]:
    """The payloads of a Viber message's keyboard, in order."""
    return [b.get("ActionBody", "") for b in (body.get("keyboard") or {}).get("Buttons", [])]


def tg_payloads(params: dict[str, Any]) -> list[str]:
    markup = params.get("reply_markup") or {}
    if isinstance(markup, str):
        markup = json.loads(markup)
    return [b.get("callback_data", b.get("text", "")) for row in
            markup.get("inline_keyboard", markup.get("keyboard", [])) for b in row]


class ViberCitizen:
    """One citizen on Viber: signed callbacks in, what the fake API got out."""

    def __init__(self, bench: Bench, viber: FakeViberAPI, user: str, locale: str) -> None:
        self.bench, self.viber, self.user, self.locale = bench, viber, user, locale

    async def post(self, event: dict[str, Any]) -> httpx.Response:
        body = json.dumps(event).encode()
        response = await self.bench.client.post(
            "/webhooks/viber", content=body,
            headers={"X-Viber-Content-Signature": viber_signature(body, VIBER_TOKEN)})
        assert response.status_code == 200, response.text
        await self.bench.deliver()
        return response

    async def send(self, text: str | None = None, **fields: Any) -> dict[str, Any]:
        """A message; returns the last message the bot sent to this chat."""
        await self.post(viber_message_event(self.user, text, language=PHONE[self.locale],
                                            **fields))
        return self.last()

    async def reopen(self) -> dict[str, Any]:
        """Viber's conversation_started: the answer is the webhook's response."""
        response = await self.post(viber_conversation_started(self.user,
                                                              language=PHONE[self.locale]))
        body: dict[str, Any] = response.json()
        return body

    def sent(self) -> list[dict[str, Any]]:
        return [call.params for call in self.viber.delivered("send_message")
                if call.params.get("receiver") == self.user]

    def last(self) -> dict[str, Any]:
        return self.sent()[-1]

    async def onboard(self) -> None:
        for text in ("/start", f"lang:{self.locale}", "privacy:ok"):
            await self.send(text)

    async def walk(self, *payloads: str) -> dict[str, Any]:
        for payload in payloads:
            await self.send(payload)
        return self.last()


def conversation(bench: Bench, user: str) -> tuple[str | None, dict[str, Any]]:
    with bench.runtime.db.read_session() as session:
        found = session.scalars(select(Conversation)).all()
        from bot.models import ChannelAccount
        account = session.scalars(select(ChannelAccount).where(
            ChannelAccount.external_id == user)).one()
        row = next(c for c in found if c.account_id == account.id)
        return row.state, dict(row.data)


def registered(bench: Bench) -> tuple[Complaint, list[ComplaintPhoto]]:
    with bench.runtime.db.read_session() as session:
        complaint = session.scalars(select(Complaint)).one()
        photos = list(session.scalars(select(ComplaintPhoto).where(
            ComplaintPhoto.complaint_id == complaint.id).order_by(ComplaintPhoto.position)))
        session.expunge_all()
        return complaint, photos


# --- a re-opened chat -------------------------------------------------------------

@pytest.mark.parametrize("locale", LOCALES)
async def test_reopened_chat_continues_the_complaint(bench: Bench, viber: FakeViberAPI,
                                                     locale: str) -> None:
    citizen = ViberCitizen(bench, viber, f"vResume-{locale}==", locale)
    await citizen.onboard()
    await citizen.walk("/complaint", "ckind:suggestion", "ccat:roads")
    asked = citizen.last()
    assert "cset:klokot" in keyboard(asked)

    offer = await citizen.reopen()  # the welcome of a re-opened chat: in the response
    assert offer["text"] == t(locale, "resume.offer")
    assert keyboard(offer) == ["resume:go", "resume:over"]
    assert [b["Text"] for b in offer["keyboard"]["Buttons"]] == [
        t(locale, "resume.continue"), t(locale, "resume.start_over")]
    state, data = conversation(bench, citizen.user)
    assert state == "ComplaintFlow:settlement"
    assert (data["c_kind"], data["c_category"]) == ("suggestion", "roads")

    again = await citizen.send("resume:go")  # "continue": the step's question again
    assert (again["text"], keyboard(again)) == (asked["text"], keyboard(asked))

    # Continue is the default: a word the step cannot take asks it again, no error.
    await citizen.reopen()
    before = len(citizen.sent())
    again = await citizen.send("hello?")
    assert len(citizen.sent()) == before + 1
    assert (again["text"], keyboard(again)) == (asked["text"], keyboard(asked))

    # An answer the step can take is taken: the suggestion goes on, nothing lost.
    await citizen.reopen()
    described = await citizen.send("cset:vrbovac")
    assert described["text"] == t(locale, "complaints.ask_description.suggestion",
                                  min=complaint_service.DESCRIPTION_MIN,
                                  max=complaint_service.DESCRIPTION_MAX)
    await citizen.send(CAPTION[locale])
    await citizen.walk("cph:done", "cloc:skip", "canon:no", "cconf:yes")
    complaint, _ = registered(bench)
    assert (complaint.kind.value, complaint.category, complaint.settlement) == (
        "suggestion", "roads", "vrbovac")


async def test_reopened_chat_can_start_over(bench: Bench, viber: FakeViberAPI) -> None:
    citizen = ViberCitizen(bench, viber, "vOver==", "sr_Cyrl")
    await citizen.onboard()
    await citizen.walk("/complaint", "ckind:complaint")
    offer = await citizen.reopen()
    assert keyboard(offer) == ["resume:go", "resume:over"]
    menu = await citizen.send("resume:over")
    assert menu["text"] == t("sr_Cyrl", "resume.started_over")
    assert "menu:complaint" in keyboard(menu)
    state, data = conversation(bench, citizen.user)
    assert state is None and "c_kind" not in data
    # Pressed again later (an old keyboard): the menu, nothing else.
    assert "menu:complaint" in keyboard(await citizen.send("resume:go"))


async def test_reopened_chat_outside_a_flow_is_welcomed_back(bench: Bench,
                                                            viber: FakeViberAPI) -> None:
    citizen = ViberCitizen(bench, viber, "vIdle==", "sq")
    await citizen.onboard()
    welcome = await citizen.reopen()
    assert welcome["text"] == t("sq", "menu.welcome_back")


# --- photos with captions ------------------------------------------------------------

@pytest.mark.parametrize("locale", LOCALES)
async def test_viber_photo_with_caption_outside_a_flow_starts_a_complaint(
        bench: Bench, viber: FakeViberAPI, locale: str) -> None:
    citizen = ViberCitizen(bench, viber, f"vPhoto-{locale}==", locale)
    await citizen.onboard()
    url = viber.add_media(f"pothole-{locale}.jpg", b"\xff\xd8 not decoded here")
    asked = await citizen.send(CAPTION[locale], media=url, size=20_000)
    assert asked["text"].startswith(
        t(locale, "complaints.photo_kept", count=1, max=5) + " "
        + t(locale, "complaints.caption_is_description"))
    assert t(locale, "complaints.ask_kind") in asked["text"]
    assert "ckind:complaint" in keyboard(asked)
    # The description is not asked again: after the settlement, the photo step.
    photos = await citizen.walk("ckind:complaint", "ccat:roads", "cset:vrbovac")
    assert photos["text"] == t(locale, "complaints.photo_received", count=1, max=5)
    await citizen.walk("cph:done", "cloc:skip", "canon:no", "cconf:yes")
    complaint, kept = registered(bench)
    assert complaint.description == CAPTION[locale]
    assert [p.url for p in kept] == [url]


async def test_telegram_photo_with_caption_at_the_kind_step(bench: Bench,
                                                          tg: FakeTelegramAPI) -> None:
    user, n = 7101, iter(range(1, 100))

    async def send(update: dict[str, Any]) -> dict[str, Any]:
        response = await bench.client.post("/webhooks/telegram", json=update,
                                           headers=HEADERS_TG)
        assert response.status_code == 200
        await bench.deliver()
        return tg.delivered("sendMessage")[-1].params

    await send(tg_command_update(next(n), user, "/start", language_code="sq"))
    await send(tg_callback_update(next(n), user, "lang:sq"))
    await send(tg_callback_update(next(n), user, "privacy:ok"))
    await send(tg_command_update(next(n), user, "/complaint"))
    asked = await send(tg_photo_update(next(n), user, "AgACpothole1", caption=CAPTION["sq"]))
    assert asked["text"].startswith(t("sq", "complaints.photo_kept", count=1, max=5))
    assert "ckind:complaint" in tg_payloads(asked)
    for payload in ("ckind:complaint", "ccat:roads", "cset:vrbovac"):
        photos = await send(tg_callback_update(next(n), user, payload))
    assert photos["text"] == t("sq", "complaints.photo_received", count=1, max=5)
    for payload in ("cph:done", "cloc:skip", "canon:no", "cconf:yes"):
        await send(tg_callback_update(next(n), user, payload))
    complaint, kept = registered(bench)
    assert complaint.description == CAPTION["sq"]
    assert [p.file_id for p in kept] == ["AgACpothole1"]


async def test_photo_with_caption_at_the_description_step(bench: Bench, viber: FakeViberAPI,
                                                          tg: FakeTelegramAPI) -> None:
    # Viber: the picture message's `text` is the caption.
    citizen = ViberCitizen(bench, viber, "vDescribe==", "sr_Latn")
    await citizen.onboard()
    await citizen.walk("/complaint", "ckind:complaint", "ccat:roads", "cset:klokot")
    url = viber.add_media("desc.jpg", b"\xff\xd8 jpeg")
    photos = await citizen.send(CAPTION["sr_Latn"], media=url, size=10_000)
    assert photos["text"] == (t("sr_Latn", "complaints.caption_is_description") + "\n\n"
                              + t("sr_Latn", "complaints.photo_received", count=1, max=5))
    assert "cph:done" in keyboard(photos)
    await citizen.walk("cph:done", "cloc:skip", "canon:no", "cconf:yes")
    complaint, kept = registered(bench)
    assert complaint.description == CAPTION["sr_Latn"] and len(kept) == 1

    # Telegram, and a caption too short to describe: the photo is kept, the
    # description asked for again.
    user, n = 7102, iter(range(1, 100))

    async def send(update: dict[str, Any]) -> dict[str, Any]:
        response = await bench.client.post("/webhooks/telegram", json=update,
                                           headers=HEADERS_TG)
        assert response.status_code == 200
        await bench.deliver()
        return tg.delivered("sendMessage")[-1].params

    await send(tg_command_update(next(n), user, "/start", language_code="en"))
    for payload in ("lang:en", "privacy:ok"):
        await send(tg_callback_update(next(n), user, payload))
    await send(tg_command_update(next(n), user, "/complaint"))
    for payload in ("ckind:complaint", "ccat:lighting", "cset:grncar"):
        await send(tg_callback_update(next(n), user, payload))
    again = await send(tg_photo_update(next(n), user, "AgACshort", caption="lamp"))
    assert again["text"].startswith(t("en", "complaints.photo_kept", count=1, max=5) + "\n\n")
    assert t("en", "complaints.ask_description.complaint", min=10, max=4000) in again["text"]
    state, data = conversation(bench, str(user))
    assert state == "ComplaintFlow:description" and len(data["c_photos"]) == 1


async def test_a_sixth_photo_is_explained(bench: Bench, viber: FakeViberAPI) -> None:
    citizen = ViberCitizen(bench, viber, "vSix==", "sq")
    await citizen.onboard()
    await citizen.walk("/complaint", "ckind:complaint", "ccat:waste", "cset:klokot",
                       CAPTION["sq"])
    urls = [viber.add_media(f"six-{i}.jpg", b"\xff\xd8 jpeg") for i in range(6)]
    for url in urls[:5]:
        await citizen.send(media=url, size=5_000)
    full = t("sq", "complaints.photos_full", max=5) + "\n\n"
    location = citizen.last()  # "that is the most", and the next question, in one message
    assert location["text"].startswith(full)
    sixth = await citizen.send(media=urls[5], size=5_000)
    assert sixth["text"] == (t("sq", "complaints.photo_over_max", max=5) + "\n\n"
                             + location["text"].removeprefix(full))
    assert keyboard(sixth) == keyboard(location)
    await citizen.walk("cloc:skip", "canon:no", "cconf:yes")
    _, kept = registered(bench)
    assert [p.url for p in kept] == urls[:5]


# --- bulk messages mid-flow -----------------------------------------------------------

def make_notice(bench: Bench, *texts: str) -> None:
    """Notices to the public-debates topic, queued by the worker's step."""
    runtime = bench.runtime
    with runtime.db.session() as session:
        for text in texts:
            notices.create(session, runtime.profile, topic="public_debates", settlements=None,
                           texts={loc: f"{text} ({loc})" for loc in LOCALES},
                           send_at=utcnow(), rsvp=False, by="info1", now=utcnow())
    with runtime.db.session() as session:
        assert notices.deliver(session, runtime.profile, runtime.catalogs, utcnow())


def subscribe(bench: Bench, *users: str) -> None:
    from bot.models import ChannelAccount, Citizen
    with bench.runtime.db.session() as session:
        for user in users:
            account = session.scalars(select(ChannelAccount).where(
                ChannelAccount.external_id == user)).one()
            citizen = session.get(Citizen, account.citizen_id)
            assert citizen is not None
            notices.subscribe(session, citizen, "public_debates", True)


@pytest.mark.clock
async def test_a_notice_mid_flow_is_followed_by_the_steps_keyboard(
        bench: Bench, viber: FakeViberAPI, tg: FakeTelegramAPI, noon: ShiftedClock) -> None:
    busy = ViberCitizen(bench, viber, "vBusy==", "sr_Cyrl")
    idle = ViberCitizen(bench, viber, "vIdle2==", "sr_Cyrl")
    for citizen in (busy, idle):
        await citizen.onboard()
    asked = await busy.walk("/complaint", "ckind:complaint")
    assert "ccat:roads" in keyboard(asked)
    user, n = 7201, iter(range(1, 100))
    for update in (tg_command_update(next(n), user, "/start", language_code="en"),
                   tg_callback_update(next(n), user, "lang:en"),
                   tg_callback_update(next(n), user, "privacy:ok"),
                   tg_command_update(next(n), user, "/complaint")):
        await bench.client.post("/webhooks/telegram", json=update, headers=HEADERS_TG)
    await bench.deliver()
    tg_asked = tg.delivered("sendMessage")[-1].params
    subscribe(bench, busy.user, idle.user, str(user))

    make_notice(bench, "Public debate on the budget")
    await bench.deliver()
    notice, repeated = busy.sent()[-2:]
    assert "Јавна" not in notice["text"] and "(sr_Cyrl)" in notice["text"]
    assert "ntc:stop" in keyboard(notice)
    assert (repeated["text"], keyboard(repeated)) == (asked["text"], keyboard(asked))
    assert "(sr_Cyrl)" in idle.last()["text"]  # outside a flow: the notice alone
    assert len(idle.sent()) == 4  # privacy, menu... and the notice
    tg_notice, tg_repeated = [c.params for c in tg.delivered("sendMessage")[-2:]]
    assert "(en)" in tg_notice["text"]
    assert (tg_repeated["text"], tg_payloads(tg_repeated)) == (
        tg_asked["text"], tg_payloads(tg_asked))

    # Two notices at once: both, then the question once; and the step it is
    # at when they go, not when they were queued.
    await busy.send("ccat:water")
    asked = busy.last()
    make_notice(bench, "First", "Second")
    await bench.deliver()
    first, second, repeated = busy.sent()[-3:]
    assert "First" in first["text"] and "Second" in second["text"]
    assert (repeated["text"], keyboard(repeated)) == (asked["text"], keyboard(asked))
    with bench.runtime.db.read_session() as session:
        origins = [row.origin for row in session.scalars(
            select(OutboxMessage).where(OutboxMessage.chat_id == busy.user)
            .order_by(OutboxMessage.id))]
    assert origins[-3:] == ["bot", "bot", "step"]


@pytest.mark.clock
async def test_an_invitation_skips_who_answered_and_is_followed_by_the_step(
        bench: Bench, viber: FakeViberAPI, noon: ShiftedClock) -> None:
    runtime = bench.runtime
    one_question = [{"key": "channel", "type": "single", "required": True,
                     "text": tr("News from?"),
                     "options": [{"key": "web", "text": tr("Website")},
                                 {"key": "radio", "text": tr("Radio")}]}]
    with runtime.db.session() as session:
        survey = survey_service.create(session, runtime.profile,
                                       definition(questions=one_question), by="info1",
                                       now=utcnow())
        survey_service.publish(session, survey, utcnow())
    answered = ViberCitizen(bench, viber, "vAnswered==", "en")
    busy = ViberCitizen(bench, viber, "vBusy3==", "en")
    for citizen in (answered, busy):
        await citizen.onboard()
    thanks = await answered.walk("/survey", "srv:citizens-2026:start", "srv:citizens-2026:0:o1")
    assert thanks["text"] == t("en", "surveys.thanks")
    asked = await busy.walk("/complaint")

    make_staff(runtime.db, "info1", "info_office")
    token = (await bench.client.post("/api/v1/auth/token", data={
        "username": "info1", "password": PASSWORD})).json()["access_token"]
    invited = await bench.client.post("/api/v1/surveys/citizens-2026/invite",
                                      headers={"Authorization": f"Bearer {token}"})
    assert invited.status_code == 200, invited.text
    assert invited.json()["invited"] == 1
    before = len(answered.sent())
    await bench.deliver()
    assert len(answered.sent()) == before  # answered already: not invited
    invitation, repeated = busy.sent()[-2:]
    assert keyboard(invitation) == ["srv:citizens-2026:start"]
    assert (repeated["text"], keyboard(repeated)) == (asked["text"], keyboard(asked))
