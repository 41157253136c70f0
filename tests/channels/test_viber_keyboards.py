"""Viber's keyboard rules (REST bot API, "Keyboards"), for every keyboard the
bot can send: each row's `Columns` add up to 6 (Viber lays buttons out in
order, so a short row pulls the next row's buttons up), at most 12 rows and
24 buttons a screen — longer keyboards are paged with "More…" —, labels
within 250 characters, `min_api_version` as high as the features used, and
the input field hidden only where only a button makes sense.

The keyboards come from walking every flow in every locale through the
engine (every button pressed, every typed step answered), rendered by the
Viber channel; then the paging and a rejected keyboard (`failed`) go end to
end through the webhook and the fake Viber API."""

from __future__ import annotations

import json
import re
from collections import deque
from typing import Any

import pytest
from sqlalchemy import select
from viberbot.api.viber_requests import ViberFailedRequest, create_request

from bot.channels import viber
from bot.clock import FixedClock
from bot.db import Database, utcnow
from bot.engine.dispatcher import Engine
from bot.i18n import Catalogs
from bot.messages import Button, Contact, Incoming, Kind, Location, Reply
from bot.models import ChannelAccount, Conversation, OutboxMessage, OutboxStatus
from bot.profile import get_profile
from bot.services import surveys as survey_service
from tests.channels.conftest import VIBER_TOKEN, Bench
from tests.factories import make_runtime
from tests.fakes.viber_api import (
    FakeViberAPI,
    viber_failed,
    viber_message_event,
    viber_signature,
)

T = Catalogs()
PROFILE = get_profile()
LOCALES = ["sr_Latn", "sr_Cyrl", "sq", "en"]
SENDER = {"name": "Opština Klokot"}


# ------------------------------------------------------------------ the rules

def check_rules(reply: Reply) -> None:
    """Every page of the reply's keyboard, as the Viber channel sends it."""
    pages = viber.pages(reply)
    offered = {b.payload for row in reply.buttons for b in row}
    shown: set[str] = set()
    for number in range(max(1, len(pages))):
        page = Reply.from_json({**reply.to_json(), "page": number})
        bodies = viber.render_messages(page, SENDER)
        for body in bodies:
            keyboard = body.get("keyboard")
            assert body["min_api_version"] == viber.api_level(keyboard), body
            if keyboard is None:
                continue
            keys = keyboard["Buttons"]
            assert keyboard["InputFieldState"] == ("regular" if reply.free_text else "hidden")
            assert len(keys) <= viber.MAX_BUTTONS, (reply.text, len(keys))
            rows, filled = 0, 0
            for key in keys:  # as Viber lays them out: rows of 6 columns, in order
                assert 1 <= key["Columns"] <= 6 and key["Rows"] == 1, key
                filled += key["Columns"]
                assert filled <= 6, f"a row over 6 columns in {reply.text!r}"
                if filled == 6:
                    rows, filled = rows + 1, 0
            assert filled == 0, f"a row short of 6 columns in {reply.text!r}: {keys}"
            assert rows <= viber.MAX_ROWS, (reply.text, rows)
            for key in keys:
                assert 0 < len(key["Text"]) <= viber.TEXT_MAX_LABEL
                assert key["ActionType"] in ("reply", "share-phone", "location-picker")
                body_ = key["ActionBody"]
                if body_.startswith("more:"):
                    assert int(body_[5:]) < len(pages)
                    assert key["Text"].startswith(reply.more_label or "…")
                else:
                    shown.add(body_)
            # the citizen cannot type where the field is hidden: a way on is shown
            if keyboard["InputFieldState"] == "hidden":
                assert any(k["ActionType"] == "reply" for k in keys)
    assert offered <= shown, f"buttons never shown: {offered - shown}"


def test_time_slots_go_three_to_a_row() -> None:
    slots = [Button(f"{9 + i // 3:02d}:{i % 3 * 20:02d}", f"rtime:{i}") for i in range(15)]
    reply = Reply("When?", [slots[i:i + 4] for i in range(0, 15, 4)]
                  + [[Button("⬅ Back", "nav:back"), Button("✖ Cancel", "nav:cancel")]])
    keys = viber.render_keyboard(reply)["Buttons"]  # type: ignore[index]
    assert [k["Columns"] for k in keys] == [2] * 15 + [3, 3]
    assert [k["ActionBody"] for k in keys[:15]] == [f"rtime:{i}" for i in range(15)]
    check_rules(reply)


@pytest.mark.parametrize(("low", "high"), [(1, 5), (0, 10), (1, 7), (1, 3)])
def test_scale_values_are_sized_to_fit(low: int, high: int) -> None:
    values = [Button(str(v), f"srv:s:0:v{v}") for v in range(low, high + 1)]
    reply = Reply("How much?", [values[i:i + 6] for i in range(0, len(values), 6)]
                  + [[Button("Skip", "srv:s:0:skip"), Button("Stop", "srv:s:0:stop")]])
    check_rules(reply)
    keys = viber.render_keyboard(reply)["Buttons"]  # type: ignore[index]
    assert [k["ActionBody"] for k in keys[:len(values)]] == [b.payload for b in values]
    widths = [k["Columns"] for k in keys[:len(values)]]
    assert set(widths) <= {1, 2}, widths  # never a lone scale value across the screen
    assert len(widths) > 6 or sum(widths) == 6  # up to six values: one row, in order


def test_two_buttons_share_a_row_and_one_fills_it() -> None:
    reply = Reply("Sure?", [[Button("✅ Yes", "forget:yes"), Button("No", "forget:no")],
                            [Button("☰ Menu", "nav:menu")]])
    keys = viber.render_keyboard(reply)["Buttons"]  # type: ignore[index]
    assert [k["Columns"] for k in keys] == [3, 3, 6]


def test_a_long_list_is_paged_and_every_page_keeps_the_way_out() -> None:
    options = [[Button(f"Option {i}", f"srv:s:0:o{i}")] for i in range(14)]
    nav = [Button("Skip", "srv:s:0:skip"), Button("Stop", "srv:s:0:stop")]
    reply = Reply("Pick one", [*options, nav], more_label="More…")
    pages = viber.pages(reply)
    assert len(pages) == 2
    for number, page in enumerate(pages):
        assert len(page) <= 12
        more, last = page[-2], page[-1]
        assert more[0]["ActionBody"] == f"more:{(number + 1) % 2}"
        assert [k["ActionBody"] for k in last] == ["srv:s:0:skip", "srv:s:0:stop"]
    assert pages[0][-2][0]["Text"] == "More… (2/2)"
    check_rules(reply)


def test_the_input_field_hides_only_where_only_a_button_makes_sense() -> None:
    only_buttons = Reply("Pick", [[Button("A", "a:1")]], free_text=False)
    assert viber.render_keyboard(only_buttons)["InputFieldState"] == "hidden"  # type: ignore[index]
    assert viber.render_keyboard(Reply("Pick", [[Button("A", "a:1")]]))[  # type: ignore[index]
        "InputFieldState"] == "regular"
    plain = viber.render_messages(Reply("Just text"), SENDER)
    assert plain == [{"sender": SENDER, "type": "text", "text": "Just text", "min_api_version": 1}]
    asking = viber.render_messages(Reply("Phone?", request="contact", request_label="📱"), SENDER)
    assert asking[0]["keyboard"]["Buttons"][0]["ActionType"] == "share-phone"
    assert asking[0]["min_api_version"] == 4  # InputFieldState and Silent are of level 4


# ------------------------------------------------------------ every flow's keyboards

SURVEY: dict[str, Any] = {
    "slug": "keyboards-2026", "title": {loc: "Survey" for loc in LOCALES}, "anonymous": True,
    "questions": [
        {"key": "often", "type": "scale", "min": 0, "max": 10, "required": True,
         "text": {loc: "How often?" for loc in LOCALES}},
        {"key": "where", "type": "single", "required": False,
         "text": {loc: "Where from?" for loc in LOCALES},
         "options": [{"key": f"o{i}", "text": {loc: f"Village number {i} of Klokot"
                                               for loc in LOCALES}} for i in range(12)]},
        {"key": "what", "type": "multiple", "max_choices": 3, "required": False,
         "text": {loc: "What matters?" for loc in LOCALES},
         "options": [{"key": f"m{i}", "text": {loc: f"Topic {i}" for loc in LOCALES}}
                     for i in range(12)]},
        {"key": "note", "type": "text", "required": False,
         "text": {loc: "Anything else?" for loc in LOCALES}},
    ]}
TEXT_ANSWER = "Ulica Kralja Petra 12: pukla je cev kod škole, voda teče na put."
# Erasing the citizen would end the walk, another language change the locale
# walked (their keyboards are still checked).
NEVER_PRESS = ("forget:yes", "lang:")
MAX_NODES = 400


def _shape(payload: str) -> str:
    return re.sub(r"\d+", "#", payload)


class Walker:
    """Presses every button and answers every typed step of every flow, from
    each command, restoring the conversation before each try."""

    def __init__(self, engine: Engine, db: Database, user: str) -> None:
        self.engine, self.db, self.user = engine, db, user
        self.replies: list[Reply] = []
        self.keys = 0

    def send(self, kind: Kind, **fields: Any) -> list[Reply]:
        self.keys += 1
        incoming = Incoming(channel="viber", user_id=self.user, chat_id=self.user, kind=kind,
                            update_key=f"walk:{self.user}:{self.keys}", **fields)
        replies = self.engine.handle(incoming).replies
        self.replies += replies
        return replies

    def conversation(self) -> tuple[str | None, dict[str, Any]]:
        with self.db.read_session() as session:
            row = session.scalars(select(Conversation).join(ChannelAccount).where(
                ChannelAccount.external_id == self.user)).one()
            return row.state, dict(row.data)

    def restore(self, state: str | None, data: dict[str, Any]) -> None:
        with self.db.session() as session:
            row = session.scalars(select(Conversation).join(ChannelAccount).where(
                ChannelAccount.external_id == self.user)).one()
            row.state, row.data = state, data

    def inputs(self, state: str | None, replies: list[Reply]) -> list[dict[str, Any]]:
        tried: set[str] = set()
        found: list[dict[str, Any]] = []
        for reply in replies:
            for row in reply.buttons:
                for button in row:
                    if (button.payload.startswith(NEVER_PRESS)
                            or _shape(button.payload) in tried):
                        continue
                    tried.add(_shape(button.payload))
                    found.append({"kind": Kind.button, "payload": button.payload})
        accepts = self.engine.routes.states[state].accepts if state else frozenset()
        if Kind.text in accepts:
            found.append({"kind": Kind.text, "text": TEXT_ANSWER})
        if Kind.contact in accepts:
            found.append({"kind": Kind.contact, "contact": Contact("+38344123456")})
        if Kind.location in accepts:
            found.append({"kind": Kind.location, "location": Location(42.37, 21.37)})
        return found

    def walk(self, roots: list[dict[str, Any]]) -> int:
        seen: set[tuple[str | None, tuple[str, ...]]] = set()
        queue: deque[tuple[str | None, dict[str, Any], dict[str, Any]]] = deque()
        start = self.conversation()
        queue.extend((start[0], start[1], root) for root in roots)
        nodes = 0
        while queue and nodes < MAX_NODES:
            state, data, step = queue.popleft()
            self.restore(state, data)
            replies = self.send(**step)
            after_state, after_data = self.conversation()
            key = (after_state, tuple(sorted({_shape(b.payload) for r in replies
                                              for row in r.buttons for b in row})))
            if key in seen:
                continue
            seen.add(key)
            nodes += 1
            queue.extend((after_state, after_data, nxt)
                         for nxt in self.inputs(after_state, replies))
        return nodes


@pytest.mark.parametrize("locale", LOCALES)
def test_every_keyboard_of_every_flow_keeps_vibers_rules(db: Database, clock: FixedClock,
                                                        locale: str) -> None:
    runtime = make_runtime(db)
    with db.session() as session:
        survey = survey_service.create(session, PROFILE, SURVEY, by="info1", now=utcnow())
        survey_service.publish(session, survey, utcnow())
    walker = Walker(runtime.engine, db, f"vWalk{locale}==")
    walker.send(Kind.command, text="/start", command="start")
    walker.send(Kind.button, payload=f"lang:{locale}")
    walker.send(Kind.button, payload="privacy:ok")
    onboarding, walker.replies = walker.replies, []
    for reply in onboarding:  # before the language was chosen: the profile's default
        check_rules(reply)
    commands = sorted(c for c in runtime.engine.routes.commands if not c.startswith("_"))
    roots = [{"kind": Kind.command, "text": f"/{c}", "command": c} for c in commands]
    roots += [{"kind": Kind.button, "payload": f"menu:{entry.code}"}
              for entry in runtime.engine.routes.menu]
    roots += [{"kind": Kind.button, "payload": f"srv:{SURVEY['slug']}:start"},
              {"kind": Kind.text, "text": "hello"}]
    walker.walk(roots)
    clock.advance(minutes=1)
    walker.walk(roots)  # again, now that /status has bookings, requests and complaints

    with_keyboards = [r for r in walker.replies if r.buttons or r.request]
    prefixes = {b.payload.split(":")[0] for r in with_keyboards for row in r.buttons for b in row}
    # the walk reached every flow
    assert {"lang", "menu", "nav", "rk", "rday", "rtime", "ckind", "ccat", "cset",
            "ddep", "dform", "ntc", "srv"} <= prefixes, prefixes
    assert any(len(viber.pages(r)) > 1 for r in with_keyboards), "a paged keyboard"
    assert any(not r.free_text for r in with_keyboards), "a step that takes only buttons"
    done: set[str] = set()
    for reply in with_keyboards:
        key = json.dumps(reply.to_json(), sort_keys=True)
        if key not in done:
            done.add(key)
            check_rules(reply)
            assert reply.more_label == T.gettext(locale, "button.more")


# ------------------------------------------------------------------ through the webhook

async def post(bench: Bench, event: dict[str, Any]) -> None:
    body = json.dumps(event).encode()
    response = await bench.client.post("/webhooks/viber", content=body, headers={
        "Content-Type": "application/json",
        "X-Viber-Content-Signature": viber_signature(body, VIBER_TOKEN)})
    assert response.status_code == 200


async def say(bench: Bench, user: str, text: str, locale: str) -> None:
    await post(bench, viber_message_event(user, text, language=locale[:2]))
    await bench.deliver()


async def onboard(bench: Bench, user: str, locale: str) -> None:
    for text in ("/start", f"lang:{locale}", "privacy:ok"):
        await say(bench, user, text, locale)


@pytest.mark.parametrize("locale", LOCALES)
async def test_more_turns_the_page_of_a_long_keyboard(bench: Bench, viber: FakeViberAPI,
                                                      locale: str) -> None:
    with bench.runtime.db.session() as session:
        survey = survey_service.create(session, PROFILE, {**SURVEY, "questions": [
            SURVEY["questions"][1]]}, by="info1", now=utcnow())
        survey_service.publish(session, survey, utcnow())
    user = f"vMore{locale}=="
    await onboard(bench, user, locale)
    await say(bench, user, "/survey", locale)  # its buttons open the survey
    await say(bench, user, f"srv:{SURVEY['slug']}:start", locale)
    question = viber.delivered("send_message")[-1].params
    first = [b["ActionBody"] for b in question["keyboard"]["Buttons"]]
    assert "more:1" in first and f"srv:{SURVEY['slug']}:0:o11" not in first
    more = next(b for b in question["keyboard"]["Buttons"] if b["ActionBody"] == "more:1")
    assert more["Text"].startswith(T.gettext(locale, "button.more"))

    await say(bench, user, "more:1", locale)
    page = viber.delivered("send_message")[-1].params
    # under a short "More… (2/2)": the question stays above
    assert page["text"] == f"{T.gettext(locale, 'button.more')} (2/2)"
    second = [b["ActionBody"] for b in page["keyboard"]["Buttons"]]
    assert f"srv:{SURVEY['slug']}:0:o11" in second and "more:0" in second

    await say(bench, user, f"srv:{SURVEY['slug']}:0:o11", locale)  # an option of page 2
    with bench.runtime.db.read_session() as session:
        assert session.scalars(select(Conversation)).one().state is None  # survey done
    assert T.gettext(locale, "surveys.thanks")[:8] in viber.delivered("send_message")[-1].params[
        "text"]


@pytest.mark.parametrize("locale", LOCALES)
async def test_a_rejected_keyboard_is_sent_again_as_plain_text(bench: Bench, viber: FakeViberAPI,
                                                               locale: str) -> None:
    user = f"vFailed{locale}=="
    await say(bench, user, "/start", locale)
    await say(bench, user, f"lang:{locale}", locale)
    privacy = viber.delivered("send_message")[-1]
    token = int(privacy.response["message_token"])
    event = viber_failed(user, token, "keyboard is not valid")
    parsed = create_request(event)  # what viberbot reads in Viber's callback
    assert isinstance(parsed, ViberFailedRequest) and parsed.message_token == token

    with bench.runtime.db.read_session() as session:
        last_wrote = session.scalars(select(ChannelAccount)).one().last_inbound_at
    await post(bench, event)
    await bench.deliver()
    with bench.runtime.db.read_session() as session:
        # Viber's callback is not the citizen writing: their 24-hour session is theirs
        assert session.scalars(select(ChannelAccount)).one().last_inbound_at == last_wrote
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        failed = next(r for r in rows if r.provider_message_id == str(token))
        assert failed.status is OutboxStatus.failed
        assert "keyboard is not valid" in (failed.last_error or "")
        assert rows[-1].status is OutboxStatus.sent and rows[-1].id > failed.id
    again = viber.delivered("send_message")[-1].params
    assert "keyboard" not in again
    assert again["text"].startswith(privacy.params["text"])
    assert T.gettext(locale, "keyboard.type_answer") in again["text"]
    assert f"• {T.gettext(locale, 'privacy.continue')}" in again["text"]

    sent = len(viber.delivered("send_message"))
    await post(bench, event)  # Viber delivers the callback again: nothing more is sent
    await bench.deliver()
    assert len(viber.delivered("send_message")) == sent

    await say(bench, user, T.gettext(locale, "privacy.continue"), locale)  # typed, it works
    assert viber.delivered("send_message")[-1].params["text"] == T.gettext(locale, "menu.title")


async def test_a_failed_callback_for_an_unknown_message_changes_nothing(
        bench: Bench, viber: FakeViberAPI) -> None:
    await post(bench, viber_failed("vNobody==", 123_456, "whatever"))
    await bench.deliver()
    assert viber.delivered("send_message") == []
    with bench.runtime.db.read_session() as session:
        assert session.scalars(select(OutboxMessage)).all() == []
        assert session.scalars(select(ChannelAccount)).all() == []  # nobody made up


def test_only_a_button_step_hides_the_input_field(db: Database) -> None:
    """The language step takes only a button; the complaint description only text."""
    runtime = make_runtime(db)
    walker = Walker(runtime.engine, db, "vHints==")
    [language] = walker.send(Kind.command, text="/start", command="start")
    assert language.free_text is False
    walker.send(Kind.button, payload="lang:en")
    walker.send(Kind.button, payload="privacy:ok")
    [menu] = walker.send(Kind.command, text="/menu", command="menu")
    assert menu.free_text is True  # idle: anything may be typed

