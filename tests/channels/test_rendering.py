"""Neutral replies rendered for each platform: keyboards, contact and location requests."""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, ReplyKeyboardMarkup, ReplyKeyboardRemove

from bot.channels.telegram import render_markup
from bot.channels.viber import parse_callback, render_keyboard
from bot.messages import Button, Kind, Reply
from tests.fakes.viber_api import viber_message_event, viber_webhook_event


def test_telegram_buttons_are_inline_with_callback_data() -> None:
    markup = render_markup(Reply("q", [[Button("Da", "yes:1"), Button("Ne", "no:1")]]))
    assert isinstance(markup, InlineKeyboardMarkup)
    assert [b.callback_data for b in markup.inline_keyboard[0]] == ["yes:1", "no:1"]


def test_telegram_contact_request_is_a_reply_keyboard_with_the_other_buttons() -> None:
    reply = Reply("Vaš telefon?", [[Button("⬅ Nazad", "nav:back")]], request="contact",
                  request_label="📱 Podeli broj")
    markup = render_markup(reply)
    assert isinstance(markup, ReplyKeyboardMarkup)
    first = markup.keyboard[0][0]
    assert first.text == "📱 Podeli broj" and first.request_contact
    assert markup.keyboard[1][0].text == "⬅ Nazad"  # comes back as text; the engine maps it


def test_telegram_plain_text_removes_an_old_reply_keyboard() -> None:
    assert isinstance(render_markup(Reply("ok")), ReplyKeyboardRemove)


def test_viber_keyboard_has_share_phone_and_silent_reply_buttons() -> None:
    keyboard = render_keyboard(Reply("q", [[Button("A", "a:1"), Button("B", "b:1")]],
                                     request="contact", request_label="Share"))
    assert keyboard is not None
    share, first, second = keyboard["Buttons"]
    assert share["ActionType"] == "share-phone" and share["Columns"] == 6
    assert first["ActionType"] == "reply" and first["ActionBody"] == "a:1" and first["Silent"]
    assert first["Columns"] == second["Columns"] == 3
    assert render_keyboard(Reply("no buttons")) is None


def test_viber_texts_are_texts_and_commands_are_commands() -> None:
    # A reply button's payload comes back as a text, like anything typed: the
    # engine decides whether it was offered (tests/channels/test_viber_typed.py).
    assert parse_callback(viber_message_event("u", "lang:sq")).kind is Kind.text
    assert parse_callback(viber_message_event("u", "https://maps.app.goo.gl/x")).kind \
        is Kind.text
    assert parse_callback(viber_message_event("u", "Rruga: e prishur")).kind is Kind.text
    assert parse_callback(viber_message_event("u", "/help")).command == "help"


def test_viber_webhook_check_is_acknowledged() -> None:
    assert parse_callback(viber_webhook_event()).kind is Kind.ignored
