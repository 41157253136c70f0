"""Property (#14, item 2): whatever correctly authenticated body arrives — any
kind of Telegram update or Viber callback the bot reads, mutated — the webhook
answers (never a 5xx, never a hang), logs no error, stores nothing for a
body it refuses, and a normal /start still works afterwards.

`make test` runs the "webhooks-ci" profile (300 examples, derandomized, so CI
is reproducible); `make fuzz` runs "webhooks-fuzz" (10,000 random examples)
and prints what it saw. Examples found failing are kept as unit tests in
test_webhook_boundary.py."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from bot.app import create_app
from bot.db import Database
from bot.i18n import Catalogs
from bot.models import (
    ChannelAccount,
    Citizen,
    Conversation,
    InboundUpdate,
    OutboxMessage,
)
from bot.runtime import Runtime
from bot.worker import build_sender
from tests.channels import webhook_bodies as bodies
from tests.channels.conftest import TG_SECRET, VIBER_TOKEN, fast_limits
from tests.factories import make_runtime
from tests.fakes.telegram_api import FakeTelegramAPI, tg_command_update
from tests.fakes.viber_api import FakeViberAPI, viber_conversation_started, viber_signature

_COMMON: dict[str, Any] = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                              HealthCheck.data_too_large, HealthCheck.large_base_example],
}
settings.register_profile("webhooks-ci", max_examples=300, derandomize=True, **_COMMON)
settings.register_profile("webhooks-fuzz", max_examples=10_000, **_COMMON)
PROFILE = os.environ.get("WEBHOOK_FUZZ_PROFILE", "webhooks-ci")
# Not a timing assertion: a request still unanswered after this long is stuck.
HANG_SECONDS = 30.0
TABLES = (InboundUpdate, ChannelAccount, Citizen, Conversation, OutboxMessage)
T = Catalogs()


class Client:
    """The real ASGI app on an event loop of its own (Hypothesis runs
    examples synchronously), posting bodies as the platforms sign them."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=create_app(runtime=runtime, run_sender=False),
                                        client=("149.154.167.220", 443))
        self.http = httpx.AsyncClient(transport=transport, base_url="http://bot.test")
        self.stats: Counter[str] = Counter()
        self.slowest = 0.0
        self.slow: list[str] = []  # what took over 2 s, to tell load from a slow body

    def post(self, channel: str, body: bytes) -> int | None:
        """The status, or None when no answer came (a hang)."""
        headers = {"Content-Type": "application/json"}
        if channel == "telegram":
            headers["X-Telegram-Bot-Api-Secret-Token"] = TG_SECRET
        else:
            headers["X-Viber-Content-Signature"] = viber_signature(body, VIBER_TOKEN)
        started = time.perf_counter()
        try:
            response = self.loop.run_until_complete(asyncio.wait_for(
                self.http.post(f"/webhooks/{channel}", content=body, headers=headers),
                HANG_SECONDS))
        except TimeoutError:
            self.stats["hang"] += 1
            return None
        finally:
            elapsed = time.perf_counter() - started
            self.slowest = max(self.slowest, elapsed)
            self.stats["over 2 s"] += elapsed > 2
            if elapsed > 2 and len(self.slow) < 5:
                self.slow.append(f"{elapsed:.2f} s {channel} {len(body)} bytes {body[:60]!r}")
        self.stats[str(response.status_code)] += 1
        return response.status_code

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def close(self) -> None:
        self.run(self.http.aclose())
        self.loop.close()


def counts(db: Database) -> dict[str, int]:
    with db.read_session() as session:
        return {table.__name__: session.scalar(select(func.count()).select_from(table)) or 0
                for table in TABLES}


_ids = itertools.count(1_000_000)


@st.composite
def webhook_body(draw: st.DrawFn) -> tuple[str, bytes]:
    """A body of any kind the bot reads, from one of a few dozen users (so
    mutated bodies also reach conversations in the middle of a flow)."""
    channel = draw(st.sampled_from(["telegram", "viber"]))
    user = draw(st.integers(0, 40))
    raw = draw(st.integers(0, 24)) == 0
    data = draw(st.data())
    if channel == "telegram":
        if raw:
            return channel, draw(st.sampled_from(bodies.RAW_TELEGRAM))
        kind = draw(st.sampled_from(sorted(bodies.TELEGRAM_KINDS)))
        body = bodies.TELEGRAM_KINDS[kind](next(_ids), 70_000 + user)
    else:
        if raw:
            return channel, draw(st.sampled_from(bodies.RAW_VIBER))
        kind = draw(st.sampled_from(sorted(bodies.VIBER_KINDS)))
        body = bodies.VIBER_KINDS[kind](f"fuzzUser{user}==")
    return channel, bodies.encode(bodies.mutate(data, body))


def test_no_webhook_body_gets_a_5xx_a_hang_an_error_or_a_stray_row(
        db: Database, tg: FakeTelegramAPI, viber: FakeViberAPI, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    runtime = make_runtime(
        db, data_dir=tmp_path, telegram_bot_token=tg.token, telegram_api_url=tg.url,
        telegram_webhook_secret=TG_SECRET, viber_auth_token=VIBER_TOKEN,
        viber_api_url=f"{viber.url}/pa", **fast_limits(),
    )
    client = Client(runtime)

    @settings(settings.get_profile(PROFILE))
    @given(webhook_body())
    def any_body_is_answered(case: tuple[str, bytes]) -> None:
        channel, body = case
        caplog.clear()
        before = counts(db)
        status = client.post(channel, body)
        assert status is not None, "no answer: the webhook hung"
        assert status in (200, 400, 413), status
        if status != 200:
            assert counts(db) == before, "a refused body left a row behind"
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert not errors, [r.getMessage() for r in errors]

    try:
        any_body_is_answered()
        # A normal /start afterwards: answered, and the welcome delivered.
        with db.session() as session:
            session.execute(delete(OutboxMessage))  # the fuzz users' replies
        assert client.post("telegram", json.dumps(
            tg_command_update(next(_ids), 99_999, "/start", language_code="sq")).encode()) == 200
        client.run(build_sender(runtime).drain())
        [welcome] = [call for call in tg.delivered("sendMessage")
                     if str(call.params["chat_id"]) == "99999"]
        assert T.gettext("sq", "start.choose_language") in welcome.params["text"]
        response = client.run(client.http.post(
            "/webhooks/viber", content=(body := json.dumps(
                viber_conversation_started("afterFuzz==", language="sq")).encode()),
            headers={"X-Viber-Content-Signature": viber_signature(body, VIBER_TOKEN)}))
        assert response.status_code == 200 and response.json()["type"] == "text"
    finally:
        if PROFILE != "webhooks-ci":
            print(f"\nwebhook fuzz ({PROFILE}, {db.engine.dialect.name}): "
                  f"{sum(v for k, v in client.stats.items() if k[0].isdigit())} answered, "
                  f"statuses {dict(sorted((k, v) for k, v in client.stats.items() if v))}, "
                  f"5xx {sum(v for k, v in client.stats.items() if k.startswith('5'))}, "
                  f"hangs {client.stats['hang']}, slowest {client.slowest:.2f} s")
            print("\n".join(client.slow))
        client.run(runtime.close())
        client.close()
