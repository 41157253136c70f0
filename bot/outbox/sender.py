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
import inspect
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Table, and_, bindparam, exists, or_, select, update
from sqlalchemy.orm import aliased

from bot.channels.base import Provider, RateLimits, SendResult, can_edit
from bot.db import Database, utcnow
from bot.messages import Reply
from bot.metrics import OUTBOX_EVENTS, OUTBOX_RETRIES, VIBER_OUT_OF_SESSION
from bot.models import ChannelAccount, Lane, OutboxMessage, OutboxStatus
from bot.outbox.lease import Lease
from bot.outbox.queue import on_enqueued
from bot.outbox.steps import repeat_after_bulk

log = logging.getLogger(__name__)
MAX_BACKOFF_SECONDS = 300.0
PIPELINE_DEPTH = 2
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
            claimed_by=None)
)


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

    def idle(self, now: float) -> bool:
        """Whether a new limiter would behave exactly like this one: no pause,
        no waiter, and its last slot long past (the full burst is back) — a
        minute, more than any send of the chat still under way can take to
        come back for its next slot. Forgetting it changes nothing."""
        return (self.next_slot <= now - IDLE_SECONDS and self.paused_until <= now
                and not self._lock.locked())

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
    row: OutboxMessage  # as claimed (detached)
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
        concurrency: int = 32,
        backoff_seconds: float = 2.0,
        max_backoff_seconds: float = MAX_BACKOFF_SECONDS,
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
        # A slot is held from the request until its outcome is stored: the bound
        # on what a crash can send twice.
        self._slots: asyncio.Semaphore | None = None
        self._stopping = False
        self._pending: list[tuple[list[Outcome], asyncio.Future[None]]] = []
        self._write_lock: asyncio.Lock | None = None
        # A little under the platform's limit: requests reach it with some
        # jitter, and one over the limit costs a whole second of pause.
        self._global = {name: RateLimiter(p.limits.per_second * GLOBAL_MARGIN, 1)
                        for name, p in providers.items()}
        self._per_chat: OrderedDict[tuple[str, str], RateLimiter] = OrderedDict()
        self._sweep_at = PER_CHAT_SWEEP
        self._wake: asyncio.Event | None = None

    # ------------------------------------------------------------ the loop
    async def run(self, stop: asyncio.Event) -> None:
        """Hold (or wait for) the lease; while held, send and run timers."""
        loop = asyncio.get_running_loop()
        self._stopping = False
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
                    held = await self._hold_lease()
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
            self._stopping = True
            await self._stop_timer_tasks()
            if in_flight:
                await asyncio.wait(in_flight)
            remove()
            try:
                await asyncio.to_thread(self.lease.release)
            except Exception as exc:  # the database is away: the lease simply expires
                log.warning("could not release the sender lease: %s", exc)

    async def _hold_lease(self) -> bool:
        """Renew the lease, or try to take it. A database that is away (restarting,
        unreachable) means "not held, try again shortly" — never the end of the loop."""
        try:
            return await asyncio.to_thread(
                self.lease.renew if self.lease.held else self.lease.acquire)
        except Exception as exc:
            if self.lease.held:
                log.warning("sender lease lost: the database is unavailable (%s)", exc)
            else:
                log.warning("sender lease not taken: the database is unavailable (%s)", exc)
            self.lease.held = False
            return False

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
        await asyncio.gather(*(self._send_chat(g) for g in groups.values()))
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
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        provider = self.providers[rows[0].channel]
        chat_limiter = self._chat_limiter(rows[0].channel, rows[0].chat_id, provider.limits)
        for index, row in enumerate(rows):
            await chat_limiter.acquire()
            if self._stopping:  # shutting down: what has not gone waits for the next sender
                await self._write([Outcome(later, None) for later in rows[index:]])
                return
            async with self._slots:
                await self._global[row.channel].acquire()
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
                await asyncio.to_thread(self._record, outcomes)
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
            if result is None:
                next_at = delay_for_chat.get(chat, now)
            elif result.ok:  # an error here is a note (an edit sent as a new message)
                status, sent_at, provider_id, error = (
                    OutboxStatus.sent, now, result.provider_message_id, result.error)
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
                            "b_sent": sent_at, "b_provider_id": provider_id})
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
