"""Typed answers on Viber (#17, items 3 and 5): a citizen who types instead of
tapping is understood, in each language — labels without their symbols, in
either Serbian script, without diacritics, unique beginnings, yes/no and the
way-out words; links and free text are never buttons; a mistake costs one
message (the error on top of the question, with its keyboard). And the
smaller ones: the greeting when the phone says only "sr", the sender name in
the citizen's language, /status buttons, /help. All through the webhook, the
Viber callback parser and the fake Viber API."""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

import pytest
from sqlalchemy import select

from bot.db import Database, utcnow
from bot.engine.typed import Offered, Press, normalize, understand
from bot.i18n import Catalogs
from bot.models import ChannelAccount, Citizen, Complaint
from bot.profile import get_profile, serbian_cyrillic
from handlers import build_routes
from tests.channels.conftest import VIBER_TOKEN, Bench
from tests.factories import make_citizen, make_complaint
from tests.fakes.viber_api import (
    FakeViberAPI,
    viber_conversation_started,
    viber_message_event,
    viber_signature,
)

T = Catalogs()
PROFILE = get_profile()
LOCALES = PROFILE.enabled_locales
USER = "typedUser01=="


class Chat:
    """One Viber citizen: what they send, and what the bot answered since."""

    def __init__(self, bench: Bench, viber: FakeViberAPI, locale: str | None) -> None:
        self.bench, self.viber, self.locale = bench, viber, locale
        self.seen = 0

    async def post(self, event: dict[str, Any]) -> Any:
        body = json.dumps(event).encode()
        response = await self.bench.client.post(
            "/webhooks/viber", content=body,
            headers={"Content-Type": "application/json",
                     "X-Viber-Content-Signature": viber_signature(body, VIBER_TOKEN)})
        assert response.status_code == 200
        return response

    async def say(self, text: str) -> list[Any]:
        """Send `text` as typed (or as a button press: the same on Viber)."""
        await self.post(viber_message_event(USER, text, language="sr"))
        await self.bench.deliver()
        calls = self.viber.delivered("send_message")
        new, self.seen = calls[self.seen:], len(calls)
        assert new, f"no answer to {text!r}"
        return new

    async def answer(self, text: str) -> Any:
        """The one message that answers `text`."""
        [only] = await self.say(text)
        return only


def keyboard(call: Any) -> list[tuple[str, str]]:
    buttons = (call.params.get("keyboard") or {}).get("Buttons", [])
    return [(b.get("Text", ""), b.get("ActionBody", "")) for b in buttons]


def payloads(call: Any) -> list[str]:
    return [payload for _, payload in keyboard(call)]


def label(call: Any, prefix: str) -> str:
    return next(text for text, payload in keyboard(call) if payload.startswith(prefix))


def without_symbols(text: str) -> str:
    return re.sub(r"^\W+", "", text).strip()


def plain(text: str) -> str:
    """Typed the lazy way: lower case, no diacritics."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", text.lower())
                   if not unicodedata.combining(ch))


def typed_otherwise(text: str, locale: str) -> str:
    """A label as a citizen would type it: Serbian in the other script (the
    Latin label for Cyrillic, the Cyrillic for Latin), others without
    diacritics; never with the leading symbol."""
    bare = without_symbols(text)
    if locale == "sr_Latn":
        return serbian_cyrillic(bare).lower()
    if locale == "sr_Cyrl":
        return plain(_latin_of(bare))
    return plain(bare)


def _latin_of(cyrillic: str) -> str:
    """The Serbian Latin label the Cyrillic one was transliterated from."""
    for key, value in _catalog("sr_Cyrl").items():
        if without_symbols(value) == cyrillic:
            return without_symbols(_catalog("sr_Latn")[key])
    raise AssertionError(f"no Latin for {cyrillic!r}")


def _catalog(locale: str) -> dict[str, str]:
    translations = T.translator(locale)
    return {key: translations(key) for key in _KEYS}


_KEYS = [f"complaints.kind.{k}" for k in ("complaint", "suggestion", "praise")]


@pytest.fixture
def citizen(db: Database, request: pytest.FixtureRequest) -> str:
    locale = request.param
    citizen_id = make_citizen(db, channel="viber", external_id=USER, language=locale)
    with db.session() as session:
        found = session.get(Citizen, citizen_id)
        assert found is not None
        found.privacy_acknowledged_at = utcnow()
    return str(locale)


def t(locale: str, key: str, **params: object) -> str:
    return T.gettext(locale, key, **params)


# --- labels, prefixes, words ----------------------------------------------------

@pytest.mark.parametrize("citizen", LOCALES, indirect=True)
async def test_a_typed_label_is_the_button(bench: Bench, viber: FakeViberAPI,
                                           citizen: str) -> None:
    chat = Chat(bench, viber, citizen)
    kinds = await chat.answer("/complaint")
    assert any(p.startswith("ckind:") for p in payloads(kinds))
    kind_label = label(kinds, "ckind:complaint")
    categories = await chat.answer(typed_otherwise(kind_label, citizen))
    assert any(p.startswith("ccat:") for p in payloads(categories)), categories.params["text"]

    # A unique beginning of one label (without its symbol) is that label.
    labels = [(without_symbols(text), p) for text, p in keyboard(categories)
              if p.startswith("ccat:")]
    wanted, payload = next((text, p) for text, p in labels if not any(
        plain(o).startswith(plain(text)[:4]) for o, q in labels if q != p))
    settlements = await chat.answer(wanted[:4])
    assert any(p.startswith("cset:") for p in payloads(settlements)), \
        (wanted, payload, settlements.params["text"])


@pytest.mark.parametrize("locale", LOCALES)
def test_a_counter_after_a_label_is_not_needed(locale: str) -> None:
    """"Готово (изабрано: 2)" is pressed by typing "Готово" — or "gotovo"."""
    done = t(locale, "surveys.done", count=2)
    buttons = [Offered(done, "srv:s:0:done", 0), Offered(t(locale, "surveys.stop"),
                                                         "srv:s:0:stop", 1)]
    word = without_symbols(re.sub(r"\s*\(.*\)$", "", done))
    assert understand(word, buttons, prefixes=False) == Press("srv:s:0:done")
    other = {"sr_Latn": serbian_cyrillic(word),  # the other script, no diacritics
             "sr_Cyrl": plain(re.sub(r"\s*\(.*\)$", "", t("sr_Latn", "surveys.done", count=2)))
             }.get(locale, plain(word))
    assert understand(other, buttons, prefixes=False) == Press("srv:s:0:done"), other


def test_the_examples_of_the_issue() -> None:
    assert normalize("Готово (изабрано: 2)") == normalize("gotovo") == "gotovo"
    assert normalize("✅ Potvrdi") == "potvrdi"
    assert normalize("✖ Otkaži") == normalize("otkazi") == normalize("Откажи")
    assert normalize("▫️ Đurđevdan") == "djurdjevdan"
    languages = [Offered("Srpski", "lang:sr_Latn", 0), Offered("Српски", "lang:sr_Cyrl", 0)]
    assert understand("Српски", languages, prefixes=True) == Press("lang:sr_Cyrl")
    assert understand("srpski", languages, prefixes=True) == Press("lang:sr_Latn")
    assert understand("https://maps.app.goo.gl/x", languages, prefixes=True) is None


@pytest.mark.clock
@pytest.mark.parametrize("citizen", LOCALES, indirect=True)
async def test_a_beginning_several_labels_share_is_asked_about(
        bench: Bench, viber: FakeViberAPI, citizen: str) -> None:
    """The reception days are all the same weekday: its first letters are
    asked about, in one message with the days' keyboard again."""
    chat = Chat(bench, viber, citizen)
    await chat.answer("/reception")
    days = await chat.answer("rk:regular")
    day_labels = [text for text, p in keyboard(days) if p.startswith("rday:")]
    assert len(day_labels) >= 2
    again = await chat.answer(plain(day_labels[0])[:3])
    assert again.params["text"].startswith(t(citizen, "error.ambiguous_choice",
                                             typed=plain(day_labels[0])[:3], options="")[:15])
    assert t(citizen, "reception.choose_day") in again.params["text"]
    assert payloads(again) == payloads(days)  # the same keyboard, in the same message


@pytest.mark.parametrize(("citizen", "no", "yes"),
                         [("sr_Latn", "Ne", "da"), ("sr_Cyrl", "не", "Да"), ("sq", "jo", "Po"),
                          ("en", "no", "YES")], indirect=["citizen"])
async def test_yes_and_no_without_buttons(bench: Bench, viber: FakeViberAPI, citizen: str,
                                          no: str, yes: str, db: Database) -> None:
    chat = Chat(bench, viber, citizen)
    confirm = await chat.answer("/forget")
    assert "forget:yes" in payloads(confirm)
    kept = await chat.answer(no)
    assert kept.params["text"].startswith(t(citizen, "forget.kept"))
    await chat.answer("/forget")
    citizen_id = _citizen_id(db)
    await chat.say(yes)
    with db.read_session() as session:
        erased = session.get(Citizen, citizen_id)
        assert erased is not None and erased.erased_at is not None


def _citizen_id(db: Database) -> int:
    with db.read_session() as session:
        return session.scalars(select(ChannelAccount.citizen_id).where(
            ChannelAccount.external_id == USER)).one()


WAY_OUT = {
    "sr_Latn": ("meni", "nazad", "otkazi"),
    "sr_Cyrl": ("мени", "назад", "откажи"),
    "sq": ("menu", "kthehu", "anulo"),
    "en": ("Menu", "back", "Cancel"),
}


@pytest.mark.parametrize("citizen", LOCALES, indirect=True)
async def test_the_way_out_words_work_without_a_slash(bench: Bench, viber: FakeViberAPI,
                                                      citizen: str) -> None:
    menu_word, back_word, cancel_word = WAY_OUT[citizen]
    chat = Chat(bench, viber, citizen)
    await chat.answer("/complaint")
    await chat.answer("ckind:complaint")
    # back from the category step: the kinds again
    kinds = await chat.answer(back_word)
    assert "ckind:complaint" in payloads(kinds)
    # "cancel" at the first step leaves the flow
    cancelled = await chat.answer(cancel_word)
    assert cancelled.params["text"] == t(citizen, "cancel.done")
    # "menu" anywhere, even where no button says so
    assert (await chat.answer(cancel_word)).params["text"] == t(citizen, "cancel.nothing")
    await chat.answer("/documents")  # the description step: free text, no menu button
    menu = await chat.answer(menu_word)
    assert menu.params["text"] == t(citizen, "menu.title")
    assert "nav:menu" not in payloads(menu) and len(keyboard(menu)) == len(build_routes().menu)


@pytest.mark.parametrize("citizen", LOCALES, indirect=True)
async def test_links_and_payloads_never_offered_are_not_buttons(
        bench: Bench, viber: FakeViberAPI, citizen: str, db: Database) -> None:
    chat = Chat(bench, viber, citizen)
    link = await chat.answer("https://maps.app.goo.gl/Xq1b2C3d4E5f6G7h8")
    assert link.params["text"] == t(citizen, "idle.not_understood")
    assert t(citizen, "error.stale_button") not in link.params["text"]
    other = "sq" if citizen != "sq" else "en"
    typed = await chat.answer(f"lang:{other}")  # a payload, but not on screen
    assert typed.params["text"] == t(citizen, "idle.not_understood")
    with db.read_session() as session:
        found = session.get(Citizen, _citizen_id(db))
        assert found is not None and found.language == citizen


@pytest.mark.parametrize("citizen", LOCALES, indirect=True)
async def test_a_link_at_the_address_step_is_the_address(bench: Bench, viber: FakeViberAPI,
                                                         citizen: str) -> None:
    chat = Chat(bench, viber, citizen)
    await chat.answer("/complaint")
    await chat.answer("ckind:complaint")
    categories = viber.delivered("send_message")[-1]
    await chat.answer(payloads(categories)[0])
    settlements = viber.delivered("send_message")[-1]
    await chat.answer(next(p for p in payloads(settlements) if p.startswith("cset:")))
    await chat.answer("The street light in front of the school is broken.")
    await chat.answer("cph:done")
    after = await chat.answer("https://maps.app.goo.gl/Xq1b2C3d4E5f6G7h8")
    assert "https://maps.app.goo.gl/Xq1b2C3d4E5f6G7h8" in after.params["text"] or \
        any(p.startswith("canon:") for p in payloads(after)), after.params["text"]


# --- one message for a mistake --------------------------------------------------

@pytest.mark.parametrize("citizen", LOCALES, indirect=True)
async def test_an_error_and_the_question_are_one_message_with_the_keyboard(
        bench: Bench, viber: FakeViberAPI, citizen: str) -> None:
    chat = Chat(bench, viber, citizen)
    kinds = await chat.answer("/complaint")
    again = await chat.answer("something that is no button")
    assert again.params["text"] == f"{t(citizen, 'error.expected_button')}\n\n" \
        f"{kinds.params['text']}"
    assert keyboard(again) == keyboard(kinds)


# --- the smaller ones -----------------------------------------------------------

async def test_a_phone_saying_only_sr_is_greeted_in_both_scripts(bench: Bench,
                                                                 viber: FakeViberAPI) -> None:
    chat = Chat(bench, viber, None)
    response = await chat.post(viber_conversation_started(USER, language="sr"))
    text = response.json()["text"]
    for locale in LOCALES:
        municipality = PROFILE.municipality_name(locale)
        assert t(locale, "start.welcome", municipality=municipality) in text, locale
    labels = [b["Text"] for b in response.json()["keyboard"]["Buttons"]]
    assert labels[:2] == ["Srpski", "Српски"]


@pytest.mark.parametrize("language", ["sr-Cyrl", "sr-Latn"])
async def test_a_phone_naming_its_script_is_greeted_in_it(bench: Bench, viber: FakeViberAPI,
                                                          language: str) -> None:
    chat = Chat(bench, viber, None)
    response = await chat.post(viber_conversation_started(USER, language=language))
    locale = language.replace("-", "_")
    text = response.json()["text"]
    assert t(locale, "start.welcome", municipality=PROFILE.municipality_name(locale)) in text
    assert t("sq", "start.choose_language") not in text


@pytest.mark.parametrize("citizen", LOCALES, indirect=True)
async def test_the_sender_name_is_in_the_citizens_language(bench: Bench, viber: FakeViberAPI,
                                                           citizen: str) -> None:
    chat = Chat(bench, viber, citizen)
    answer = await chat.answer("/help")
    name = answer.params["sender"]["name"]
    assert name == PROFILE.municipality_name(citizen) and len(name) <= 28


@pytest.mark.parametrize("citizen", LOCALES, indirect=True)
async def test_help_lists_every_command(bench: Bench, viber: FakeViberAPI,
                                        citizen: str) -> None:
    text = (await Chat(bench, viber, citizen).answer("/help")).params["text"]
    commands = [name for name in build_routes().commands if not name.startswith("__")]
    assert "link" in commands
    missing = [name for name in commands if not re.search(rf"/{name}\b", text)]
    assert not missing, missing


@pytest.mark.parametrize("citizen", LOCALES, indirect=True)
async def test_status_buttons_say_what_each_reference_is(
        bench: Bench, viber: FakeViberAPI, citizen: str, db: Database) -> None:
    reference = make_complaint(db, language=citizen)
    with db.session() as session:  # theirs, as if sent from this chat
        mine = _citizen_id(db)
        session.scalars(select(Complaint).where(Complaint.reference == reference)).one() \
            .citizen_id = mine
    answer = await Chat(bench, viber, citizen).answer("/status")
    [button] = [text for text, p in keyboard(answer) if p == f"cmp:show:{reference}"]
    assert button.startswith(reference) and len(button) <= 30
    assert without_symbols(t(citizen, "complaints.state.open"))[:8] in button
