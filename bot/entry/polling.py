"""`klokot-bot poll`: Telegram long polling into the same engine, for setups
with no public address. The sender runs beside it unless OUTBOX_IN_WEB=false."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram.error import NetworkError, RetryAfter, TelegramError

from bot.channels.telegram import ALLOWED_UPDATES, parse_update
from bot.engine.dispatcher import DatabaseUnavailable
from bot.runtime import Runtime, build_runtime
from bot.worker import build_sender

log = logging.getLogger(__name__)


async def poll_once(runtime: Runtime, offset: int | None, timeout: int = 30) -> int | None:
    """Fetch one batch and hand each update to the engine, in order; returns
    the next offset. An update is confirmed (offset moves past it) only once
    stored, so a database outage means it is fetched again, not lost."""
    assert runtime.telegram is not None
    bot = runtime.telegram.bot
    updates = await bot.get_updates(offset=offset, timeout=timeout,
                                    allowed_updates=ALLOWED_UPDATES)
    for update in updates:
        try:
            incoming, callback_id = parse_update(update.to_dict())
        except ValueError as exc:
            log.warning("skipping update %s: %s", update.update_id, exc)
            offset = update.update_id + 1
            continue
        try:
            await asyncio.to_thread(runtime.engine.handle, incoming)
        except DatabaseUnavailable:
            log.error("database unavailable; update %s will be fetched again", update.update_id)
            await asyncio.sleep(5)
            return offset
        if callback_id:
            with contextlib.suppress(TelegramError):
                await bot.answer_callback_query(callback_id)
        offset = update.update_id + 1
    return offset


async def run_polling(stop: asyncio.Event | None = None) -> int:
    runtime = build_runtime()
    if runtime.telegram is None:
        log.error("TELEGRAM_BOT_TOKEN is not set: nothing to poll")
        return 2
    stop = stop or asyncio.Event()
    sender_task = None
    if runtime.settings.outbox_in_web:
        sender_task = asyncio.create_task(build_sender(runtime).run(stop))
    with contextlib.suppress(TelegramError):
        await runtime.telegram.bot.delete_webhook()
    offset: int | None = None
    try:
        while not stop.is_set():
            try:
                offset = await poll_once(runtime, offset)
            except RetryAfter as exc:
                wait = exc.retry_after
                await asyncio.sleep(
                    wait.total_seconds() if hasattr(wait, "total_seconds") else float(wait)
                )
            except (NetworkError, TelegramError) as exc:
                log.warning("polling failed (%s); retrying in 5 s", exc)
                await asyncio.sleep(5)
    finally:
        stop.set()
        if sender_task:
            await sender_task
        await runtime.close()
    return 0
