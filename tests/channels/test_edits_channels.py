"""Buttons that update in place and keyboards that go when their step is done
(#16, items 1 and 2), through python-telegram-bot against the fake Bot API,
which keeps each chat as a phone shows it: the bot's messages as their edits
left them, and the reply keyboard up under the input field.

Every button here is pressed on the message that carries it (the fake's live
keyboards), as a citizen would; a walk through a flow must end with live
buttons only under its last message."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from sqlalchemy import select

from bot.db import utcnow
from bot.i18n import Catalogs
from bot.messages import Button, EditKind, Reply
from bot.models import ChannelAccount, OutboxMessage, OutboxStatus
from bot.outbox.queue import enqueue
from bot.services import surveys as surveys_service
from tests.channels.conftest import HEADERS_TG, VIBER_TOKEN, Bench
from tests.fakes.telegram_api import (
    EDIT_NOT_FOUND,
    EDIT_TOO_OLD,
    FakeTelegramAPI,
    tg_callback_update,
    tg_command_update,
    tg_contact_update,
    tg_location_update,
    tg_message_update,
)
from tests.fakes.viber_api import FakeViberAPI, viber_message_event, viber_signature
from tests.handlers.test_surveys import PROFILE, definition

T = Catalogs()


def t(key: str, **params: object) -> str:
    return T.gettext("en", key, **params)


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    markup = message.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


class Phone:
    """One Telegram citizen: sends updates to the webhook, lets the sender
    deliver, and presses buttons where the chat shows them."""

    def __init__(self, bench: Bench, tg: FakeTelegramAPI, user: int) -> None:
        self.bench, self.tg, self.user = bench, tg, user
        self.ids = itertools.count(1)

    async def post(self, update: dict[str, Any]) -> None:
        response = await self.bench.client.post("/webhooks/telegram", json=update,
                                                headers=HEADERS_TG)
        assert response.status_code == 200
        await self.bench.deliver()

    async def command(self, text: str) -> None:
        await self.post(tg_command_update(next(self.ids), self.user, text))

    async def type(self, text: str) -> None:
        await self.post(tg_message_update(next(self.ids), self.user, text))

    def live(self, prefix: str) -> tuple[int, str, str]:
        """The message id, payload and label of the first live button whose
        payload starts with `prefix`, newest message first."""
        for message in reversed(self.tg.live_keyboards(self.user)):
            for button in buttons(message):
                if button["callback_data"].startswith(prefix):
                    return message["message_id"], button["callback_data"], button["text"]
        raise AssertionError(f"no live button {prefix!r} in the chat")

    async def press(self, prefix: str, *, on: int | None = None) -> tuple[int, str]:
        """Tap a live button; returns the id of the message it was on and its label."""
        message_id, payload, label = self.live(prefix)
        await self.post(tg_callback_update(next(self.ids), self.user, payload,
                                           message_id=on or message_id))
        return message_id, label

    def message(self, message_id: int) -> dict[str, Any]:
        return next(m for m in self.tg.messages(self.user) if m["message_id"] == message_id)

    def last(self) -> dict[str, Any]:
        return self.tg.messages(self.user)[-1]

    def sent_texts(self) -> list[str]:
        return [str(c.params["text"]) for c in self.tg.delivered("sendMessage")
                if str(c.params["chat_id"]) == str(self.user)]

    def assert_clean(self) -> None:
        """No live buttons but under the last message, and no reply keyboard up."""
        live = [m["message_id"] for m in self.tg.live_keyboards(self.user)]
        assert live in ([], [self.last()["message_id"]]), live
        assert self.tg.reply_keyboard(self.user) is None

    async def onboard(self) -> None:
        await self.command("/start")
        await self.press("lang:en")
        await self.press("privacy:ok")


def outbox_rows(bench: Bench) -> list[OutboxMessage]:
    with bench.runtime.db.read_session() as session:
        rows = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        for row in rows:
            session.expunge(row)
        return rows


# --- a pressed button settles its message ---------------------------------------------

async def test_a_pressed_button_leaves_its_choice_and_no_buttons(
        bench: Bench, tg: FakeTelegramAPI) -> None:
    phone = Phone(bench, tg, 8101)
    await phone.command("/start")
    welcome = phone.last()
    welcome_id, label = await phone.press("lang:en")
    edit = tg.delivered("editMessageText")[-1].params
    assert int(edit["message_id"]) == welcome_id
    assert "reply_markup" not in edit  # an edit without one takes the buttons away
    shown = phone.message(welcome_id)
    assert shown["text"] == f"{welcome['text']}\n\n✓ {label}" and "reply_markup" not in shown
    assert label == "English"
    # The edit went before the next question, which is the only one with buttons.
    assert tg.calls_to("editMessageText")[-1].at <= tg.delivered("sendMessage")[-1].at
    assert [m["message_id"] for m in tg.live_keyboards(8101)] == [phone.last()["message_id"]]


async def test_an_old_button_pressed_twice_is_not_modified_and_sends_nothing_new(
        bench: Bench, tg: FakeTelegramAPI) -> None:
    """A double tap: the second press arrives after the first settled the
    message; Telegram answers "message is not modified", recorded, no new message."""
    phone = Phone(bench, tg, 8102)
    await phone.onboard()
    await phone.command("/notices")
    await phone.press("ntc:where")
    where_id, _ = await phone.press("ntc:set:klokot")
    sent = len(phone.sent_texts())
    await phone.post(tg_callback_update(next(phone.ids), 8102, "ntc:set:klokot",
                                        message_id=where_id))
    refused = tg.calls_to("editMessageText")[-1]
    assert refused.status == 400 and "message is not modified" in str(refused.response)
    settle = [r for r in outbox_rows(bench) if (r.body.get("edit") == str(where_id))][-1]
    assert settle.status is OutboxStatus.sent and "not modified" in (settle.last_error or "")
    # Only the settings again (the handler's answer), no copy of the choice.
    assert len(phone.sent_texts()) == sent + 1
    assert not phone.sent_texts()[-1].startswith("✓")


@pytest.mark.parametrize("refusal", ["deleted", "too_old"])
async def test_a_refused_settle_is_recorded_and_the_choice_sent_anew(
        bench: Bench, tg: FakeTelegramAPI, refusal: str) -> None:
    phone = Phone(bench, tg, 8103)
    await phone.command("/start")
    welcome = phone.last()["message_id"]
    if refusal == "deleted":
        tg.delete_by_user(8103, welcome)
    else:
        tg.make_uneditable(8103, welcome)
    await phone.post(tg_callback_update(next(phone.ids), 8103, "lang:en", message_id=welcome))
    refused = tg.calls_to("editMessageText")[-1]
    expected = EDIT_TOO_OLD if refusal == "too_old" else EDIT_NOT_FOUND
    assert refused.status == 400 and refused.response["description"] == expected
    # The chat goes on: the choice as a message of its own, then the next question.
    choice, question = phone.sent_texts()[-2:]
    assert choice == "✓ English" and question.startswith(t("privacy.notice")[:10])
    settle = next(r for r in outbox_rows(bench) if r.body.get("edit") == str(welcome))
    assert settle.status is OutboxStatus.sent
    assert "edit refused" in (settle.last_error or "")
    assert expected.removeprefix("Bad Request: ").lower() in (settle.last_error or "").lower()
    await phone.press("privacy:ok")  # and nothing is stuck behind it
    assert phone.sent_texts()[-1] == t("menu.title")


async def test_a_button_under_a_message_never_sent_takes_nothing_away(
        bench: Bench, tg: FakeTelegramAPI) -> None:
    """A message we have no record of (its text gone with retention): only its
    buttons can go; Telegram does not find it, and the chat goes on."""
    phone = Phone(bench, tg, 8110)
    await phone.command("/start")
    sent = len(phone.sent_texts())
    await phone.post(tg_callback_update(next(phone.ids), 8110, "lang:en", message_id=99_999))
    [refused] = [c for c in tg.calls_to("editMessageReplyMarkup")
                 if int(c.params["message_id"]) == 99_999]
    assert refused.status == 400 and refused.response["description"] == EDIT_NOT_FOUND
    assert len(phone.sent_texts()) == sent + 1  # only the next question
    assert not tg.live_keyboards(8110)[:-1]  # the welcome's buttons went all the same
    settle = next(r for r in outbox_rows(bench) if r.body.get("edit") == "99999")
    assert settle.status is OutboxStatus.sent and "nothing to send" in (settle.last_error or "")


# --- toggles redraw the same message --------------------------------------------------

def open_survey(bench: Bench) -> str:
    with bench.runtime.db.session() as session:
        survey = surveys_service.create(session, PROFILE, definition(), by="info1",
                                        now=utcnow())
        surveys_service.publish(session, survey, utcnow())
        return survey.slug


async def walk_survey(phone: Phone) -> int:
    """To the multiple-choice question; returns the id of its message."""
    await phone.command("/survey")
    await phone.press("srv:citizens-2026:start")
    await phone.press("srv:citizens-2026:0:v4")
    await phone.press("srv:citizens-2026:1:o1")
    return phone.live("srv:citizens-2026:2:o0")[0]


async def test_survey_ticks_redraw_the_question_and_the_walk_leaves_no_live_buttons(
        bench: Bench, tg: FakeTelegramAPI) -> None:
    phone = Phone(bench, tg, 8104)
    open_survey(bench)
    await phone.onboard()
    question = await walk_survey(phone)
    sent = len(phone.sent_texts())
    assert await phone.press("srv:citizens-2026:2:o0") == (question, "▫️ Roads")
    assert await phone.press("srv:citizens-2026:2:o2") == (question, "▫️ Jobs")
    assert len(phone.sent_texts()) == sent  # no new message for a tick
    labels = [b["text"] for b in buttons(phone.message(question))]
    assert labels[:3] == ["✅ Roads", "▫️ Water", "✅ Jobs"]
    await phone.press("srv:citizens-2026:2:o0")  # untick
    assert buttons(phone.message(question))[0]["text"] == "▫️ Roads"
    _, done = await phone.press("srv:citizens-2026:2:done")
    assert phone.message(question)["text"].endswith(f"✓ {done}")
    await phone.press("srv:citizens-2026:3:skip")
    assert phone.sent_texts()[-1] == t("surveys.thanks")
    phone.assert_clean()
    # Every question left behind shows what was answered.
    chosen = [m["text"].rsplit("\n", 1)[-1] for m in phone.tg.messages(8104)
              if m["text"].startswith(t("surveys.question", n=1, total=4, text="")[:8])]
    assert chosen == ["✓ 4", "✓ Radio", f"✓ {done}", "✓ " + t("surveys.skip")]


async def test_a_tick_on_a_message_gone_is_sent_as_a_new_question(
        bench: Bench, tg: FakeTelegramAPI) -> None:
    phone = Phone(bench, tg, 8105)
    open_survey(bench)
    await phone.onboard()
    question = await walk_survey(phone)
    tg.delete_by_user(8105, question)
    await phone.post(tg_callback_update(next(phone.ids), 8105, "srv:citizens-2026:2:o1",
                                        message_id=question))
    redrawn = phone.last()
    assert redrawn["message_id"] != question
    assert [b["text"] for b in buttons(redrawn)][:3] == ["▫️ Roads", "✅ Water", "▫️ Jobs"]
    row = [r for r in outbox_rows(bench) if r.body.get("edit") == str(question)][-1]
    assert "message to edit not found" in (row.last_error or "").lower()
    await phone.press("srv:citizens-2026:2:o0")  # the new message is the one that changes
    assert [b["text"] for b in buttons(phone.message(redrawn["message_id"]))][:2] == [
        "✅ Roads", "✅ Water"]


async def test_notice_topics_toggle_on_the_same_message(bench: Bench,
                                                       tg: FakeTelegramAPI) -> None:
    phone = Phone(bench, tg, 8106)
    await phone.onboard()
    await phone.command("/notices")
    await phone.press("ntc:where")
    await phone.press("ntc:set:klokot")
    settings = phone.last()["message_id"]
    sent = len(phone.sent_texts())
    topic = PROFILE.notice_topics[0]
    assert (await phone.press(f"ntc:t:{topic.code}"))[0] == settings
    assert (await phone.press(f"ntc:t:{topic.code}"))[0] == settings
    assert (await phone.press(f"ntc:t:{topic.code}"))[0] == settings
    assert len(phone.sent_texts()) == sent
    assert buttons(phone.message(settings))[0]["text"] == "✅ " + topic.label("en")
    assert phone.message(settings)["text"] == t("notices.settings", where="Klokot", count=1)


# --- reply keyboards go when their step is done -----------------------------------------

async def test_a_complaint_on_telegram_leaves_a_clean_history(bench: Bench,
                                                             tg: FakeTelegramAPI) -> None:
    phone = Phone(bench, tg, 8107)
    await phone.onboard()
    await phone.command("/complaint")
    for prefix in ("ckind:complaint", "ccat:roads", "cset:vrbovac"):
        await phone.press(prefix)
    await phone.type("A deep pothole on the road by the bridge in Vrbovac.")
    await phone.press("cph:done")
    assert (tg.reply_keyboard(8107) or {})["keyboard"][0][0]["request_location"] is True
    await phone.post(tg_location_update(next(phone.ids), 8107, 42.3912, 21.4134))
    # The location keyboard went with a note, before the inline question came.
    note, question = tg.delivered("sendMessage")[-2:]
    assert note.params["text"] == t("keyboard.location_received")
    assert note.params["reply_markup"] == {"remove_keyboard": True}
    assert question.params["text"] == t("complaints.ask_anonymity")
    assert tg.reply_keyboard(8107) is None
    await phone.press("canon:no")
    await phone.press("cconf:yes")
    assert "C-" in phone.last()["text"]
    phone.assert_clean()


async def test_a_typed_address_also_takes_the_location_keyboard_away(
        bench: Bench, tg: FakeTelegramAPI) -> None:
    phone = Phone(bench, tg, 8108)
    await phone.onboard()
    await phone.command("/complaint")
    for prefix in ("ckind:suggestion", "ccat:roads", "cset:klokot"):
        await phone.press(prefix)
    await phone.type("A bench for the bus stop by the school would help.")
    await phone.press("cph:done")
    await phone.type("By the primary school in Klokot")
    assert phone.sent_texts()[-2] == t("keyboard.closed")
    assert tg.reply_keyboard(8108) is None


@pytest.mark.clock  # bookable days and slots
async def test_a_booking_on_telegram_leaves_a_clean_history(bench: Bench,
                                                           tg: FakeTelegramAPI) -> None:
    phone = Phone(bench, tg, 8109)
    await phone.onboard()
    await phone.command("/reception")
    await phone.press("rk:regular")
    day_message, day = await phone.press("rday:")
    assert phone.message(day_message)["text"].endswith(f"✓ {day}")
    await phone.press("rtime:")
    await phone.type("The road to Mogila needs repair.")
    await phone.type("Petar Petrović")
    assert (tg.reply_keyboard(8109) or {})["keyboard"][0][0]["request_contact"] is True
    await phone.post(tg_contact_update(next(phone.ids), 8109, "38344555666"))
    note, question = tg.delivered("sendMessage")[-2:]
    assert note.params["text"] == t("keyboard.phone_received")
    assert note.params["reply_markup"] == {"remove_keyboard": True}
    assert question.params["text"] == t("reception.ask_settlement")
    await phone.press("rset:mogila")
    await phone.press("rconf:yes")
    assert "R-" in phone.last()["text"]
    phone.assert_clean()


async def test_viber_gets_no_edits_and_no_keyboard_notes(bench: Bench,
                                                        viber: FakeViberAPI) -> None:
    """Viber cannot edit and shows only the last message's keyboard: nothing
    of the tidying is queued for it; and were a settle or a note queued, the
    sender skips it and the chat goes on."""
    user = "vNoEdits=="

    async def send(event: dict[str, Any]) -> None:
        body = json.dumps(event).encode()
        response = await bench.client.post(
            "/webhooks/viber", content=body,
            headers={"X-Viber-Content-Signature": viber_signature(body, VIBER_TOKEN)})
        assert response.status_code == 200
        await bench.deliver()

    for text in ("/start", "lang:en", "privacy:ok", "/complaint", "ckind:complaint",
                 "ccat:waste", "cset:klokot", "The bins were not emptied for two weeks.",
                 "cph:done"):
        await send(viber_message_event(user, text))
    await send(viber_message_event(user, location=(42.3701, 21.3802)))
    rows = [r for r in outbox_rows(bench) if r.channel == "viber"]
    assert not [r for r in rows if r.body.get("edit") or r.body.get("closes_request")]
    assert rows[-1].body["text"] == t("complaints.ask_anonymity")
    assert viber.delivered("send_message")[-1].params["text"] == t("complaints.ask_anonymity")

    sent = len(viber.delivered("send_message"))
    with bench.runtime.db.session() as session:
        account = session.scalars(select(ChannelAccount).where(
            ChannelAccount.channel == "viber")).one()
        for reply in (Reply("", edit="1", edit_kind=EditKind.settle),
                      Reply(t("keyboard.closed"), closes_request=True),
                      Reply("Redrawn", [[Button("Menu", "nav:menu")]], edit="1"),
                      Reply("After")):
            enqueue(session, account, reply, profile=bench.runtime.profile)
    await bench.deliver()
    statuses = [r.status for r in outbox_rows(bench)[-4:]]
    assert statuses == [OutboxStatus.skipped, OutboxStatus.skipped, OutboxStatus.sent,
                        OutboxStatus.sent]
    assert [c.params["text"] for c in viber.delivered("send_message")[sent:]] == [
        "Redrawn", "After"]
