"""Typed answers in the engine (#17, item 3): channel-neutral, so the terminal
chat and Telegram understand them too; which button a yes or a no stands for.
The Viber side, in every locale: tests/channels/test_viber_typed.py."""

from __future__ import annotations

import pytest

from bot.db import Database, utcnow
from bot.engine.typed import Ambiguous, Command, Offered, Press, understand
from bot.i18n import Catalogs
from bot.messages import Button, Reply
from bot.models import Citizen, Lane
from bot.outbox.queue import enqueue
from tests.factories import make_citizen, make_incoming, make_runtime, payloads, texts

T = Catalogs()


@pytest.mark.parametrize("channel", ["terminal", "telegram"])
def test_typed_answers_work_on_every_channel(db: Database, channel: str) -> None:
    citizen_id = make_citizen(db, channel=channel, external_id="42", language="sr_Cyrl")
    with db.session() as session:
        citizen = session.get(Citizen, citizen_id)
        assert citizen is not None
        citizen.privacy_acknowledged_at = utcnow()
    engine = make_runtime(db).engine

    def say(text: str) -> str:
        replies = engine.handle(make_incoming(text, user="42", channel=channel)).replies
        return texts(replies) + "".join(f"|{p}" for p in payloads(replies))

    assert "forget:yes" in say("/forget")
    assert say("ne").startswith(T.gettext("sr_Cyrl", "forget.kept"))
    assert "|ckind:complaint" in say("/complaint")
    assert "|ccat:" in say("zalba")  # "Жалба", in Latin without the caron
    assert say("мени").startswith(T.gettext("sr_Cyrl", "menu.title"))


ROW_OF_TWO = [Offered("✔ Da, otkaži", "rsv:cancel_yes:R-1", 0),
              Offered("Ne, zadrži", "rsv:keep:R-1", 0),
              Offered("⬅ Nazad", "nav:back", 1)]


def test_no_is_the_button_beside_the_only_yes() -> None:
    assert understand("ne", ROW_OF_TWO, prefixes=True) == Press("rsv:keep:R-1")
    assert understand("Да", ROW_OF_TWO, prefixes=True) == Press("rsv:cancel_yes:R-1")
    named = [Offered("Anonimno", "canon:yes", 0), Offered("Sa imenom", "canon:no", 1)]
    assert understand("jo", named, prefixes=True) == Press("canon:no")


def test_yes_without_a_yes_button_is_just_text() -> None:
    menu = [Offered("Prijem", "menu:reception", 0), Offered("Pomoć", "menu:help", 0)]
    assert understand("da", menu, prefixes=True) is None
    assert understand("pomoc", menu, prefixes=True) == Press("menu:help")


def test_prefixes_only_where_no_free_text_is_asked() -> None:
    days = [Offered("ponedeljak, 7. decembar (15)", "rday:1", 0),
            Offered("ponedeljak, 14. decembar (15)", "rday:2", 1),
            Offered("⬅ Nazad", "nav:back", 2)]
    assert understand("pon", days, prefixes=True) == Ambiguous(
        ("ponedeljak, 7. decembar (15)", "ponedeljak, 14. decembar (15)"))
    assert understand("ponedeljak, 14", days, prefixes=True) == Press("rday:2")
    assert understand("ponedeljak, 14", days, prefixes=False) is None
    assert understand("p", days, prefixes=True) is None  # one letter is a typo


def test_payloads_count_only_when_offered() -> None:
    assert understand("rday:2", [Offered("x", "rday:2", 0)], prefixes=False) == Press("rday:2")
    assert understand("rday:3", [Offered("x", "rday:2", 0)], prefixes=False) is None
    assert understand("Otkaži", [], prefixes=False) == Command("cancel")
    assert understand("kthehu", [], prefixes=False) == Press("nav:back")


def test_a_word_inside_a_label_names_its_button() -> None:
    """People type the word that matters: "nastavi" for "Razumem, nastavi"; two
    letters are never enough inside a label, and a word two buttons share is
    asked about, as a shared beginning is."""
    privacy = [Offered("Razumem, nastavi", "privacy:ok", 0),
               Offered("📄 Pročitaj ceo tekst", "privacy:full", 1)]
    assert understand("nastavi", privacy, prefixes=True) == Press("privacy:ok")
    assert understand("Настави", privacy, prefixes=True) == Press("privacy:ok")
    assert understand("ceo tekst", privacy, prefixes=True) == Press("privacy:full")
    assert understand("nastavi", privacy, prefixes=False) is None  # free text is asked
    assert understand("ce", privacy, prefixes=True) is None  # two letters begin too many words
    days = [Offered("ponedeljak, 7. decembar (15)", "rday:1", 0),
            Offered("ponedeljak, 14. decembar (15)", "rday:2", 1)]
    assert understand("decembar", days, prefixes=True) == Ambiguous(
        ("ponedeljak, 7. decembar (15)", "ponedeljak, 14. decembar (15)"))


def test_a_typed_label_presses_a_button_of_a_message_the_bot_started(db: Database) -> None:
    """A notice's button typed instead of tapped is pressed — while the notice
    is the latest thing the bot said; once the bot has answered since, the same
    words are only text (only the last answer's buttons are on screen)."""
    citizen_id = make_citizen(db, channel="terminal", external_id="7", language="en")
    runtime = make_runtime(db)
    label = T.gettext("en", "notices.settings_button")
    with db.session() as session:
        citizen = session.get(Citizen, citizen_id)
        assert citizen is not None
        citizen.privacy_acknowledged_at = utcnow()
        [account] = citizen.accounts
        for text in ("Water off in Klokot tomorrow", "Road works on Monday"):
            enqueue(session, account, Reply(text, buttons=[[Button(label, "ntc:show")]]),
                    profile=runtime.profile, origin="notice", lane=Lane.bulk)

    def say(text: str) -> list[str]:
        return payloads(runtime.engine.handle(make_incoming(text, user="7",
                                                            channel="terminal")).replies)

    assert "ntc:where" in say(label.lower())  # the settings, with their buttons
    assert "ntc:where" not in say("/help") + say(label)  # answered since: just text
