"""The platforms failing for a while (#14, item 6): the Bot API and Viber answer
500, 502, time out or reset the connection. Through the real libraries against
the fakes, messages wait with (short, configured) backoff and all arrive, in order
per chat, none given up before its attempts are spent, and /metrics counts the
retries by channel and kind of fault."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bot.app import create_app
from bot.db import Database
from bot.models import OutboxMessage, OutboxStatus
from bot.runtime import Runtime
from bot.worker import build_sender
from tests.channels.conftest import TG_SECRET, VIBER_TOKEN, fast_limits
from tests.factories import make_runtime
from tests.fakes._base import Call, FakeServer
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.viber_api import FakeViberAPI
from tests.outbox.test_sender import make_account, queue

FAULTS = 3  # faulty answers in a row, each message may meet all of them
REASON = {"500": "server_error", "502": "server_error", "timeout": "timeout",
          "reset": "connection"}


@pytest.fixture
async def runtime(db: Database, tg: FakeTelegramAPI, viber: FakeViberAPI,
                  tmp_path: Path) -> AsyncIterator[Runtime]:
    runtime = make_runtime(
        db, data_dir=tmp_path, telegram_bot_token=tg.token, telegram_api_url=tg.url,
        telegram_webhook_secret=TG_SECRET, viber_auth_token=VIBER_TOKEN,
        viber_api_url=f"{viber.url}/pa", platform_timeout_seconds=0.3,
        sender_backoff_seconds=0.01, sender_max_attempts=FAULTS + 1, **fast_limits())
    yield runtime
    await runtime.close()


def inject(fake: FakeServer, fault: str) -> None:
    method = "sendMessage" if isinstance(fake, FakeTelegramAPI) else "send_message"
    if fault in ("timeout", "reset"):  # the client gives up at 0.3 s
        fake.fault_next(fault, times=FAULTS, method=method, seconds=1.0)
    elif isinstance(fake, FakeTelegramAPI):
        fake.fail_next(method, status=int(fault), times=FAULTS)
    else:
        assert isinstance(fake, FakeViberAPI)
        fake.fail_next_http(int(fault), times=FAULTS, method=method)


def chat_of(call: Call) -> str:
    return str(call.params.get("chat_id") or call.params.get("receiver"))


def first_arrivals(calls: list[Call]) -> dict[str, list[str]]:
    order: dict[str, list[str]] = {}
    for call in calls:
        texts = order.setdefault(chat_of(call), [])
        if call.params["text"] not in texts:
            texts.append(call.params["text"])
    return order


async def retries_shown(runtime: Runtime, channel: str, reason: str) -> float:
    """The retry counter as a scraper reads it from /metrics."""
    app = create_app(runtime=runtime, run_sender=False)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 9100))
    async with httpx.AsyncClient(transport=transport, base_url="http://bot.test") as client:
        text = (await client.get("/metrics")).text
    line = f'klokot_outbox_retries_total{{channel="{channel}",reason="{reason}"}} '
    found = re.search("^" + re.escape(line) + r"(\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


@pytest.mark.parametrize("fault", list(REASON))
@pytest.mark.parametrize("channel", ["telegram", "viber"])
async def test_a_platform_fault_is_waited_out_in_order(
        runtime: Runtime, db: Database, tg: FakeTelegramAPI, viber: FakeViberAPI,
        channel: str, fault: str) -> None:
    fake: FakeServer = tg if channel == "telegram" else viber
    method = "sendMessage" if channel == "telegram" else "send_message"
    expected = {chat: [f"{chat}: message {n}" for n in range(3)]
                for chat in ("7001", "7002", "7003")}
    for chat, texts in expected.items():
        queue(db, make_account(db, chat, channel=channel), *texts)
    before = await retries_shown(runtime, channel, REASON[fault])
    inject(fake, fault)
    sender = build_sender(runtime)
    wanted = {text for texts in expected.values() for text in texts}

    def arrived() -> set[str]:
        return {call.params["text"] for call in fake.delivered(method)}

    for _ in range(500):  # each round sends what is due; backoffs are milliseconds
        await sender.run_once()
        if arrived() >= wanted:
            break
        await asyncio.sleep(0.01)

    assert len(fake.calls_to(method)) + len(fake.faults_done) > len(wanted)  # faults happened
    assert first_arrivals(fake.delivered(method)) == expected  # all arrived, in order per chat
    with db.read_session() as session:
        rows = session.scalars(select(OutboxMessage)).all()
    assert {row.status for row in rows} == {OutboxStatus.sent}
    assert sum(row.attempts for row in rows) == FAULTS  # each fault cost one attempt
    assert await retries_shown(runtime, channel, REASON[fault]) == before + FAULTS
