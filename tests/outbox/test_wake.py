"""Waking the sender: a reply committed in another process (the web, in the
Procfile's shape) reaches a worker that would otherwise sleep for an hour —
through PostgreSQL's LISTEN/NOTIFY, surviving a lost listening connection —
and neither a slow timer nor a running broadcast holds a reply up.

Every sender here polls once an hour (`idle_poll=3600`): a message that
arrives at all was sent because something woke the sender. The waits below
are safety nets for a hanging test, never measurements."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import psycopg
import pytest
from sqlalchemy import text

from bot.channels.base import RateLimits, SendResult
from bot.db import Database
from bot.messages import Reply
from bot.models import ChannelAccount, Lane
from bot.outbox import sender as sender_module
from bot.outbox.queue import WAKE_CHANNEL, enqueue
from bot.outbox.sender import Sender, Timer
from bot.profile import get_profile
from tests.factories import make_incoming, make_runtime
from tests.outbox.test_sender import RecordingProvider, make_account, queue

ASLEEP = 3600.0  # the sender's poll: longer than any test may take
SAFETY = 30.0  # seconds before a hanging test fails


async def until(condition: Callable[[], bool], what: str) -> None:
    """Until `condition` holds; fails after SAFETY seconds (a hang, not a timing)."""
    for _ in range(int(SAFETY / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


@asynccontextmanager
async def running(sender: Sender) -> AsyncIterator[Sender]:
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    try:
        yield sender
    finally:
        stop.set()
        await asyncio.wait_for(task, SAFETY)


async def asleep(sender: Sender) -> None:
    """Until the sender has nothing to do and sleeps (for an hour, unless woken)."""
    await asyncio.wait_for(sender.idle.wait(), SAFETY)


@pytest.fixture
def worker_hears_only_the_database(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sender plays a worker of its own process: commits made in this
    process (the "web process") do not wake it in memory, only over PostgreSQL."""
    if db.is_sqlite:
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; SQLite runs the sender in the web process")
    monkeypatch.setattr(sender_module, "on_enqueued", lambda listener: lambda: None)


def conninfo(db: Database) -> str:
    return db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.mark.usefixtures("worker_hears_only_the_database")
async def test_a_reply_committed_by_the_web_process_wakes_the_worker(db: Database) -> None:
    engine = make_runtime(db).engine  # the web process's engine, as a webhook drives it
    provider = RecordingProvider(channel="terminal")
    async with running(Sender(db, {"terminal": provider}, idle_poll=ASLEEP)) as sender:
        await asyncio.wait_for(sender.listening.wait(), SAFETY)
        await asleep(sender)
        result = await asyncio.to_thread(engine.handle, make_incoming("hello", user="u1"))
        assert result.replies and not result.duplicate
        await until(lambda: len(provider.sent) == len(result.replies), "the reply was sent")
    assert [text for _, text in provider.sent] == [reply.text for reply in result.replies]


@pytest.mark.usefixtures("worker_hears_only_the_database")
async def test_a_rolled_back_reply_wakes_nobody_and_is_never_sent(db: Database) -> None:
    account_id = make_account(db, "700")
    provider = RecordingProvider()
    async with await psycopg.AsyncConnection.connect(conninfo(db), autocommit=True) as watcher:
        await watcher.execute(f"LISTEN {WAKE_CHANNEL}")
        async with running(Sender(db, {"telegram": provider}, idle_poll=ASLEEP)) as sender:
            await asyncio.wait_for(sender.listening.wait(), SAFETY)
            await asleep(sender)
            with pytest.raises(RuntimeError), db.session() as session:
                account = session.get_one(ChannelAccount, account_id)
                enqueue(session, account, Reply("never sent"), profile=get_profile())
                session.flush()
                raise RuntimeError("the handler failed after queueing its reply")
            queue(db, account_id, "the apology", "and the next step")  # one transaction
            await until(lambda: len(provider.sent) == 2, "the committed replies were sent")
        # Notifications arrive in commit order: everything before our marker
        # came from the two transactions above.
        async with watcher.cursor() as cursor:
            await cursor.execute("SELECT pg_notify(%s, 'marker')", (WAKE_CHANNEL,))
        heard = []
        async for note in watcher.notifies(timeout=SAFETY):
            heard.append(note.payload)
            if note.payload == "marker":
                break
    assert heard == ["", "marker"]  # one wake-up, from the committed transaction
    assert [text for _, text in provider.sent] == ["the apology", "and the next step"]


@pytest.mark.usefixtures("worker_hears_only_the_database")
async def test_the_worker_listens_again_after_losing_its_connection(db: Database) -> None:
    account_id = make_account(db, "800")
    provider = RecordingProvider()
    async with running(Sender(db, {"telegram": provider}, idle_poll=ASLEEP)) as sender:
        await asyncio.wait_for(sender.listening.wait(), SAFETY)
        first = sender.listener_pid
        with db.engine.begin() as connection:  # as a database restart would
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        await until(lambda: sender.listening.is_set() and sender.listener_pid != first,
                    "the sender listened again")
        await asleep(sender)
        queue(db, account_id, "after the restart")
        await until(lambda: bool(provider.sent), "the reply was sent")
    assert provider.sent == [("800", "after the restart")]


async def test_a_slow_timer_does_not_hold_up_a_reply(db: Database) -> None:
    started, release = threading.Event(), threading.Event()
    lock = threading.Lock()
    runs, at_once, most_at_once = 0, 0, 0

    def slow_timer(now: object) -> None:
        nonlocal runs, at_once, most_at_once
        with lock:
            runs, at_once = runs + 1, at_once + 1
            most_at_once = max(most_at_once, at_once)
        started.set()
        release.wait(4 * SAFETY)
        with lock:
            at_once -= 1

    account_id = make_account(db, "900")
    provider = RecordingProvider()
    sender = Sender(db, {"telegram": provider}, idle_poll=ASLEEP,
                    timers=[Timer("slow", 0.01, slow_timer)])
    async with running(sender):
        assert await asyncio.to_thread(started.wait, SAFETY)
        queue(db, account_id, "your reference is R-2026-0001")
        await until(lambda: bool(provider.sent), "the reply was sent")
        assert not release.is_set() and runs == 1  # the timer is still in its first run
        release.set()
        await until(lambda: runs > 1, "the timer ran again once it was done")
    assert provider.sent == [("900", "your reference is R-2026-0001")]
    assert most_at_once == 1  # never two runs of the timer at once


async def test_a_reply_overtakes_a_broadcast_already_on_its_way(db: Database) -> None:
    """Two bulk batches of a second's worth each are in flight, queued at the
    platform's rate (10 a second); a reply queued as the first bulk message
    goes is among the next few to go, not after the ten of the first batch."""
    accounts = [make_account(db, str(2000 + i)) for i in range(30)]
    for account in accounts:
        queue(db, account, f"notice {account}", lane=Lane.bulk)

    @dataclass
    class ReplyDuringBroadcast(RecordingProvider):
        async def send(self, chat_id: str, reply: Reply) -> SendResult:
            result = await super().send(chat_id, reply)
            if len(self.sent) == 1:  # a citizen writes as the broadcast starts
                queue(db, accounts[-1], "your reference is R-2026-0001")
            return result

    provider = ReplyDuringBroadcast(limits=RateLimits(10, 1000, 100))
    async with running(Sender(db, {"telegram": provider}, idle_poll=ASLEEP)):
        await until(lambda: any("R-2026" in text for _, text in provider.sent),
                    "the reply was sent")
    texts = [text for _, text in provider.sent]
    assert texts.index("your reference is R-2026-0001") <= 4
