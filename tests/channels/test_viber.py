"""Viber end to end: signed callbacks posted to our webhook as Viber would,
replies sent with httpx to a local fake Viber API that records calls."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from bot.i18n import Catalogs
from bot.models import ChannelAccount, InboundUpdate, OutboxMessage, OutboxStatus
from tests.channels.conftest import VIBER_TOKEN, Bench
from tests.fakes.viber_api import (
    FakeViberAPI,
    viber_client_status,
    viber_conversation_started,
    viber_delivered,
    viber_message_event,
    viber_seen,
    viber_signature,
    viber_subscribed,
    viber_unsubscribed,
)

T = Catalogs()


async def post(bench: Bench, event: dict[str, Any], *, signature: str | None = "good") -> Any:
    body = json.dumps(event).encode()
    headers = {"Content-Type": "application/json"}
    if signature == "good":
        headers["X-Viber-Content-Signature"] = viber_signature(body, VIBER_TOKEN)
    elif signature is not None:
        headers["X-Viber-Content-Signature"] = signature
    return await bench.client.post("/webhooks/viber", content=body, headers=headers)


def keyboard(call: Any) -> list[tuple[str, str]]:
    buttons = (call.params.get("keyboard") or {}).get("Buttons", [])
    return [(b.get("Text", ""), b.get("ActionBody", "")) for b in buttons]


async def test_conversation_started_is_answered_in_the_response(bench: Bench,
                                                               viber: FakeViberAPI) -> None:
    response = await post(bench, viber_conversation_started("vUser1==", language="sr"))
    assert response.status_code == 200
    body = response.json()
    assert body["type"] == "text" and body["sender"]["name"]
    assert "Добро дошли" in body["text"] or "Dobro došli" in body["text"]
    assert ("Српски", "lang:sr_Cyrl") in [(b["Text"], b["ActionBody"])
                                           for b in body["keyboard"]["Buttons"]]
    await bench.deliver()
    assert viber.delivered("send_message") == []  # not sent twice
    with bench.runtime.db.read_session() as session:
        row = session.scalars(select(OutboxMessage)).one()
        assert row.status is OutboxStatus.sent  # recorded as sent by the response


async def test_buttons_and_menu_through_send_message(bench: Bench, viber: FakeViberAPI) -> None:
    await post(bench, viber_conversation_started("vUser2==", language="sq"))
    await post(bench, viber_message_event("vUser2==", "lang:sq", language="sq"))
    await bench.deliver()
    [privacy] = viber.delivered("send_message")
    assert privacy.params["receiver"] == "vUser2=="
    assert "06/L-082" in privacy.params["text"]
    assert keyboard(privacy) == [(T.gettext("sq", "privacy.continue"), "privacy:ok")]
    assert all(b.get("Silent") for b in privacy.params["keyboard"]["Buttons"])

    await post(bench, viber_message_event("vUser2==", "privacy:ok", language="sq"))
    await post(bench, viber_message_event("vUser2==", "/help", language="sq"))
    await bench.deliver()
    menu, help_ = viber.delivered("send_message")[1:]
    assert menu.params["text"] == T.gettext("sq", "menu.title")
    assert len(keyboard(menu)) == 8
    assert "08:00" in help_.params["text"]


@pytest.mark.parametrize("signature", [None, "0" * 64, "xx", ""])
async def test_bad_or_missing_signature_is_403(bench: Bench, viber: FakeViberAPI,
                                               signature: str | None) -> None:
    response = await post(bench, viber_message_event("vUser3==", "hi"), signature=signature)
    assert response.status_code == 403
    with bench.runtime.db.read_session() as session:
        assert session.scalars(select(InboundUpdate)).all() == []


async def test_non_ascii_signature_header_is_403(bench: Bench) -> None:
    body = json.dumps(viber_message_event("vUser3==", "hi")).encode()
    response = await bench.client.post(
        "/webhooks/viber", content=body,
        headers=[(b"X-Viber-Content-Signature", "sïgnätüre".encode())])
    assert response.status_code == 403


async def test_the_same_message_token_twice_is_handled_once(bench: Bench,
                                                           viber: FakeViberAPI) -> None:
    event = viber_message_event("vUser4==", "/start", token=5_000_001)
    assert (await post(bench, event)).status_code == 200
    assert (await post(bench, event)).status_code == 200
    await bench.deliver()
    assert len(viber.delivered("send_message")) == 1


async def test_delivered_and_seen_share_our_token_but_are_separate_events(
        bench: Bench, viber: FakeViberAPI) -> None:
    # delivered/seen carry the token of OUR message: event type is part of the key.
    for event in (viber_delivered("vUser5==", 77), viber_seen("vUser5==", 77),
                  viber_client_status("vUser5==")):
        assert (await post(bench, event)).status_code == 200
    with bench.runtime.db.read_session() as session:
        keys = sorted(row.update_key for row in session.scalars(select(InboundUpdate)))
    assert "delivered:77" in keys and "seen:77" in keys and len(keys) == 3
    await bench.deliver()
    assert viber.delivered("send_message") == []


async def test_unsubscribe_and_subscribe_are_recorded(bench: Bench, viber: FakeViberAPI) -> None:
    await post(bench, viber_conversation_started("vUser6=="))
    await post(bench, viber_unsubscribed("vUser6=="))
    with bench.runtime.db.read_session() as session:
        assert session.scalars(select(ChannelAccount)).one().blocked_at is not None
    await post(bench, viber_subscribed("vUser6=="))
    with bench.runtime.db.read_session() as session:
        assert session.scalars(select(ChannelAccount)).one().blocked_at is None


async def test_not_subscribed_answer_marks_the_user_blocked(bench: Bench,
                                                           viber: FakeViberAPI) -> None:
    viber.unsubscribe("vUser7==")
    await post(bench, viber_message_event("vUser7==", "/start"))
    await bench.deliver()
    with bench.runtime.db.read_session() as session:
        assert session.scalars(select(ChannelAccount)).one().blocked_at is not None


@pytest.mark.parametrize(
    "event",
    [
        viber_message_event("vUser8==", message_type="sticker", sticker_id=40100),
        viber_message_event("vUser8==", contact={"name": "A", "phone_number": "+38344111222"}),
        viber_message_event("vUser8==", location={"lat": 42.37, "lon": 21.37}),
        viber_message_event("vUser8==", media="https://example.invalid/p.jpg",
                            message_type="picture"),
        viber_message_event("vUser8==", "ж" * 20_000),
    ],
)
async def test_odd_input_gets_an_answer(bench: Bench, viber: FakeViberAPI,
                                        event: dict[str, Any]) -> None:
    assert (await post(bench, event)).status_code == 200
    await bench.deliver()
    assert viber.delivered("send_message"), "the citizen must get an answer"


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"{oops", 400), (b"[]", 400), (b'{"no": "event"}', 400),
     (b'{"event": "message", "message": {}}', 400)],
)
async def test_invalid_bodies_get_4xx(bench: Bench, body: bytes, status: int) -> None:
    response = await bench.client.post(
        "/webhooks/viber", content=body,
        headers={"X-Viber-Content-Signature": viber_signature(body, VIBER_TOKEN)})
    assert response.status_code == status


async def test_body_over_one_mebibyte_is_413(bench: Bench) -> None:
    body = b'{"event": "message", "pad": "' + b"x" * (1024 * 1024) + b'"}'
    response = await bench.client.post(
        "/webhooks/viber", content=body,
        headers={"X-Viber-Content-Signature": viber_signature(body, VIBER_TOKEN)})
    assert response.status_code == 413
