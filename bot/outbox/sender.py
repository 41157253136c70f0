"""The sender: the one loop that takes queued outbox rows to the platforms.

Each round it claims what is due — replies to citizens first, then a
second's worth of bulk messages, so a citizen's answer overtakes a running
broadcast — and sends them concurrently across chats but in order within a
chat, within each platform's overall and per-chat rate.

Each message's outcome is written as soon as the platform answers, before
its slot is given to another message and before the next message of its chat
goes: at most `concurrency` messages are ever sent but not yet recorded, so a
sender killed at any moment sends again only those (the requests that were
on the wire). Outcomes that arrive while one is being written go together in
the next transaction (group commit), which keeps the writes few under load.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import heapq
import inspect
import itertools
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import Table, and_, bindparam, exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from bot.channels.base import Provider, RateLimits, SendResult, can_edit
from bot.db import PG_CONNECT_TIMEOUT, Database, utcnow
from bot.messages import Reply
from bot.metrics import OUTBOX_EVENTS, OUTBOX_RETRIES, VIBER_OUT_OF_SESSION
from bot.models import ChannelAccount, Lane, OutboxMessage, OutboxStatus
from bot.outbox.budget import BUDGET_REACHED, SMS, SmsBudget, segments_used
from bot.outbox.lease import Lease
from bot.outbox.queue import WAKE_CHANNEL, on_enqueued
from bot.outbox.steps import repeat_after_bulk

log = logging.getLogger(__name__)
_T = TypeVar("_T")
MAX_BACKOFF_SECONDS = 300.0
PIPELINE_DEPTH = 2  # batches in flight with bulk messages; replies are claimed whenever due
# Replies claimed but not yet recorded, at most this many batches' worth: a backlog
# to many chats (after an outage, a flood) is claimed as sending frees room, not all
# at once into memory (the worker grew by 80 MB in 30,000 updates to 20,000 chats).
REPLY_BATCHES_IN_FLIGHT = 2
# ... and at most this many seconds of the platforms' rate: replies claimed beyond
# what can go out soon only wait in memory behind the rate limiter, and each of
# them, marked sending, makes every claim skip past its chat's queued rows (at
# 110 updates/s the claims took half the web process's CPU).
REPLY_SECONDS_IN_FLIGHT = 2.0
REPLY_ROOM_FLOOR = 20  # however slow the platforms (SMS: 1/s), this many may be claimed
REPLY_SLOTS = 4  # of `concurrency`, never taken by bulk messages: a reply finds one free
TIMER_STOP_SECONDS = 5.0  # how long a stop waits for a running timer
LISTEN_CHECK_SECONDS = 15.0  # how often a quiet LISTEN connection is checked
LISTEN_RETRY_SECONDS = (0.5, 10.0)  # first and longest wait to listen again
GLOBAL_MARGIN = 0.97
RECORD_RETRY_SECONDS = (0.2, 5.0)  # first and longest wait to write outcomes again
# Per-chat limiters: the idle ones are forgotten whenever this many more were
# made, and at most PER_CHAT_CAP are kept (the least recently used go first).
PER_CHAT_SWEEP = 1_000
PER_CHAT_CAP = 50_000
IDLE_SECONDS = 60.0  # a chat's limiter unused this long is forgotten
_TABLE: Table = OutboxMessage.__table__  # type: ignore[assignment]
# One outcome, written only while the row is still ours: a sender that lost its
# lease (and whose rows a successor queued again) changes nothing.
_RECORD = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("b_id"), _TABLE.c.claimed_by == bindparam("b_holder"),
           _TABLE.c.status == OutboxStatus.sending)
    .values(status=bindparam("b_status"), attempts=bindparam("b_attempts"),
            next_attempt_at=bindparam("b_next"), last_error=bindparam("b_error"),
            sent_at=bindparam("b_sent"), provider_message_id=bindparam("b_provider_id"),
            segments=bindparam("b_segments"), claimed_by=None)
)
_SEGMENTS = (update(_TABLE).where(_TABLE.c.id == bindparam("b_id"))
             .values(segments=bindparam("b_segments")))


class _PriorityLock:
    """A lock whose waiters go urgent first, then in arrival order: a reply
    waiting for the platform's rate goes before bulk messages waiting too."""

    def __init__(self) -> None:
        self._locked = False
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()

    async def acquire(self, urgent: bool) -> None:
        if not self._locked and not self._waiters:
            self._locked = True
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (0 if urgent else 1, next(self._arrivals), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # handed over just as it was cancelled: pass it on
            raise

    def locked(self) -> bool:
        return self._locked

    def release(self) -> None:
        while self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)  # stays locked: handed to this waiter
                return
        self._locked = False


class RateLimiter:
    """`rate` per second, `burst` at once after a quiet time. Callers go one
    at a time on a schedule of slots `1 / rate` apart, urgent ones (replies)
    before the others; one who wakes a few milliseconds late (a busy event
    loop) does not push the next slot back, so the platform's rate is used in
    full — but slots missed by more than `CATCH_UP` are given up rather than
    sent in a burst that would break the platform's one-second window."""

    CATCH_UP = 0.015

    def __init__(self, rate: float, burst: int = 1) -> None:
        self.rate = rate
        self.interval = 1.0 / rate
        self.tolerance = (max(1, burst) - 1) * self.interval
        self.next_slot = 0.0
        self.paused_until = 0.0
        self._lock = _PriorityLock()

    def pause(self, seconds: float) -> None:
        """The platform said "too many": nobody goes before `seconds` from now."""
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)

    def idle(self, now: float) -> bool:
        """Whether a new limiter would behave exactly like this one: no pause,
        no waiter, and its last slot long past (the full burst is back) — a
        minute, more than any send of the chat still under way can take to
        come back for its next slot. Forgetting it changes nothing."""
        return (self.next_slot <= now - IDLE_SECONDS and self.paused_until <= now
                and not self._lock.locked())

    async def acquire(self, urgent: bool = False) -> None:
        await self._lock.acquire(urgent)
        try:
            while True:
                now = time.monotonic()
                slot = max(now, self.next_slot - self.tolerance, self.paused_until)
                if slot > now:
                    await asyncio.sleep(slot - now)
                    continue  # re-check: a pause may have begun meanwhile
                self.next_slot = max(self.next_slot, now - self.CATCH_UP) + self.interval
                return
        finally:
            self._lock.release()


@dataclass
class Outcome:
    row: OutboxMessage  # as claimed (detached)
    result: SendResult | None  # None: not attempted (an earlier message of the chat failed)


@dataclass
class Timer:
    """Work the lease holder runs every `interval` seconds (reminders, deadlines).
    Each run goes in a task of its own beside the send loop, never awaited by
    it, so no slow timer holds up a reply: a synchronous `run` (database work)
    on a worker thread, an async one (fetching complaint photos) on the loop.
    A timer still running is not started again; when the sender stops or
    loses its lease, async runs are cancelled and sync ones waited for."""

    name: str
    interval: float
    run: Callable[[datetime], object] | Callable[[datetime], Awaitable[object]]
    last_run: float = 0.0
    task: asyncio.Task[object] | None = None


class Sender:
    def __init__(
        self,
        db: Database,
        providers: dict[str, Provider],
        *,
        lease: Lease | None = None,
        batch_size: int = 200,
        max_attempts: int = 8,
        idle_poll: float = 0.5,
        timers: list[Timer] | None = None,
        concurrency: int = 32,
        backoff_seconds: float = 2.0,
        max_backoff_seconds: float = MAX_BACKOFF_SECONDS,
        sms_budget: SmsBudget | None = None,
    ) -> None:
        self.db = db
        self.providers = providers
        self.lease = lease or Lease(db)
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.idle_poll = idle_poll
        self.timers = timers or []
        self.concurrency = max(1, concurrency)
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.sms_budget = sms_budget
        # A slot is held from the request until its outcome is stored: the bound
        # on what a crash can send twice.
        self._slots: asyncio.Semaphore | None = None
        self._bulk_slots: asyncio.Semaphore | None = None
        self._stopping = False
        self._pending: list[tuple[list[Outcome], asyncio.Future[None]]] = []
        self._write_lock: asyncio.Lock | None = None
        # A little under the platform's limit: requests reach it with some
        # jitter, and one over the limit costs a whole second of pause.
        self._global = {name: RateLimiter(p.limits.per_second * GLOBAL_MARGIN, 1)
                        for name, p in providers.items()}
        self._per_chat: OrderedDict[tuple[str, str], RateLimiter] = OrderedDict()
        self._sweep_at = PER_CHAT_SWEEP
        self.replies_in_flight = 0  # claimed reply rows whose outcome is not yet recorded
        rate = sum(p.limits.per_second for p in providers.values())
        self.reply_room = max(1, min(batch_size * REPLY_BATCHES_IN_FLIGHT,
                                     max(REPLY_ROOM_FLOOR, int(rate * REPLY_SECONDS_IN_FLIGHT))))
        self._wake: asyncio.Event | None = None
        # Threads of the sender's own: its claims and records never queue behind
        # other blocking work of the process (the default executor), and the
        # sync timers take turns on one thread beside them, as they did in the loop.
        self._db_threads: ThreadPoolExecutor | None = None
        self._timer_thread: ThreadPoolExecutor | None = None
        # Seen from outside (tests, the bench): LISTEN is on (PostgreSQL), with
        # this backend; the loop has nothing to do and waits for a wake-up.
        self.listening = asyncio.Event()
        self.listener_pid: int | None = None
        self.idle = asyncio.Event()

    # ------------------------------------------------------------ the loop
    async def run(self, stop: asyncio.Event) -> None:
        """Hold (or wait for) the lease; while held, send and run timers.
        It sleeps until woken — by a commit that queued messages (in this
        process, or on PostgreSQL from any process through LISTEN), by a batch
        done, or after `idle_poll` at the latest (the fallback while a
        PostgreSQL listener is reconnecting)."""
        loop = asyncio.get_running_loop()
        self._stopping = False
        self._wake = asyncio.Event()
        wake = self._wake

        def wake_up() -> None:
            loop.call_soon_threadsafe(wake.set)

        remove = on_enqueued(wake_up)
        listener = None if self.db.is_sqlite else asyncio.create_task(
            self._listen(stop, wake), name="sender:listen")
        last_renew = 0.0
        bulk_due_at = 0.0  # bulk rows are looked for on a wake-up only from then on
        # Up to PIPELINE_DEPTH batches in flight: while one is being sent, the
        # next is claimed, so the platform's rate is used without gaps; replies
        # are claimed beside them, never waiting for a bulk batch to finish.
        in_flight: set[asyncio.Task[int]] = set()
        try:
            while not stop.is_set():
                now = time.monotonic()
                if now - last_renew > self.lease.ttl.total_seconds() / 3:
                    held = await self._hold_lease()
                    last_renew = now
                    if not held:
                        if in_flight:
                            await asyncio.wait(in_flight)
                            in_flight.clear()
                        await self._stop_timers()
                        await _sleep_or_stop(stop, min(2.0, self.lease.ttl.total_seconds() / 3))
                        continue
                self._start_due_timers()
                wake.clear()  # before claiming: a commit during the claim wakes the next round
                replies, bulk = self._claimable(len(in_flight) < PIPELINE_DEPTH, now, bulk_due_at)
                rows = []
                if replies or bulk:
                    try:
                        rows = await self._in_db_thread(self._claim, bulk, replies)
                    except Exception:
                        log.exception("sender round failed; trying again shortly")
                    if bulk and not any(row.lane == Lane.bulk for row in rows):
                        bulk_due_at = now + self.idle_poll  # none due: look again at the poll
                if rows:
                    in_flight.add(self._start_delivery(rows))
                    if len(in_flight) < PIPELINE_DEPTH and rows[-1].lane == Lane.bulk:
                        bulk_due_at = 0.0
                        continue  # a broadcast: claim its next second while this one goes
                elif replies:  # nothing due (not merely no room for more)
                    self.idle.set()
                done = await _wait_any(stop, wake, in_flight, self._wait_seconds())
                self.idle.clear()
                in_flight -= done
                for task in done:
                    if task.exception() is not None:
                        log.error("sender batch failed", exc_info=task.exception())
        finally:
            self._stopping = True
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener
            await self._stop_timers()
            if in_flight:
                await asyncio.wait(in_flight)
            remove()
            try:
                await self._in_db_thread(self.lease.release)
            except Exception as exc:  # the database is away: the lease simply expires
                log.warning("could not release the sender lease: %s", exc)
            self._close_threads()

    def _claimable(self, bulk_room: bool, now: float, bulk_due_at: float) -> tuple[int, bool]:
        """How many replies this round claims, and whether it looks for bulk rows.
        Replies: none while most of the room is taken (they are sent as fast as
        the platform allows anyway, and claiming one at a time as each is
        recorded was a claim per message). Bulk rows: while replies fill the
        room, only once per poll, not on every commit that queued a reply."""
        room = self.reply_room - self.replies_in_flight
        replies = min(self.batch_size, room) if room > 0 and (
            self.replies_in_flight == 0 or room >= self.reply_room // 2) else 0
        return replies, bulk_room and (replies > 0 or now >= bulk_due_at)

    async def _in_db_thread(self, fn: Callable[..., _T], *args: object) -> _T:
        if self._db_threads is None:
            self._db_threads = ThreadPoolExecutor(4, thread_name_prefix="sender-db")
        return await _in_thread(self._db_threads, fn, *args)

    def _close_threads(self) -> None:
        for pool in (self._db_threads, self._timer_thread):
            if pool is not None:
                pool.shutdown(wait=False)  # a timer still running finishes on its own
        self._db_threads = self._timer_thread = None

    def _wait_seconds(self) -> float:
        """Until the next poll, or sooner when a timer is due."""
        now, wait = time.monotonic(), self.idle_poll
        for timer in self.timers:
            if timer.task is None or timer.task.done():
                wait = min(wait, timer.last_run + timer.interval - now)
        return max(0.0, wait)

    async def _listen(self, stop: asyncio.Event, wake: asyncio.Event) -> None:
        """PostgreSQL: LISTEN on a connection of its own and wake the loop on
        each NOTIFY of a commit that queued messages. A lost connection (a
        database restart) is opened again with backoff; meanwhile the loop
        polls. Each time listening (re)starts the loop is woken once, for what
        was queued while nobody listened."""
        import psycopg  # PostgreSQL's driver: only needed here on PostgreSQL
        from psycopg import sql

        conninfo = self.db.engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False)
        retry = LISTEN_RETRY_SECONDS[0]
        while not stop.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(
                        conninfo, autocommit=True, connect_timeout=PG_CONNECT_TIMEOUT
                ) as connection:
                    await connection.execute(
                        sql.SQL("LISTEN {}").format(sql.Identifier(WAKE_CHANNEL)))
                    self.listener_pid = connection.info.backend_pid
                    self.idle.clear()  # the wake below is still to be handled
                    wake.set()
                    self.listening.set()
                    retry = LISTEN_RETRY_SECONDS[0]
                    while not stop.is_set():
                        async for _ in connection.notifies(timeout=LISTEN_CHECK_SECONDS):
                            wake.set()
                        await connection.execute("SELECT 1")  # a silently dropped link
            except Exception as exc:
                self.listening.clear()
                log.warning("not listening for queued messages (%s): polling every %.1f s "
                            "until the database is back", exc, self.idle_poll)
                await _sleep_or_stop(stop, retry)
                retry = min(LISTEN_RETRY_SECONDS[1], retry * 2)

    async def _hold_lease(self) -> bool:
        """Renew the lease, or try to take it. A database that is away (restarting,
        unreachable) means "not held, try again shortly" — never the end of the loop."""
        try:
            return await self._in_db_thread(
                self.lease.renew if self.lease.held else self.lease.acquire)
        except Exception as exc:
            if self.lease.held:
                log.warning("sender lease lost: the database is unavailable (%s)", exc)
            else:
                log.warning("sender lease not taken: the database is unavailable (%s)", exc)
            self.lease.held = False
            return False

    def _start_due_timers(self) -> None:
        """Start each due timer in a task of its own; one still running is skipped."""
        for timer in self.timers:
            if timer.task is not None and not timer.task.done():
                continue  # never two runs at once
            if time.monotonic() - timer.last_run >= timer.interval:
                timer.last_run = time.monotonic()
                timer.task = asyncio.create_task(self._run_timer(timer),
                                                 name=f"timer:{timer.name}")
                if self._wake is not None:  # done: the loop counts its next run from now
                    timer.task.add_done_callback(_waker(self._wake))

    async def _run_timers(self) -> None:
        """Start the due timers and wait for them: one turn of the timers (tests)."""
        self._start_due_timers()
        running = [timer.task for timer in self.timers if timer.task and not timer.task.done()]
        if running:
            await asyncio.wait(running)

    async def _run_timer(self, timer: Timer) -> object:
        try:
            if inspect.iscoroutinefunction(timer.run):
                return await timer.run(utcnow())
            if self._timer_thread is None:
                self._timer_thread = ThreadPoolExecutor(1, thread_name_prefix="sender-timers")
            return await _in_thread(self._timer_thread, timer.run, utcnow())
        except Exception:
            log.exception("timer %s failed", timer.name)
            return None

    async def _stop_timers(self) -> None:
        """Cancel the async timers' work (a download is cut; what it had
        claimed is tried again once the claim runs out) and wait a little for
        sync ones, whose transaction cannot be cut from here."""
        running = [timer for timer in self.timers if timer.task and not timer.task.done()]
        tasks: list[asyncio.Task[object]] = []
        for timer in running:
            assert timer.task is not None
            if inspect.iscoroutinefunction(timer.run):
                timer.task.cancel()
            tasks.append(timer.task)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=TIMER_STOP_SECONDS)
            if pending:
                log.warning("timers still running after %.0f s: %s", TIMER_STOP_SECONDS,
                            ", ".join(t.get_name() for t in pending))

    async def run_once(self) -> int:
        """Claim what is due, send it, record the outcome; returns rows handled."""
        rows = await self._in_db_thread(self._claim)
        if not rows:
            return 0
        return await self._deliver(rows)

    async def _deliver(self, rows: list[OutboxMessage]) -> int:
        groups: OrderedDict[tuple[str, str, int], list[OutboxMessage]] = OrderedDict()
        for row in rows:
            groups.setdefault((row.channel, row.chat_id, row.lane), []).append(row)
        await asyncio.gather(*(self._send_chat(g) for g in groups.values()))
        return len(rows)

    async def drain(self, max_rounds: int = 100) -> int:
        """Send until nothing is due (tests and the terminal); returns rows handled."""
        if not self.lease.held:
            await self._in_db_thread(self.lease.acquire)
        total = 0
        for _ in range(max_rounds):
            count = await self.run_once()
            total += count
            if not count:
                break
        return total

    def _start_delivery(self, rows: list[OutboxMessage]) -> asyncio.Task[int]:
        """Deliver claimed rows in a task, counting its replies in flight until it ends."""
        replies = sum(1 for row in rows if row.lane == Lane.reply)
        self.replies_in_flight += replies
        task = asyncio.create_task(self._deliver(rows))

        def done(_: asyncio.Task[int]) -> None:
            self.replies_in_flight -= replies

        task.add_done_callback(done)
        return task

    # ------------------------------------------------------------ claiming
    def _claim(self, bulk: bool = True, replies: int | None = None) -> list[OutboxMessage]:
        """Mark due rows `sending` and return them: up to `replies` replies
        (a batch when not said), then (with `bulk`) a second's worth of bulk messages."""
        now = utcnow()
        channels = list(self.providers)
        if not channels:
            return []
        earlier = aliased(OutboxMessage)
        # A message waits while an earlier one to the same chat and lane is
        # waiting for a retry or still on its way, so a chat never sees its
        # messages out of order.
        blocked_by_earlier = exists().where(and_(
            earlier.channel == OutboxMessage.channel,
            earlier.chat_id == OutboxMessage.chat_id,
            earlier.lane == OutboxMessage.lane,
            earlier.id < OutboxMessage.id,
            or_(and_(earlier.status == OutboxStatus.queued, earlier.next_attempt_at > now),
                earlier.status == OutboxStatus.sending),
        ))
        bulk_quota = max(1, int(sum(p.limits.per_second for p in self.providers.values())))
        with self.db.session() as session:
            claimed: list[OutboxMessage] = []
            replies = self.batch_size if replies is None else replies
            lanes = ([(Lane.reply, replies)] if replies > 0 else []) + (
                [(Lane.bulk, bulk_quota)] if bulk else [])
            for lane, limit in lanes:
                claimed += session.scalars(
                    select(OutboxMessage)
                    .where(
                        OutboxMessage.status == OutboxStatus.queued,
                        OutboxMessage.lane == int(lane),
                        OutboxMessage.next_attempt_at <= now,
                        OutboxMessage.channel.in_(channels),
                        ~blocked_by_earlier,
                    )
                    .order_by(OutboxMessage.id)
                    .limit(limit)
                ).all()
            claimed = self._screen(session, claimed, now)
            if claimed:
                session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_([row.id for row in claimed]))
                    .values(status=OutboxStatus.sending, claimed_by=self.lease.holder)
                )
                estimated = [{"b_id": row.id, "b_segments": row.segments}
                             for row in claimed if row.channel == SMS]
                if estimated:
                    session.connection().execute(_SEGMENTS, estimated)
            session.expunge_all()
            return claimed

    def _screen(self, session: Session, rows: list[OutboxMessage],
                now: datetime) -> list[OutboxMessage]:
        """What may go of the rows due: none to an account blocked since they
        were queued (a number that texted STOP), and SMS only within the
        month's segment budget — each SMS row claimed with the segments it
        will cost, so the next round counts it; the rest is skipped with
        `BUDGET_REACHED` (chat messages go on)."""
        accounts = {row.account_id for row in rows if row.account_id is not None}
        blocked: dict[int, datetime] = {
            account_id: at for account_id, at in session.execute(
                select(ChannelAccount.id, ChannelAccount.blocked_at).where(
                    ChannelAccount.id.in_(accounts), ChannelAccount.blocked_at.is_not(None))
            ).tuples() if at is not None} if accounts else {}
        # Queued before the block: not sent. The last word queued with it (the
        # farewell of an erasure, in the same transaction) still goes.
        skipped: dict[int, str] = {
            row.id: "blocked by the user" for row in rows
            if row.account_id in blocked and row.created_at < blocked[row.account_id]}
        sms = self.providers.get(SMS)
        segments_of = getattr(sms, "segments_of", None)
        sms_rows = [row for row in rows if row.channel == SMS and row.id not in skipped]
        if sms_rows and segments_of is not None:
            left = None
            if self.sms_budget is not None:
                left = self.sms_budget.monthly_segments - segments_used(
                    session, now, self.sms_budget.tz)
            for row in sorted(sms_rows, key=lambda r: (r.lane, r.id)):
                row.segments = int(segments_of(Reply.from_json(row.body)))
                if left is not None:
                    if row.segments > left:
                        skipped[row.id] = BUDGET_REACHED
                        continue
                    left -= row.segments
        if not skipped:
            return rows
        for reason in set(skipped.values()):
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_([i for i, r in skipped.items() if r == reason]))
                .values(status=OutboxStatus.skipped, last_error=reason)
            )
        for row in rows:
            if row.id in skipped:
                OUTBOX_EVENTS.labels(row.channel, OutboxStatus.skipped.value).inc()
        return [row for row in rows if row.id not in skipped]

    # ------------------------------------------------------------- sending
    def _chat_limiter(self, channel: str, chat_id: str, limits: RateLimits) -> RateLimiter:
        key = (channel, chat_id)
        limiter = self._per_chat.get(key)
        if limiter is None:
            if len(self._per_chat) >= self._sweep_at:
                self._forget_idle_chats()
            if len(self._per_chat) >= PER_CHAT_CAP:  # every chat busy: the oldest goes
                self._per_chat.popitem(last=False)
            limiter = RateLimiter(limits.per_chat_per_second, limits.chat_burst)
            self._per_chat[key] = limiter
        else:
            self._per_chat.move_to_end(key)
        return limiter

    def _forget_idle_chats(self) -> None:
        """Drop the limiters of chats that have had nothing sent for a minute:
        kept for every chat ever served, they grew the worker with the number
        of citizens (half a kilobyte each, 24 MB at the cap)."""
        now = time.monotonic()
        for key in [key for key, limiter in self._per_chat.items() if limiter.idle(now)]:
            del self._per_chat[key]
        self._sweep_at = len(self._per_chat) + PER_CHAT_SWEEP

    async def _send_chat(self, rows: list[OutboxMessage]) -> None:
        """One chat's rows in order, each recorded before the next goes; after a
        failure that will be retried (or a block) the rest waits for it."""
        if self._slots is None or self._bulk_slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
            self._bulk_slots = asyncio.Semaphore(
                max(1, self.concurrency - min(REPLY_SLOTS, self.concurrency // 2)))
        provider = self.providers[rows[0].channel]
        chat_limiter = self._chat_limiter(rows[0].channel, rows[0].chat_id, provider.limits)
        urgent = rows[0].lane == Lane.reply
        # Bulk messages take a slot only through the smaller bulk allowance, so
        # some of `concurrency` stay free for replies however big a broadcast.
        lane_slots = contextlib.nullcontext() if urgent else self._bulk_slots
        for index, row in enumerate(rows):
            await chat_limiter.acquire(urgent)
            if self._stopping:  # shutting down: what has not gone waits for the next sender
                await self._write([Outcome(later, None) for later in rows[index:]])
                return
            async with lane_slots, self._slots:
                await self._global[row.channel].acquire(urgent)
                result = await self._send_one(provider, row)
                outcomes = [Outcome(row, result)]
                halt = (not result.ok and not result.permanent and not result.skipped
                        ) or result.blocked
                if halt:  # keep the chat's order: the rest waits for this one
                    outcomes += [Outcome(later, None) for later in rows[index + 1:]]
                await self._write(outcomes)
            if halt:
                return

    async def _send_one(self, provider: Provider, row: OutboxMessage) -> SendResult:
        reply = Reply.from_json(row.body)
        if not can_edit(provider) and (reply.edit is not None or reply.closes_request):
            # A platform that cannot edit keeps no keyboard under later messages:
            # a settle or a keyboard's note is not needed there, a redraw is new.
            if reply.settles or reply.closes_request:
                return SendResult(ok=False, skipped=True,
                                  error=f"not needed on {row.channel}: it edits no messages")
            reply.edit = None
        try:
            result = await provider.send(row.chat_id, reply)
        except Exception as exc:  # a provider bug must not kill the loop
            log.exception("provider %s raised", row.channel)
            result = SendResult(ok=False, error=f"{type(exc).__name__}: {exc}", reason="other")
        if result.retry_after is not None:
            self._global[row.channel].pause(result.retry_after)
        return result

    # ----------------------------------------------------------- recording
    async def _write(self, outcomes: list[Outcome]) -> None:
        """Store outcomes as they come, in group commits: whoever arrives while a
        transaction is being written waits for the next one, which takes all that
        arrived meanwhile; returns once these outcomes are stored. While the
        database is away it keeps trying with backoff (the messages stay counted
        as on the wire) until it is back, or until the sender stops."""
        if self._write_lock is None:
            self._write_lock = asyncio.Lock()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((outcomes, done))
        async with self._write_lock:
            if not done.done():
                batch, self._pending = self._pending, []
                await self._store_until_written([o for group, _ in batch for o in group])
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
        await done

    async def _store_until_written(self, outcomes: list[Outcome]) -> None:
        wait, tries = RECORD_RETRY_SECONDS[0], 0
        while True:
            try:
                await self._in_db_thread(self._record, outcomes)
                return
            except Exception:
                tries += 1
                if self._stopping and tries >= 3:
                    log.exception("gave up recording %d outcomes: their messages will be "
                                  "sent again by the next sender", len(outcomes))
                    return
                log.warning("could not record %d outcomes; trying again in %.1f s",
                            len(outcomes), wait, exc_info=tries == 1)
                await asyncio.sleep(wait)
                wait = min(RECORD_RETRY_SECONDS[1], wait * 2)

    def _record(self, outcomes: list[Outcome]) -> None:
        """Store outcomes in one short transaction: one UPDATE per row (sent
        together), and for a user who blocked the bot, their account and
        whatever else was queued for them."""
        now = utcnow()
        changes: list[dict[str, object]] = []
        blocked_accounts: set[int] = set()
        delay_for_chat: dict[tuple[str, str, int], datetime] = {}
        events: list[tuple[str, str]] = []
        retries: list[tuple[str, str]] = []
        billed: list[str] = []
        bulk_sent: set[int] = set()  # accounts whose step's question comes again
        for outcome in outcomes:
            row, result = outcome.row, outcome.result
            chat = (row.channel, row.chat_id, row.lane)
            status, attempts, next_at = OutboxStatus.queued, row.attempts, row.next_attempt_at
            error, sent_at, provider_id = row.last_error, row.sent_at, row.provider_message_id
            segments = row.segments
            if result is None:
                next_at = delay_for_chat.get(chat, now)
            elif result.ok:  # an error here is a note (an edit sent as a new message)
                status, sent_at, provider_id, error = (
                    OutboxStatus.sent, now, result.provider_message_id, result.error)
                if result.segments is not None:  # what the platform billed
                    segments = result.segments
                if row.out_of_session:
                    billed.append(row.purpose or "other")
                if row.lane == Lane.bulk and row.account_id is not None:
                    bulk_sent.add(row.account_id)
            elif result.skipped:
                status, error = OutboxStatus.skipped, result.error
            elif result.blocked:
                status, error = OutboxStatus.failed, result.error
                if row.account_id is not None:
                    blocked_accounts.add(row.account_id)
            elif result.permanent:
                status, error = OutboxStatus.failed, result.error
            elif result.retry_after is not None:
                error = result.error
                next_at = now + timedelta(seconds=result.retry_after)
                retries.append((row.channel, "rate_limited"))
            else:
                attempts += 1
                error = result.error
                if attempts >= self.max_attempts:
                    status = OutboxStatus.failed
                else:
                    backoff = min(self.max_backoff_seconds,
                                  self.backoff_seconds * 2.0 ** (attempts - 1))
                    next_at = now + timedelta(seconds=backoff * random.uniform(0.8, 1.2))
                    retries.append((row.channel, result.reason or "other"))
            if status is OutboxStatus.queued:
                delay_for_chat[chat] = next_at
            if result is not None:
                events.append((row.channel, status.value))
            changes.append({"b_id": row.id, "b_holder": self.lease.holder, "b_status": status,
                            "b_attempts": attempts, "b_next": next_at, "b_error": error,
                            "b_sent": sent_at, "b_provider_id": provider_id,
                            "b_segments": segments})
        with self.db.session() as session:
            session.connection().execute(_RECORD, changes)
            repeat_after_bulk(session, bulk_sent - blocked_accounts, now)
            if blocked_accounts:
                session.execute(
                    update(ChannelAccount)
                    .where(ChannelAccount.id.in_(blocked_accounts))
                    .values(blocked_at=now)
                )
                session.execute(
                    update(OutboxMessage)
                    .where(
                        OutboxMessage.account_id.in_(blocked_accounts),
                        OutboxMessage.status == OutboxStatus.queued,
                    )
                    .values(status=OutboxStatus.skipped, last_error="blocked by the user")
                )
        for channel, status_value in events:
            OUTBOX_EVENTS.labels(channel, status_value).inc()
        for channel, reason in retries:
            OUTBOX_RETRIES.labels(channel, reason).inc()
        for purpose in billed:
            VIBER_OUT_OF_SESSION.labels(purpose).inc()


async def _in_thread(pool: ThreadPoolExecutor, fn: Callable[..., _T], *args: object) -> _T:
    """`asyncio.to_thread` on a pool of one's own (the caller's context vars too)."""
    call = functools.partial(contextvars.copy_context().run, fn, *args)
    return await asyncio.get_running_loop().run_in_executor(pool, call)


def _waker(wake: asyncio.Event) -> Callable[[asyncio.Task[object]], None]:
    def done(_: asyncio.Task[object]) -> None:
        wake.set()

    return done


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event,
                    in_flight: set[asyncio.Task[int]], seconds: float) -> set[asyncio.Task[int]]:
    """Until a stop, a wake-up, a batch done or `seconds`; returns the batches done."""
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        done, _ = await asyncio.wait([*waiters, *in_flight], timeout=seconds,
                                     return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waiters:
            task.cancel()
    return {task for task in in_flight if task in done}
