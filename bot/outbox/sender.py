"""The sender: the one loop that takes queued outbox rows to the platforms.

Each round it claims what is due — replies to citizens first, then a
second's worth of bulk messages, so a citizen's answer overtakes a running
broadcast — and sends them concurrently across chats but in order within a
chat, within each platform's overall and per-chat rate. Results are written
back in one transaction per round.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import aliased

from bot.channels.base import Provider, RateLimits, SendResult
from bot.db import Database, utcnow
from bot.messages import Reply
from bot.metrics import OUTBOX_EVENTS
from bot.models import ChannelAccount, Lane, OutboxMessage, OutboxStatus
from bot.outbox.lease import Lease
from bot.outbox.queue import on_enqueued

log = logging.getLogger(__name__)
MAX_BACKOFF_SECONDS = 300.0
PIPELINE_DEPTH = 2
GLOBAL_MARGIN = 0.97


class RateLimiter:
    """`rate` per second, `burst` at once after a quiet time. Callers go one
    at a time on a schedule of slots `1 / rate` apart; one who wakes a few
    milliseconds late (a busy event loop) does not push the next slot back,
    so the platform's rate is used in full — but slots missed by more than
    `CATCH_UP` are given up rather than sent in a burst that would break
    the platform's one-second window."""

    CATCH_UP = 0.015

    def __init__(self, rate: float, burst: int = 1) -> None:
        self.rate = rate
        self.interval = 1.0 / rate
        self.tolerance = (max(1, burst) - 1) * self.interval
        self.next_slot = 0.0
        self.paused_until = 0.0
        self._lock = asyncio.Lock()

    def pause(self, seconds: float) -> None:
        """The platform said "too many": nobody goes before `seconds` from now."""
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                slot = max(now, self.next_slot - self.tolerance, self.paused_until)
                if slot > now:
                    await asyncio.sleep(slot - now)
                    continue  # re-check: a pause may have begun meanwhile
                self.next_slot = max(self.next_slot, now - self.CATCH_UP) + self.interval
                return


@dataclass
class Outcome:
    row_id: int
    account_id: int | None
    result: SendResult | None  # None: not attempted (an earlier message of the chat failed)


@dataclass
class Timer:
    """Work the lease holder runs every `interval` seconds (reminders, deadlines).
    A synchronous `run` (database work) is called on a worker thread; an async
    one (fetching complaint photos from the platforms) runs in a task of its
    own beside the loop, never awaited by it — so no download holds up a
    reply — and is cancelled when the sender stops."""

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
    ) -> None:
        self.db = db
        self.providers = providers
        self.lease = lease or Lease(db)
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.idle_poll = idle_poll
        self.timers = timers or []
        # A little under the platform's limit: requests reach it with some
        # jitter, and one over the limit costs a whole second of pause.
        self._global = {name: RateLimiter(p.limits.per_second * GLOBAL_MARGIN, 1)
                        for name, p in providers.items()}
        self._per_chat: OrderedDict[tuple[str, str], RateLimiter] = OrderedDict()
        self._wake: asyncio.Event | None = None

    # ------------------------------------------------------------ the loop
    async def run(self, stop: asyncio.Event) -> None:
        """Hold (or wait for) the lease; while held, send and run timers."""
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        wake = self._wake

        def wake_up() -> None:
            loop.call_soon_threadsafe(wake.set)

        remove = on_enqueued(wake_up)
        last_renew = 0.0
        # Two batches in flight: while one is being sent, the next is claimed,
        # so the platform's rate is used without gaps between rounds.
        in_flight: set[asyncio.Task[int]] = set()
        try:
            while not stop.is_set():
                now = time.monotonic()
                if now - last_renew > self.lease.ttl.total_seconds() / 3:
                    held = await asyncio.to_thread(
                        self.lease.renew if self.lease.held else self.lease.acquire
                    )
                    last_renew = now
                    if not held:
                        if in_flight:
                            await asyncio.wait(in_flight)
                            in_flight.clear()
                        await _sleep_or_stop(stop, min(2.0, self.lease.ttl.total_seconds() / 3))
                        continue
                await self._run_timers()
                claimed = 0
                if len(in_flight) < PIPELINE_DEPTH:
                    try:
                        rows = await asyncio.to_thread(self._claim)
                    except Exception:
                        log.exception("sender round failed; trying again shortly")
                        rows = []
                    claimed = len(rows)
                    if rows:
                        in_flight.add(asyncio.create_task(self._deliver(rows)))
                if in_flight and (claimed or len(in_flight) >= PIPELINE_DEPTH):
                    done, _ = await asyncio.wait(in_flight, timeout=self.idle_poll,
                                                 return_when=asyncio.FIRST_COMPLETED)
                    in_flight -= done
                    for task in done:
                        if task.exception() is not None:
                            log.error("sender batch failed", exc_info=task.exception())
                elif not claimed:
                    wake.clear()
                    waiters = [*in_flight]
                    if waiters:
                        done, _ = await asyncio.wait(waiters, timeout=self.idle_poll,
                                                     return_when=asyncio.FIRST_COMPLETED)
                        in_flight -= done
                    else:
                        await _wait_any(stop, wake, self.idle_poll)
        finally:
            await self._stop_timer_tasks()
            if in_flight:
                await asyncio.wait(in_flight)
            remove()
            await asyncio.to_thread(self.lease.release)

    async def _run_timers(self) -> None:
        for timer in self.timers:
            if time.monotonic() - timer.last_run >= timer.interval:
                if inspect.iscoroutinefunction(timer.run):
                    if timer.task is None or timer.task.done():  # never two at once
                        timer.last_run = time.monotonic()
                        timer.task = asyncio.create_task(self._run_async_timer(timer),
                                                         name=f"timer:{timer.name}")
                    continue
                timer.last_run = time.monotonic()
                try:
                    await asyncio.to_thread(timer.run, utcnow())
                except Exception:
                    log.exception("timer %s failed", timer.name)

    @staticmethod
    async def _run_async_timer(timer: Timer) -> object:
        try:
            return await timer.run(utcnow())  # type: ignore[misc]
        except Exception:
            log.exception("timer %s failed", timer.name)
            return None

    async def _stop_timer_tasks(self) -> None:
        """Cancel the async timers' work (a download is cut; what it had
        claimed is tried again once the claim runs out)."""
        tasks = [timer.task for timer in self.timers if timer.task and not timer.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)

    async def run_once(self) -> int:
        """Claim what is due, send it, record the outcome; returns rows handled."""
        rows = await asyncio.to_thread(self._claim)
        if not rows:
            return 0
        return await self._deliver(rows)

    async def _deliver(self, rows: list[OutboxMessage]) -> int:
        groups: OrderedDict[tuple[str, str, int], list[OutboxMessage]] = OrderedDict()
        for row in rows:
            groups.setdefault((row.channel, row.chat_id, row.lane), []).append(row)
        results = await asyncio.gather(*(self._send_chat(g) for g in groups.values()))
        outcomes = [outcome for group in results for outcome in group]
        await asyncio.to_thread(self._record, outcomes)
        return len(rows)

    async def drain(self, max_rounds: int = 100) -> int:
        """Send until nothing is due (tests and the terminal); returns rows handled."""
        if not self.lease.held:
            await asyncio.to_thread(self.lease.acquire)
        total = 0
        for _ in range(max_rounds):
            count = await self.run_once()
            total += count
            if not count:
                break
        return total

    # ------------------------------------------------------------ claiming
    def _claim(self) -> list[OutboxMessage]:
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
            for lane, limit in ((Lane.reply, self.batch_size), (Lane.bulk, bulk_quota)):
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
            if claimed:
                session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_([row.id for row in claimed]))
                    .values(status=OutboxStatus.sending, claimed_by=self.lease.holder)
                )
            session.expunge_all()
            return claimed

    # ------------------------------------------------------------- sending
    def _chat_limiter(self, channel: str, chat_id: str, limits: RateLimits) -> RateLimiter:
        key = (channel, chat_id)
        limiter = self._per_chat.get(key)
        if limiter is None:
            limiter = RateLimiter(limits.per_chat_per_second, limits.chat_burst)
            self._per_chat[key] = limiter
            if len(self._per_chat) > 50_000:
                self._per_chat.popitem(last=False)
        else:
            self._per_chat.move_to_end(key)
        return limiter

    async def _send_chat(self, rows: list[OutboxMessage]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        provider = self.providers[rows[0].channel]
        chat_limiter = self._chat_limiter(rows[0].channel, rows[0].chat_id, provider.limits)
        stopped = False
        for row in rows:
            if stopped:
                outcomes.append(Outcome(row.id, row.account_id, None))
                continue
            await chat_limiter.acquire()
            await self._global[row.channel].acquire()
            try:
                result = await provider.send(row.chat_id, Reply.from_json(row.body))
            except Exception as exc:  # a provider bug must not kill the loop
                log.exception("provider %s raised", row.channel)
                result = SendResult(ok=False, error=f"{type(exc).__name__}: {exc}")
            if result.retry_after is not None:
                self._global[row.channel].pause(result.retry_after)
            outcomes.append(Outcome(row.id, row.account_id, result))
            if not result.ok and not result.permanent:
                stopped = True  # keep the chat's order: the rest waits for this one
            if result.blocked:
                stopped = True
        return outcomes

    # ----------------------------------------------------------- recording
    def _record(self, outcomes: list[Outcome]) -> None:
        now = utcnow()
        with self.db.session() as session:
            rows = {
                row.id: row for row in session.scalars(
                    select(OutboxMessage).where(
                        OutboxMessage.id.in_([o.row_id for o in outcomes])
                    )
                )
            }
            blocked_accounts: set[int] = set()
            delay_for_chat: dict[tuple[str, str, int], datetime] = {}
            for outcome in outcomes:
                row = rows[outcome.row_id]
                result = outcome.result
                chat = (row.channel, row.chat_id, row.lane)
                row.claimed_by = None
                if result is None:
                    row.status = OutboxStatus.queued
                    row.next_attempt_at = delay_for_chat.get(chat, now)
                    continue
                if result.ok:
                    row.status, row.sent_at = OutboxStatus.sent, now
                    row.provider_message_id = result.provider_message_id
                    row.last_error = None
                elif result.blocked:
                    row.status, row.last_error = OutboxStatus.failed, result.error
                    if row.account_id is not None:
                        blocked_accounts.add(row.account_id)
                elif result.permanent:
                    row.status, row.last_error = OutboxStatus.failed, result.error
                elif result.retry_after is not None:
                    row.status, row.last_error = OutboxStatus.queued, result.error
                    row.next_attempt_at = now + timedelta(seconds=result.retry_after)
                else:
                    row.attempts += 1
                    row.last_error = result.error
                    if row.attempts >= self.max_attempts:
                        row.status = OutboxStatus.failed
                    else:
                        row.status = OutboxStatus.queued
                        backoff = min(MAX_BACKOFF_SECONDS, 2.0 ** row.attempts)
                        row.next_attempt_at = now + timedelta(
                            seconds=backoff * random.uniform(0.8, 1.2)
                        )
                if row.status is OutboxStatus.queued:
                    delay_for_chat[chat] = row.next_attempt_at
                OUTBOX_EVENTS.labels(row.channel, row.status.value).inc()
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


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    waiters: list[Awaitable[object]] = [stop.wait(), wake.wait()]
    tasks = [asyncio.ensure_future(w) for w in waiters]
    try:
        await asyncio.wait(tasks, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
