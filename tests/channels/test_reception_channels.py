"""The reception flow once end to end through each platform's real library
against its fake API: the contact button on Telegram, the share-phone key on Viber."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from bot.models import Booking, BookingStatus
from tests.channels.conftest import HEADERS_TG, VIBER_TOKEN, Bench
from tests.fakes.telegram_api import (
    FakeTelegramAPI,
    tg_callback_update,
    tg_command_update,
    tg_contact_update,
    tg_message_update,
)
from tests.fakes.viber_api import FakeViberAPI, viber_message_event, viber_signature

# Bookable days and slots: run again at night by `make test-night`.
pytestmark = pytest.mark.clock


def inline(call: Any) -> list[str]:
    markup = call.params.get("reply_markup") or {}
    return [b.get("callback_data", "") for row in markup.get("inline_keyboard", []) for b in row]


async def test_booking_on_telegram(bench: Bench, tg: FakeTelegramAPI) -> None:
    user, n = 4001, iter(range(1, 100))

    async def send(update: dict[str, Any]) -> None:
        response = await bench.client.post("/webhooks/telegram", json=update, headers=HEADERS_TG)
        assert response.status_code == 200
        await bench.deliver()

    def first(prefix: str) -> str:
        last = tg.delivered("sendMessage")[-1]
        return next(p for p in inline(last) if p.startswith(prefix))

    await send(tg_command_update(next(n), user, "/start"))
    await send(tg_callback_update(next(n), user, "lang:en"))
    await send(tg_callback_update(next(n), user, "privacy:ok"))
    await send(tg_command_update(next(n), user, "/reception"))
    await send(tg_callback_update(next(n), user, "rk:regular"))
    await send(tg_callback_update(next(n), user, first("rday:")))
    await send(tg_callback_update(next(n), user, first("rtime:")))
    await send(tg_message_update(next(n), user, "The road to Mogila needs repair."))
    await send(tg_message_update(next(n), user, "Petar Petrović"))
    ask_phone = tg.delivered("sendMessage")[-1]
    keyboard = ask_phone.params["reply_markup"]["keyboard"]
    assert keyboard[0][0]["request_contact"] is True  # the share-contact button
    await send(tg_contact_update(next(n), user, "38344555666"))  # Telegram omits the +
    await send(tg_callback_update(next(n), user, "rset:mogila"))
    summary = tg.delivered("sendMessage")[-1].params["text"]
    assert "+38344555666" in summary and "Mogila" in summary
    await send(tg_callback_update(next(n), user, "rconf:yes"))
    assert "R-" in tg.delivered("sendMessage")[-1].params["text"]
    with bench.runtime.db.read_session() as session:
        booking = session.scalars(select(Booking)).one()
    assert booking.status is BookingStatus.booked and booking.phone == "+38344555666"


async def test_booking_on_viber(bench: Bench, viber: FakeViberAPI) -> None:
    user = "vBooker=="

    async def send(event: dict[str, Any]) -> None:
        body = json.dumps(event).encode()
        response = await bench.client.post(
            "/webhooks/viber", content=body,
            headers={"X-Viber-Content-Signature": viber_signature(body, VIBER_TOKEN)})
        assert response.status_code == 200
        await bench.deliver()

    def first(prefix: str) -> str:
        keys = viber.delivered("send_message")[-1].params["keyboard"]["Buttons"]
        return next(b["ActionBody"] for b in keys if b["ActionBody"].startswith(prefix))

    for text in ("/start", "lang:sr_Latn", "privacy:ok", "/reception", "rk:regular"):
        await send(viber_message_event(user, text))
    await send(viber_message_event(user, first("rday:")))
    await send(viber_message_event(user, first("rtime:")))
    await send(viber_message_event(user, "Želim da razgovaram o školskom prevozu."))
    await send(viber_message_event(user, "Milica Jović"))
    keys = viber.delivered("send_message")[-1].params["keyboard"]["Buttons"]
    assert keys[0]["ActionType"] == "share-phone"
    await send(viber_message_event(user, contact={"name": "Milica", "phone_number":
                                                  "+41791234567"}))
    await send(viber_message_event(user, "rset:abroad"))
    await send(viber_message_event(user, "rconf:yes"))
    assert "R-" in viber.delivered("send_message")[-1].params["text"]
    with bench.runtime.db.read_session() as session:
        booking = session.scalars(select(Booking)).one()
    assert (booking.phone, booking.settlement) == ("+41791234567", "abroad")
