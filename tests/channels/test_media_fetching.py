"""Complaint photos are fetched beside the sender, never in its way (#13,
item 5): a download that trickles one byte every few seconds holds up no
reply, is abandoned at its deadline and tried again later, and a worker
told to stop stops, leaving the photo to be fetched another time."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.db import Database, utcnow
from bot.models import ComplaintPhoto, PhotoStatus
from bot.runtime import Runtime
from bot.worker import build_sender
from tests.channels.conftest import VIBER_TOKEN, fast_limits
from tests.factories import jpeg_bytes, make_pending_photo, make_runtime
from tests.fakes.media_host import FakeMediaHost
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.viber_api import FakeViberAPI
from tests.outbox.test_sender import make_account, queue

HANG_GUARD = 20.0  # seconds; only to turn a hang into a failure, never a timing check


@pytest.fixture
def media_host() -> Iterator[FakeMediaHost]:
    with FakeMediaHost(trickle_seconds=1.0) as server:
        yield server


def viber_runtime(db: Database, tmp_path: Path, viber: FakeViberAPI, host: FakeMediaHost,
                  **settings: Any) -> Runtime:
    return make_runtime(db, data_dir=tmp_path, viber_auth_token=VIBER_TOKEN,
                        viber_api_url=f"{viber.url}/pa", media_hosts=host.netloc,
                        **fast_limits(), **settings)


def the_photo(db: Database) -> ComplaintPhoto:
    with db.read_session() as session:
        row = session.scalars(select(ComplaintPhoto)).one()
        session.expunge(row)
        return row


async def test_queued_replies_leave_while_a_photo_download_hangs(
        db: Database, tg: FakeTelegramAPI, viber: FakeViberAPI, media_host: FakeMediaHost,
        tmp_path: Path) -> None:
    """The review's case: a photo URL answering one byte at a time kept 75
    replies waiting for more than 90 s, and the worker ignored SIGTERM."""
    runtime = viber_runtime(db, tmp_path, viber, media_host, telegram_bot_token=tg.token,
                            telegram_api_url=tg.url, media_fetch_seconds=600)
    make_pending_photo(db, media_host.trickle_url("slow.jpg"))
    for chat in range(15):
        account = make_account(db, str(7000 + chat))
        queue(db, account, *(f"reply {chat}-{n}" for n in range(5)))
    stop = asyncio.Event()
    worker = asyncio.create_task(build_sender(runtime).run(stop))
    try:
        await tg.wait_for_async(75, method="sendMessage", timeout=HANG_GUARD)
        assert media_host.trickling == 1, "the download is still hanging meanwhile"
    finally:
        stop.set()
        await asyncio.wait_for(worker, HANG_GUARD)  # it stops, download or not
        await runtime.close()
    assert len({call.params["text"] for call in tg.delivered("sendMessage")}) == 75
    cut = the_photo(db)
    assert cut.status is PhotoStatus.pending, "a fetch cut by the stop is not lost"
    assert cut.next_attempt_at <= utcnow() + timedelta(minutes=5)


async def test_a_download_past_its_deadline_is_abandoned_and_tried_again_later(
        db: Database, viber: FakeViberAPI, media_host: FakeMediaHost, tmp_path: Path) -> None:
    runtime = viber_runtime(db, tmp_path, viber, media_host, media_fetch_seconds=0.5)
    make_pending_photo(db, media_host.trickle_url("slow.jpg"))
    fetcher = runtime.photo_fetcher()
    assert fetcher is not None
    try:
        assert await asyncio.wait_for(fetcher.run_once(), HANG_GUARD) == 1
        abandoned = the_photo(db)
        assert abandoned.status is PhotoStatus.pending and abandoned.attempts == 1
        assert "deadline" in (abandoned.error or "")
        assert abandoned.next_attempt_at > utcnow()

        media_host.add("slow.jpg", jpeg_bytes(120, 90))  # the host answers properly again
        later = utcnow() + timedelta(hours=1)
        assert await asyncio.wait_for(fetcher.run_once(later), HANG_GUARD) == 1
    finally:
        await runtime.close()
    kept = the_photo(db)
    assert kept.status is PhotoStatus.stored and (kept.width, kept.height) == (120, 90)
    assert media_host.requests == ["/trickle/slow.jpg"] * 2
