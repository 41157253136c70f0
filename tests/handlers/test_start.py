"""The first flows, driven through the engine and the terminal channel (a
fake channel that delivers its own outbox rows), in every locale."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from bot.db import Database
from bot.entry.chat import TerminalChat
from bot.i18n import LANGUAGE_NAMES, Catalogs
from bot.models import Citizen, Conversation, OutboxMessage, OutboxStatus
from tests.factories import make_runtime, payloads, texts

LOCALES = ["sr_Latn", "sr_Cyrl", "sq", "en"]
CATALOGS = Catalogs()


def t(locale: str, key: str, **params: object) -> str:
    return CATALOGS.gettext(locale, key, **params)


def chat_for(db: Database, user: str = "ana", language: str | None = None) -> TerminalChat:
    runtime = make_runtime(db)
    return TerminalChat(runtime.engine, runtime.db, user=user, language=language, out=io.StringIO())


def press(chat: TerminalChat, label: str) -> str:
    """Tap the button with this label, as the citizen would."""
    numbers = [i for i, b in enumerate(chat.buttons, 1) if b.label == label]
    assert numbers, f"no button {label!r} among {[b.label for b in chat.buttons]}"
    return texts(chat.send(str(numbers[0])))


@pytest.mark.parametrize("locale", LOCALES)
def test_start_language_privacy_menu_help_cancel(db: Database, locale: str) -> None:
    chat = chat_for(db)
    welcome = texts(chat.send("/start"))
    # No language known yet: every language greets in its own words.
    for loc in LOCALES:
        assert t(loc, "start.choose_language") in welcome
    assert [b.label for b in chat.buttons] == [LANGUAGE_NAMES[loc] for loc in LOCALES]

    privacy = press(chat, LANGUAGE_NAMES[locale])
    assert "/mydata" in privacy and "/forget" in privacy and "06/L-082" in privacy
    assert t(locale, "privacy.notice", municipality="", days=90).split("\n")[0] in privacy

    menu = press(chat, t(locale, "privacy.continue"))
    assert t(locale, "menu.title") in menu
    labels = [b.label for b in chat.buttons]
    for key in ("menu.reception", "menu.documents", "menu.complaint", "menu.survey",
                "menu.notices", "menu.status", "menu.help", "menu.language"):
        assert t(locale, key) in labels

    help_text = press(chat, t(locale, "menu.help"))
    assert "/cancel" in help_text and "08:00" in help_text

    cancelled = texts(chat.send("/cancel"))
    assert t(locale, "cancel.nothing").split(".")[0] in cancelled

    with db.read_session() as session:
        citizen = session.scalars(select(Citizen)).one()
        assert citizen.language == locale
        assert citizen.privacy_acknowledged_at is not None


def test_platform_language_is_preselected(db: Database) -> None:
    chat = chat_for(db, language="sq")
    welcome = texts(chat.send("/start"))
    assert t("sq", "start.welcome", municipality="Komuna e Kllokotit") in welcome
    assert t("en", "start.choose_language") not in welcome
    assert chat.buttons[0].label == "Shqip"  # offered first, the others still there
    assert len(chat.buttons) == 4


def test_language_can_be_changed_later(db: Database) -> None:
    chat = chat_for(db)
    chat.send("/start")
    press(chat, "English")
    press(chat, t("en", "privacy.continue"))
    chat.send("/language")
    answer = press(chat, "Српски")
    assert t("sr_Cyrl", "start.language_set") in answer
    assert t("sr_Cyrl", "menu.help") in [b.label for b in chat.buttons]


def test_typed_label_counts_as_the_button(db: Database) -> None:
    chat = chat_for(db)
    chat.send("/start")
    answer = texts(chat.send("shqip"))  # typed, not tapped
    assert "06/L-082" in answer
    assert t("sq", "privacy.continue") in [b.label for b in chat.buttons]


def test_unexpected_input_gets_an_explanation_and_the_question_again(db: Database) -> None:
    chat = chat_for(db)
    chat.send("/start")
    answer = texts(chat.send("!sticker"))
    assert t("sr_Latn", "error.expected_button") in answer
    assert [b.label for b in chat.buttons] == [LANGUAGE_NAMES[loc] for loc in LOCALES]
    press(chat, "English")
    answer = texts(chat.send("x" * 20_000))  # during the privacy step
    assert t("en", "error.expected_button") in answer
    assert t("en", "privacy.continue") in [b.label for b in chat.buttons]


def test_forged_or_stale_buttons_are_refused_politely(db: Database) -> None:
    chat = chat_for(db)
    chat.send("/start")
    press(chat, "English")
    press(chat, t("en", "privacy.continue"))
    from tests.factories import make_incoming

    engine = make_runtime(db).engine
    for payload in ("lang:xx", "menu:nothing", "zzz:1", "nav:" + "x" * 50):
        result = engine.handle(make_incoming(payload=payload, user="ana"))
        assert not result.failed
        assert result.replies, payload
    stale = engine.handle(make_incoming(payload="lang:de", user="ana"))
    assert t("en", "error.stale_button") in texts(stale.replies)


def test_status_says_nothing_yet(db: Database) -> None:
    chat = chat_for(db)
    chat.send("/start")
    press(chat, "English")
    press(chat, t("en", "privacy.continue"))
    assert t("en", "status.empty") in texts(chat.send("/status"))


def test_back_and_cancel_buttons_from_a_flow_step(db: Database) -> None:
    chat = chat_for(db)
    chat.send("/start")
    press(chat, "English")  # now at the privacy step, a state of the onboarding flow
    answer = texts(chat.send("/cancel"))
    # Leaving onboarding half-way brings the language question back, not a dead end.
    assert t("en", "start.choose_language") in answer


def test_every_reply_goes_through_the_outbox(db: Database) -> None:
    chat = chat_for(db)
    replies = chat.send("/start")
    with db.read_session() as session:
        rows = session.scalars(select(OutboxMessage)).all()
    assert len(rows) == len(replies) == 1
    assert rows[0].status is OutboxStatus.sent  # the terminal delivered it
    assert rows[0].origin == "reply"
    assert payloads(replies) == [f"lang:{loc}" for loc in LOCALES]


def test_restart_continues_a_flow_left_half_way(db: Database) -> None:
    first = chat_for(db)
    first.send("/start")
    press(first, "Shqip")  # privacy step, not yet acknowledged
    # A new process: new runtime, engine and terminal on the same database.
    second = chat_for(db)
    answer = texts(second.send("hello"))
    assert t("sq", "error.expected_button") in answer
    assert t("sq", "privacy.continue") in [b.label for b in second.buttons]
    with db.read_session() as session:
        conversation = session.scalars(select(Conversation)).one()
        assert conversation.state == "Onboarding:privacy"
