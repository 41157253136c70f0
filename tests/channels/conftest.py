"""Fixtures for channel tests: the fake platform servers and an app wired to them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot.app import create_app
from bot.db import Database
from bot.outbox.sender import Sender
from bot.runtime import Runtime
from bot.worker import build_sender
from tests.factories import make_runtime
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.viber_api import FakeViberAPI

TG_SECRET = "tg-webhook-secret-0123456789"
HEADERS_TG = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
VIBER_TOKEN = "viber-test-token"


@pytest.fixture
def tg() -> Iterator[FakeTelegramAPI]:
    with FakeTelegramAPI() as server:
        yield server


@pytest.fixture
def viber() -> Iterator[FakeViberAPI]:
    with FakeViberAPI(auth_token=VIBER_TOKEN) as server:
        yield server


@dataclass
class Bench:
    """The app (in-process ASGI), its runtime, and a sender to drain the outbox."""

    runtime: Runtime
    client: httpx.AsyncClient
    sender: Sender

    async def deliver(self) -> int:
        return await self.sender.drain()

    async def fetch_photos(self) -> int:
        """What the worker's photo timer does: fetch the complaint photos due."""
        fetcher = self.runtime.photo_fetcher()
        assert fetcher is not None
        return await fetcher.run_once()

    async def fetch_voices(self) -> int:
        """What the worker's voice timer does: fetch the voice messages due."""
        fetcher = self.runtime.voice_fetcher()
        assert fetcher is not None
        return await fetcher.run_once()


def fast_limits() -> dict[str, object]:
    return {"telegram_chat_burst": 20, "telegram_chat_rate_per_second": 50.0,
            "viber_chat_burst": 20, "viber_chat_rate_per_second": 50.0}


@pytest.fixture
async def bench(db: Database, tg: FakeTelegramAPI, viber: FakeViberAPI,
                tmp_path: Path) -> AsyncIterator[Bench]:
    runtime = make_runtime(
        db, data_dir=tmp_path,
        telegram_bot_token=tg.token, telegram_api_url=tg.url,
        telegram_webhook_secret=TG_SECRET,
        viber_auth_token=VIBER_TOKEN, viber_api_url=f"{viber.url}/pa",
        media_hosts=viber.url.removeprefix("http://"),  # its media "CDN" is on 127.0.0.1
        **fast_limits(),
    )
    app = create_app(runtime=runtime, run_sender=False)
    transport = httpx.ASGITransport(app=app, client=("149.154.167.220", 443))
    async with httpx.AsyncClient(transport=transport, base_url="http://bot.test") as client:
        bench = Bench(runtime, client, build_sender(runtime))
        yield bench
    # drain() took the sender's lease: give it back, or (on PostgreSQL, an advisory
    # lock on its own connection) it stays held until the garbage collector runs.
    bench.sender.lease.release()
    await runtime.close()
