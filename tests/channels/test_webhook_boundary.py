"""The typed boundary (#14, item 1): bodies the fuzzer found to answer 500 (or
to store a failed row) before every field read was checked. Each is a
correctly authenticated body that no platform sends; each is answered 400,
logged once with its reason (never its content), and leaves no row behind."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.channels import telegram, viber
from bot.db import utcnow
from bot.models import ChannelAccount, InboundUpdate, OutboxMessage
from tests.channels import webhook_bodies
from tests.channels.conftest import TG_SECRET, VIBER_TOKEN, Bench
from tests.fakes.telegram_api import (
    tg_callback_update,
    tg_command_update,
    tg_contact_update,
    tg_location_update,
    tg_message_update,
    tg_my_chat_member_update,
    tg_photo_update,
)
from tests.fakes.viber_api import (
    viber_conversation_started,
    viber_delivered,
    viber_message_event,
    viber_signature,
    viber_subscribed,
    viber_unsubscribed,
)

SECRET_TEXT = "my-private-complaint-text"


async def post_telegram(bench: Bench, body: bytes) -> Any:
    return await bench.client.post("/webhooks/telegram", content=body, headers={
        "X-Telegram-Bot-Api-Secret-Token": TG_SECRET, "Content-Type": "application/json"})


async def post_viber(bench: Bench, body: bytes) -> Any:
    return await bench.client.post("/webhooks/viber", content=body, headers={
        "X-Viber-Content-Signature": viber_signature(body, VIBER_TOKEN),
        "Content-Type": "application/json"})


def rows(bench: Bench) -> dict[str, int]:
    with bench.runtime.db.read_session() as session:
        return {model.__name__: session.scalar(select(func.count()).select_from(model)) or 0
                for model in (InboundUpdate, ChannelAccount, OutboxMessage)}


def edited(body: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> bytes:
    change(body)
    return webhook_bodies.encode(body)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    *parents, last = path.split(".")

    def change(body: dict[str, Any]) -> None:
        node: Any = body
        for step in parents:
            node = node[int(step)] if isinstance(node, list) else node[step]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value
    return change


_DELETE = object()

TELEGRAM_REFUSED: dict[str, bytes] = {
    # a list or dict bound into an SQL parameter
    "text_is_a_list": edited(tg_message_update(1, 501, "x"), _set("message.text", ["a"])),
    "first_name_is_a_dict": edited(tg_message_update(2, 502, "x"),
                                   _set("message.from.first_name", {"a": 1})),
    "language_code_is_a_list": edited(tg_message_update(3, 503, "x"),
                                      _set("message.from.language_code", [1])),
    # an integer over 2**63 bound into SQLite; chat ids fit in 52 bits
    "user_id_over_2_63": edited(tg_message_update(4, 504, "x"), _set("message.from.id", 2**64)),
    "chat_id_over_2_53": edited(tg_message_update(5, 505, "x"), _set("message.chat.id", 2**60)),
    "update_id_over_2_63": webhook_bodies.encode({"update_id": 2**63, "message": {}}),
    "contact_user_id_huge": edited(tg_contact_update(6, 506, "+38344123456"),
                                   _set("message.contact.user_id", 10**30)),
    # float(None), 'NoneType' object has no attribute 'latitude'
    "latitude_is_null": edited(tg_location_update(7, 507, 42.3, 21.3),
                               _set("message.location.latitude", None)),
    "latitude_out_of_range": edited(tg_location_update(8, 508, 42.3, 21.3),
                                    _set("message.location.latitude", 123.0)),
    "venue_without_location": edited(tg_location_update(9, 509, 42.3, 21.3), _set(
        "message.venue", {"title": "t", "address": "a"})),
    # string methods called on numbers
    "text_is_a_number": edited(tg_message_update(10, 510, "x"), _set("message.text", 5)),
    "callback_data_is_a_number": edited(tg_callback_update(11, 511, "lang:sq"),
                                        _set("callback_query.data", 7)),
    "callback_data_over_64_bytes": edited(tg_callback_update(12, 512, "lang:sq"),
                                          _set("callback_query.data", "a:" + "ё" * 40)),
    "phone_is_a_number": edited(tg_contact_update(13, 513, "+38344123456"),
                                _set("message.contact.phone_number", 38344123456)),
    "photo_file_id_is_null": edited(tg_photo_update(14, 514, "PH"),
                                    _set("message.photo.1.file_id", None)),
    "status_is_a_list": edited(tg_my_chat_member_update(15, 515),
                               _set("my_chat_member.new_chat_member.status", ["kicked"])),
    "entity_length_is_a_string": edited(tg_command_update(16, 516, "/start"),
                                        _set("message.entities.0.length", "6")),
    "true_as_a_user_id": edited(tg_message_update(17, 517, "x"), _set("message.from.id", True)),
    "lone_surrogate_in_text": edited(tg_message_update(18, 518, "x"),
                                     _set("message.text", "\ud800" + SECRET_TEXT)),
    "user_without_first_name": edited(tg_message_update(19, 519, "x"),
                                      _set("message.from.first_name", _DELETE)),
    # the JSON itself: too deep for the parser, too many digits, NaN
    "nested_200000_deep": b'{"update_id": 1, "message": ' + b"[" * 200_000 + b"]" * 200_000
                          + b"}",
    "nested_40_deep": webhook_bodies.encode(
        {"update_id": 20, "message": webhook_bodies._nested(40)}),
    "update_id_of_500000_digits": b'{"update_id": ' + b"9" * 500_000 + b"}",
    "nan_latitude": json.dumps(tg_location_update(21, 521, float("nan"), 21.3)).encode(),
    "infinite_float": b'{"update_id": 22, "message": {"text": 1e999999}}',
}

VIBER_REFUSED: dict[str, bytes] = {
    "sender_name_is_a_list": edited(viber_message_event("vA1==", "x"), _set("sender.name", ["a"])),
    "sender_id_is_a_dict": edited(viber_message_event("vA2==", "x"), _set("sender.id", {"a": 1})),
    "user_name_is_a_dict": edited(viber_conversation_started("vA3=="), _set("user.name", {})),
    "text_is_a_number": edited(viber_message_event("vA4==", "x"), _set("message.text", 12)),
    "text_is_a_list": edited(viber_message_event("vA5==", "x"), _set("message.text", ["/a"])),
    "latitude_is_null": edited(viber_message_event("vA6==", location=(42.3, 21.3)),
                               _set("message.location.lat", None)),
    "location_missing": edited(viber_message_event("vA7==", location=(42.3, 21.3)),
                               _set("message.location", _DELETE)),
    "longitude_out_of_range": edited(viber_message_event("vA8==", location=(42.3, 21.3)),
                                     _set("message.location.lon", 500)),
    "contact_phone_is_a_float": edited(
        viber_message_event("vA9==", contact={"name": "A", "phone_number": "+383"}),
        _set("message.contact.phone_number", 3.83)),
    "message_token_over_2_64": edited(viber_message_event("vB1==", "x"),
                                      _set("message_token", 2**70)),
    "timestamp_is_a_string": edited(viber_message_event("vB2==", "x"),
                                    _set("timestamp", "1700000000000")),
    "timestamp_of_500000_digits": b'{"event": "message", "timestamp": ' + b"9" * 500_000 + b"}",
    "unsubscribed_user_id_is_an_int": edited(viber_unsubscribed("vB3=="), _set("user_id", 5)),
    "subscribed_without_user": edited(viber_subscribed("vB4=="), _set("user", _DELETE)),
    "size_is_huge": edited(viber_message_event("vB5==", media="https://dl-media.viber.com/f",
                                               file_name="f.pdf"),
                           _set("message.size", 2**64)),
    "delivered_token_is_a_list": edited(viber_delivered("vB6==", 5), _set("message_token", [5])),
    "event_with_nul": edited(viber_delivered("vB7==", 6), _set("event", "deli\x00vered")),
    "lone_surrogate_in_id": edited(viber_message_event("vB8==", SECRET_TEXT),
                                   _set("sender.id", "\udfff")),
    "nan_timestamp": b'{"event": "webhook", "timestamp": NaN, "message_token": 1}',
    "nested_200000_deep": b'{"event": "message", "sender": ' + b"[" * 200_000
                          + b"]" * 200_000 + b"}",
}


REFUSED = [("telegram", name) for name in sorted(TELEGRAM_REFUSED)] + \
    [("viber", name) for name in sorted(VIBER_REFUSED)]


@pytest.mark.parametrize(("channel", "name"), REFUSED, ids=[f"{c}-{n}" for c, n in REFUSED])
async def test_a_malformed_body_is_refused_and_stores_nothing(
        bench: Bench, caplog: pytest.LogCaptureFixture, channel: str, name: str) -> None:
    caplog.set_level(logging.INFO)
    if channel == "telegram":
        response = await post_telegram(bench, TELEGRAM_REFUSED[name])
    else:
        response = await post_viber(bench, VIBER_REFUSED[name])
    assert response.status_code == 400, response.text
    assert rows(bench) == {"InboundUpdate": 0, "ChannelAccount": 0, "OutboxMessage": 0}
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1 and refusals[0].levelno == logging.WARNING
    assert SECRET_TEXT not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_the_reason_names_the_field_not_its_value() -> None:
    body = tg_message_update(1, 5, "x")
    body["message"]["text"] = [SECRET_TEXT]
    with pytest.raises(ValueError) as refused:
        telegram.parse_update(body)
    assert "message.text" in str(refused.value) and SECRET_TEXT not in str(refused.value)


def test_texts_longer_than_the_platform_allows_are_cut_to_its_limit() -> None:
    incoming, _ = telegram.parse_update(tg_message_update(1, 5, "a" * 9000))
    assert incoming.text == "a" * 4096
    assert viber.parse_callback(viber_message_event("v==", "b" * 9000)).text == "b" * 7000


def test_nul_is_dropped_from_what_is_stored() -> None:
    body = tg_photo_update(1, 5, "PH")
    body["message"]["photo"][1]["file_id"] = "P\x00H"  # an identifier: refused
    with pytest.raises(ValueError):
        telegram.parse_update(body)
    incoming, _ = telegram.parse_update(tg_message_update(2, 5, "a\x00b", first_name="A\x00"))
    assert incoming.text == "ab" and incoming.display_name == "A"


async def test_an_unknown_kind_in_a_good_envelope_is_acknowledged(bench: Bench) -> None:
    response = await post_telegram(bench, json.dumps(
        {"update_id": 30, "poll": {"id": [1, 2], "anything": {"goes": None}}}).encode())
    assert response.status_code == 200
    body = viber_delivered("vC1==", 7)
    body["event"] = "client_status"
    body["status"] = {"weird": [1]}
    assert (await post_viber(bench, json.dumps(body).encode())).status_code == 200
    assert rows(bench)["ChannelAccount"] == 0


async def test_a_huge_but_valid_message_token_is_kept_as_text(bench: Bench) -> None:
    """Viber tokens are unsigned 64-bit: past 2**63, they are never bound as an integer."""
    body = viber_message_event("vC2==", "/start", token=2**64 - 1)
    assert (await post_viber(bench, json.dumps(body).encode())).status_code == 200
    with bench.runtime.db.read_session() as session:
        assert session.scalars(select(InboundUpdate.update_key)).all() == [
            f"message:{2**64 - 1}"]


# --------------------------------------------------- replays (#13, item 10)

def _ms(delta: timedelta) -> int:
    return int((utcnow() + delta).timestamp() * 1000)


@pytest.mark.parametrize("age", [timedelta(days=100), timedelta(days=-2)],
                         ids=["100_days_old", "2_days_ahead"])
async def test_a_signed_viber_event_outside_the_retention_is_ignored(
        bench: Bench, caplog: pytest.LogCaptureFixture, age: timedelta) -> None:
    """A captured signed request replayed after its inbound record is purged
    (older than the profile's retention) — or dated implausibly far ahead —
    is answered 200 (so Viber does not retry) and neither handled nor stored."""
    caplog.set_level(logging.INFO)
    for event in (viber_message_event("vR1==", "/start", timestamp=_ms(-age)),
                  viber_conversation_started("vR1==", timestamp=_ms(-age)),
                  viber_delivered("vR1==", 99, timestamp=_ms(-age))):
        response = await post_viber(bench, json.dumps(event).encode())
        assert response.status_code == 200 and response.json() == {"status": 0}
    assert rows(bench) == {"InboundUpdate": 0, "ChannelAccount": 0, "OutboxMessage": 0}
    ignored = [r for r in caplog.records if "ignored" in r.getMessage()]
    assert len(ignored) == 3


async def test_a_fresh_signed_viber_event_is_handled(bench: Bench) -> None:
    event = viber_message_event("vR2==", "/start", timestamp=_ms(-timedelta(days=89)))
    assert (await post_viber(bench, json.dumps(event).encode())).status_code == 200
    counts = rows(bench)
    assert counts["InboundUpdate"] == 1 and counts["OutboxMessage"] >= 1


@pytest.mark.parametrize("channel", ["telegram", "viber"])
async def test_a_parser_bug_is_still_answered_not_a_500(
        bench: Bench, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
        channel: str) -> None:
    """An exception escaping the app is a 500 *and* uvicorn drops the keep-alive
    connection, so the platform's next update on it is never answered."""
    def broken(data: dict[str, Any]) -> Any:
        raise KeyError("a bug")

    monkeypatch.setattr(telegram if channel == "telegram" else viber,
                        "parse_update" if channel == "telegram" else "parse_callback", broken)
    if channel == "telegram":
        response = await post_telegram(bench, json.dumps(tg_message_update(1, 5, "x")).encode())
    else:
        response = await post_viber(bench, json.dumps(viber_message_event("v==", "x")).encode())
    assert response.status_code == 400
    assert rows(bench) == {"InboundUpdate": 0, "ChannelAccount": 0, "OutboxMessage": 0}
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1
