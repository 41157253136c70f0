"""A notice to 2,000 subscribers through both channels' real libraries
against fake APIs that enforce their rate limits: the worker's own loop
(timers, pipelined sender) delivers every one exactly once, handles the
429s, keeps the counts right while it runs, and answers a citizen who
writes in the middle of it before the rest of the notice. And the worker's
quiet hours: at night it holds an ordinary notice until 08:00 in Klokot,
whatever the machine's clock says (the process's clock is set)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import time, timedelta
from pathlib import Path

import httpx
import pytest

from bot import clock as clocks
from bot.app import create_app
from bot.clock import FixedClock, ShiftedClock
from bot.db import Database, utcnow
from bot.models import Notice, NoticeStatus
from bot.outbox.sender import Sender
from bot.runtime import Runtime
from bot.services import notices
from bot.worker import build_sender
from tests.channels.conftest import HEADERS_TG, TG_SECRET, VIBER_TOKEN
from tests.factories import make_runtime, seed_subscribers
from tests.fakes.telegram_api import FakeTelegramAPI, tg_command_update
from tests.fakes.viber_api import FakeViberAPI

SUBSCRIBERS, ON_VIBER = 2000, 400
LIMIT = 400.0  # messages per second each fake allows, and the sender's setting
TEXTS = {"sr_Latn": "Javna rasprava", "sr_Cyrl": "Јавна расправа",
         "sq": "Dëgjim publik", "en": "Public debate"}


@pytest.fixture
async def worker_runtime(db: Database, tg: FakeTelegramAPI, viber: FakeViberAPI,
                         tmp_path: Path) -> AsyncIterator[Runtime]:
    runtime = make_runtime(
        db, data_dir=tmp_path, telegram_bot_token=tg.token, telegram_api_url=tg.url,
        telegram_webhook_secret=TG_SECRET, viber_auth_token=VIBER_TOKEN,
        viber_api_url=f"{viber.url}/pa", telegram_rate_per_second=LIMIT,
        viber_rate_per_second=LIMIT)
    yield runtime
    await runtime.close()


@pytest.mark.clock
async def test_a_notice_to_2000_subscribers(worker_runtime: Runtime, db: Database,
                                            tg: FakeTelegramAPI, viber: FakeViberAPI,
                                            noon: ShiftedClock) -> None:
    """The whole process — the web app, the worker's timers and its sender —
    runs from 12:00 in Klokot today (`noon`), whatever the hour on the machine."""
    tg.rate_limit(LIMIT, 1.0)
    viber.rate_limit(LIMIT)
    seed_subscribers(db, SUBSCRIBERS, viber_first=ON_VIBER)
    now = utcnow()
    assert notices.daytime(worker_runtime.profile, now)
    with db.session() as session:
        notice_id = notices.create(session, worker_runtime.profile, topic="public_debates",
                                   settlements=None, texts=TEXTS, send_at=now, rsvp=True,
                                   by="info1", now=now).id
    app = create_app(runtime=worker_runtime, run_sender=False)
    stop = asyncio.Event()
    worker = asyncio.create_task(build_sender(worker_runtime).run(stop))
    seen: list[int] = []
    replied_at = None
    transport = httpx.ASGITransport(app=app, client=("149.154.167.220", 443))
    async with httpx.AsyncClient(transport=transport, base_url="http://bot.test") as client:
        for _ in range(600):
            await asyncio.sleep(0.05)
            with db.read_session() as session:
                notice = session.get(Notice, notice_id)
                assert notice is not None
                progress = notices.progress(session, notice)
            if progress.recipients:
                assert progress.sent + progress.pending + progress.failed + \
                    progress.blocked + progress.skipped == progress.recipients
                seen.append(progress.sent)
            delivered = len(tg.delivered("sendMessage")) + len(viber.delivered())
            if replied_at is None and delivered >= 300:
                # A subscriber (Telegram, citizen 1500) writes in the middle of it.
                response = await client.post("/webhooks/telegram", headers=HEADERS_TG,
                                             json=tg_command_update(1, 51_500, "/help"))
                assert response.status_code == 200
                replied_at = delivered
            if progress.sent == SUBSCRIBERS:
                break
    stop.set()
    await worker

    assert seen == sorted(seen) and seen[-1] == SUBSCRIBERS  # counts only rise, and end right
    with db.read_session() as session:
        notice = session.get(Notice, notice_id)
        assert notice is not None
        final = notices.progress(session, notice)
    assert (final.recipients, final.sent, final.pending, final.failed) == (SUBSCRIBERS,
                                                                           SUBSCRIBERS, 0, 0)
    tg_calls = tg.delivered("sendMessage")
    viber_calls = viber.delivered()
    def is_notice(params: dict[str, object]) -> bool:
        return "ntc:stop" in json.dumps(params)  # every notice carries its way out

    notice_chats = [str(c.params["chat_id"]) for c in tg_calls if is_notice(c.params)]
    notice_chats += [str(c.params["receiver"]) for c in viber_calls if is_notice(c.params)]
    assert len(notice_chats) == len(set(notice_chats)) == SUBSCRIBERS  # once each
    # The answer to the citizen did not wait for the rest of the notice.
    help_index = next(i for i, call in enumerate(tg_calls)
                      if str(call.params["chat_id"]) == "51500" and not is_notice(call.params))
    assert replied_at is not None
    assert help_index < len(tg_calls) - 500


async def worker_round(sender: Sender) -> int:
    """What one turn of the worker's loop does — its timers, then sending —
    with every timer due now: the test drives the clock, not the intervals."""
    for timer in sender.timers:
        timer.last_run = 0.0
    await sender._run_timers()
    return await sender.drain()


@pytest.mark.clock
async def test_the_worker_holds_a_notice_at_night_and_sends_it_at_eight(
        worker_runtime: Runtime, db: Database, tg: FakeTelegramAPI, clock: FixedClock) -> None:
    tz = worker_runtime.profile.tz
    evening = clocks.local_moment(tz, time(23, 30))
    morning = clocks.local_moment(tz, time(7, 59), evening.astimezone(tz).date()
                                  + timedelta(days=1))
    clock.set(evening)
    seed_subscribers(db, 3, viber_first=0)
    with db.session() as session:
        notice_id = notices.create(session, worker_runtime.profile, topic="public_debates",
                                   settlements=None, texts=TEXTS, send_at=None, rsvp=False,
                                   by="info1", now=utcnow()).id

    def status() -> NoticeStatus:
        with db.read_session() as session:
            notice = session.get(Notice, notice_id)
            assert notice is not None
            return notice.status

    sender = build_sender(worker_runtime)
    try:
        for moment in (evening, evening + timedelta(hours=3), morning):  # 23:30, 02:30, 07:59
            clock.set(moment)
            assert await worker_round(sender) == 0
            assert status() is NoticeStatus.scheduled and tg.delivered("sendMessage") == []
        clock.advance(minutes=1)  # 08:00 in Klokot
        assert await worker_round(sender) == 3
    finally:
        await asyncio.to_thread(sender.lease.release)  # on PostgreSQL, an advisory lock
    assert status() is NoticeStatus.sent
    assert sorted(str(c.params["chat_id"]) for c in tg.delivered("sendMessage")) == [
        "50001", "50002", "50003"]
