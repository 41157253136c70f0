"""Telegram end to end: updates posted to our webhook as Telegram would, the
real python-telegram-bot sending to a local fake Bot API that records calls."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.app import create_app
from bot.db import Database
from bot.i18n import Catalogs
from bot.models import ChannelAccount, InboundStatus, InboundUpdate, OutboxMessage, OutboxStatus
from tests.channels.conftest import TG_SECRET, Bench
from tests.factories import make_runtime
from tests.fakes.telegram_api import (
    FakeTelegramAPI,
    tg_callback_update,
    tg_command_update,
    tg_contact_update,
    tg_edited_message_update,
    tg_message_update,
    tg_my_chat_member_update,
    tg_photo_update,
    tg_sticker_update,
)

T = Catalogs()
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}


async def post(bench: Bench, update: dict[str, Any], headers: dict[str, str] | None = None
               ) -> Any:
    return await bench.client.post("/webhooks/telegram", json=update,
                                   headers=HEADERS if headers is None else headers)


def buttons(call: Any) -> list[tuple[str, str]]:
    markup = call.params.get("reply_markup") or {}
    return [(b["text"], b.get("callback_data", "")) for row in markup.get("inline_keyboard", [])
            for b in row]


async def test_start_language_privacy_menu(bench: Bench, tg: FakeTelegramAPI) -> None:
    response = await post(bench, tg_command_update(1, 555, "/start", language_code="sq"))
    assert response.status_code == 200
    await bench.deliver()
    [welcome] = tg.delivered("sendMessage")
    assert str(welcome.params["chat_id"]) == "555"
    assert T.gettext("sq", "start.choose_language") in welcome.params["text"]
    assert buttons(welcome)[0] == ("Shqip", "lang:sq")  # pre-selected from language_code

    response = await post(bench, tg_callback_update(2, 555, "lang:sq"))
    # The button's spinner is stopped in the webhook's own response.
    assert response.json()["method"] == "answerCallbackQuery"
    await bench.deliver()
    privacy = tg.delivered("sendMessage")[-1]
    assert "06/L-082" in privacy.params["text"]
    assert buttons(privacy) == [(T.gettext("sq", "privacy.continue"), "privacy:ok")]

    await post(bench, tg_callback_update(3, 555, "privacy:ok"))
    await bench.deliver()
    menu = tg.delivered("sendMessage")[-1]
    assert menu.params["text"] == T.gettext("sq", "menu.title")
    assert ("Ndihmë dhe kontakte", "menu:help") in buttons(menu) or len(buttons(menu)) == 8
    assert all(len(data.encode()) <= 64 for _, data in buttons(menu))


@pytest.mark.parametrize("header", [None, "wrong-secret", "ßecret-ñon-ascii"])
async def test_wrong_missing_or_non_ascii_secret_is_403(bench: Bench, tg: FakeTelegramAPI,
                                                        header: str | None) -> None:
    headers: Any = {} if header is None else {"X-Telegram-Bot-Api-Secret-Token":
                                              header.encode("utf-8")}
    response = await post(bench, tg_command_update(10, 556), headers=headers)
    assert response.status_code == 403
    await bench.deliver()
    assert tg.delivered("sendMessage") == []


async def test_the_same_update_twice_gets_one_reply(bench: Bench, tg: FakeTelegramAPI) -> None:
    update = tg_command_update(20, 557)
    assert (await post(bench, update)).status_code == 200
    assert (await post(bench, update)).status_code == 200
    await bench.deliver()
    assert len(tg.delivered("sendMessage")) == 1


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b'{"message": {}}', "application/json", 400),
        (b'{"update_id": "x"}', "application/json", 400),
        (b'{"update_id": 1, "message": {"chat": 5}}', "application/json", 400),
        (b"update_id=1", "application/x-www-form-urlencoded", 415),
        (b"{" + b" " * (1024 * 1024) + b"}", "application/json", 413),
    ],
)
async def test_invalid_requests_get_4xx(bench: Bench, body: bytes, content_type: str,
                                        status: int) -> None:
    response = await bench.client.post(
        "/webhooks/telegram", content=body,
        headers={**HEADERS, "Content-Type": content_type},
    )
    assert response.status_code == status


@pytest.mark.parametrize(
    "update",
    [
        tg_edited_message_update(30, 558, "edited"),
        {"update_id": 31, "channel_post": {"message_id": 1, "date": 0,
                                           "chat": {"id": -100, "type": "channel"}}},
        {"update_id": 32, "message": {"message_id": 1, "date": 0, "text": "hi group",
                                      "chat": {"id": -5, "type": "group"},
                                      "from": {"id": 558, "is_bot": False, "first_name": "G"}}},
        {"update_id": 33, "poll": {"id": "1", "question": "q", "options": [],
                                   "total_voter_count": 0, "is_closed": False,
                                   "is_anonymous": True, "type": "regular",
                                   "allows_multiple_answers": False}},
    ],
)
async def test_update_kinds_we_do_not_handle_are_acknowledged(
        bench: Bench, tg: FakeTelegramAPI, update: dict[str, Any]) -> None:
    assert (await post(bench, update)).status_code == 200
    await bench.deliver()
    assert tg.delivered("sendMessage") == []
    with bench.runtime.db.read_session() as session:
        row = session.scalars(select(InboundUpdate)).one()
        assert row.status is InboundStatus.ignored


async def _onboard(bench: Bench, user: int, locale: str = "en") -> None:
    await post(bench, tg_command_update(user * 100, user))
    await post(bench, tg_callback_update(user * 100 + 1, user, f"lang:{locale}"))
    await post(bench, tg_callback_update(user * 100 + 2, user, "privacy:ok"))
    await bench.deliver()


@pytest.mark.parametrize(
    "build",
    [
        lambda u, i: tg_sticker_update(i, u),
        lambda u, i: tg_photo_update(i, u, "AgACphoto"),
        lambda u, i: tg_contact_update(i, u, "+38344111222"),
        lambda u, i: tg_message_update(i, u, "ж" * 20_000),
        lambda u, i: tg_message_update(i, u, "Здраво 👋🏽 Përshëndetje"),
        lambda u, i: tg_callback_update(i, u, "lang:" + "x" * 40),
        lambda u, i: tg_callback_update(i, u, "forged:other-citizen:42"),
    ],
)
async def test_odd_input_gets_a_localized_answer(bench: Bench, tg: FakeTelegramAPI,
                                                 build: Any) -> None:
    await _onboard(bench, 600, "sr_Latn")
    before = len(tg.delivered("sendMessage"))
    assert (await post(bench, build(600, 60_099))).status_code == 200
    await bench.deliver()
    answers = tg.delivered("sendMessage")[before:]
    assert answers, "the citizen must get an answer"
    assert all(a.params["text"] and "Traceback" not in a.params["text"] for a in answers)


async def test_blocking_the_bot_stops_messages(bench: Bench, tg: FakeTelegramAPI) -> None:
    await _onboard(bench, 700)
    assert (await post(bench, tg_my_chat_member_update(79_001, 700, "kicked"))).status_code == 200
    with bench.runtime.db.read_session() as session:
        assert session.scalars(select(ChannelAccount)).one().blocked_at is not None


async def test_forbidden_from_telegram_marks_the_user_blocked(bench: Bench,
                                                             tg: FakeTelegramAPI) -> None:
    tg.block_chat(701)
    await post(bench, tg_command_update(70_100, 701))
    await bench.deliver()
    with bench.runtime.db.read_session() as session:
        assert session.scalars(select(ChannelAccount)).one().blocked_at is not None
        assert session.scalars(select(OutboxMessage)).one().status is OutboxStatus.failed


async def test_429_from_telegram_is_waited_out(bench: Bench, tg: FakeTelegramAPI) -> None:
    tg.fail_next("sendMessage", status=429, retry_after=1)
    await post(bench, tg_command_update(80_000, 800))
    await bench.deliver()
    assert tg.delivered("sendMessage") == []
    await asyncio.sleep(1.1)
    await bench.deliver()
    assert len(tg.delivered("sendMessage")) == 1
    assert tg.count_429 == 1


async def test_database_down_answers_503_so_telegram_retries(tg: FakeTelegramAPI) -> None:
    dead = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    runtime = make_runtime(dead, telegram_bot_token=tg.token, telegram_api_url=tg.url,
                           telegram_webhook_secret=TG_SECRET)
    app = create_app(runtime=runtime, run_sender=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://bot.test") as client:
        response = await client.post("/webhooks/telegram", headers=HEADERS,
                                     json=tg_command_update(1, 1))
    assert response.status_code == 503
    await runtime.close()
