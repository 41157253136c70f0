"""The worker: the outbox sender and the flows' timers (reminders, deadlines,
notices, photo and voice message fetching). `klokot-bot worker` runs it alone; the web app and
the poller run it beside themselves unless `OUTBOX_IN_WEB=false`."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from datetime import datetime

from bot.engine.router import TimerWork
from bot.outbox.budget import SmsBudget
from bot.outbox.lease import Lease
from bot.outbox.sender import Sender, Timer
from bot.runtime import Runtime, build_runtime, freeze_startup_objects
from bot.services.sms import alert_when_budget_reached

log = logging.getLogger(__name__)
PHOTO_INTERVAL_SECONDS = 5.0
SMS_BUDGET_INTERVAL_SECONDS = 60.0


def build_timers(runtime: Runtime) -> list[Timer]:
    """The flows' timers, each run in a transaction of its own."""

    def bind(work: TimerWork) -> Callable[[datetime], object]:
        def run(now: datetime) -> object:
            with runtime.db.session() as session:
                return work(session, runtime.profile, runtime.catalogs, now)

        return run

    timers = [Timer(entry.name, entry.interval, bind(entry.work))
              for entry in runtime.routes.timers]
    if runtime.sms is not None:
        def sms_budget(now: datetime) -> object:
            with runtime.db.session() as session:
                return alert_when_budget_reached(session, runtime.profile, runtime.catalogs,
                                                 now)

        timers.append(Timer("sms_budget", SMS_BUDGET_INTERVAL_SECONDS, sms_budget))
    fetcher = runtime.photo_fetcher()
    if fetcher is not None:
        timers.append(Timer("photos", PHOTO_INTERVAL_SECONDS, fetcher.run_once))
    voices = runtime.voice_fetcher()
    if voices is not None:
        timers.append(Timer("voice", PHOTO_INTERVAL_SECONDS, voices.run_once))
    return timers


def build_sender(runtime: Runtime) -> Sender:
    settings = runtime.settings
    return Sender(
        runtime.db, runtime.providers,
        lease=Lease(runtime.db, ttl_seconds=settings.sender_lease_seconds),
        batch_size=settings.sender_batch_size, max_attempts=settings.sender_max_attempts,
        concurrency=settings.sender_concurrency, backoff_seconds=settings.sender_backoff_seconds,
        timers=build_timers(runtime),
        sms_budget=SmsBudget(runtime.profile.sms.monthly_segment_budget, runtime.profile.tz)
        if runtime.sms is not None else None,
    )


async def run_worker() -> None:
    """Send and run timers until SIGINT or SIGTERM."""
    runtime = build_runtime()
    freeze_startup_objects()
    if not runtime.providers:
        log.warning("no channel configured: the worker has nothing to send")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await build_sender(runtime).run(stop)
    finally:
        await runtime.close()
