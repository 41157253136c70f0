"""The FastAPI app: the webhooks, the staff API and pages, Open311, health and
metrics. Its lifespan builds the runtime once and, unless
`OUTBOX_IN_WEB=false`, runs the worker (`bot.worker`) beside it — so a
one-process install just works, and a many-process install has one sender
elected by the lease."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select, text
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp

from bot.admin.web import mount_staff
from bot.config import Settings
from bot.db import utcnow
from bot.entry.limits import BodyLimit
from bot.entry.request_ids import RequestIds
from bot.entry.webhooks import router as webhooks_router
from bot.metrics import (
    DOCUMENTS_OVERDUE,
    OUTBOX_NOW,
    OUTBOX_OLDEST_DUE,
    REGISTRY,
    SENDER_LEASE_HELD,
    TELEGRAM_WEBHOOK_LAST_ERROR,
    TELEGRAM_WEBHOOK_PENDING,
    TELEGRAM_WEBHOOK_UP,
    VIBER_OUT_OF_SESSION_MONTH,
)
from bot.models import OutboxMessage, OutboxStatus
from bot.open311.api import PREFIX as OPEN311_PREFIX
from bot.open311.api import open311_app
from bot.outbox.held import month_start, out_of_session_counts
from bot.outbox.lease import holder
from bot.runtime import Runtime, build_runtime
from bot.services import documents
from bot.worker import build_sender

log = logging.getLogger(__name__)
LOOPBACK = {"127.0.0.1", "::1", "localhost", "testclient"}


def _outbox_gauges(runtime: Runtime) -> None:
    """How many messages wait, were sent or failed, per channel, right now;
    how long the longest-waiting one has been due; whether a sender holds the
    lease; how many document requests are overdue; how many billed Viber
    messages went this month, by purpose."""
    now = utcnow()
    try:
        with runtime.db.read_session() as session:
            rows = session.execute(
                select(OutboxMessage.channel, OutboxMessage.status, func.count())
                .group_by(OutboxMessage.channel, OutboxMessage.status)
            ).all()
            oldest_due = session.scalar(select(func.min(OutboxMessage.next_attempt_at)).where(
                OutboxMessage.status == OutboxStatus.queued,
                OutboxMessage.next_attempt_at <= now))
            overdue = documents.count_overdue(session, now)
            billed = out_of_session_counts(session, month_start(now, runtime.profile.tz))
        held = holder(runtime.db) is not None
    except Exception:
        log.warning("could not read outbox counts for /metrics", exc_info=True)
        return
    OUTBOX_NOW.clear()
    for channel, status, count in rows:
        OUTBOX_NOW.labels(channel, status.value).set(count)
    OUTBOX_OLDEST_DUE.set(max(0.0, (now - oldest_due).total_seconds()) if oldest_due else 0.0)
    SENDER_LEASE_HELD.set(1 if held else 0)
    DOCUMENTS_OVERDUE.set(overdue)
    VIBER_OUT_OF_SESSION_MONTH.clear()
    for purpose, count in billed.items():
        VIBER_OUT_OF_SESSION_MONTH.labels(purpose).set(count)


class TelegramWebhookHealth:
    """Asks Telegram how our webhook fares at most once a minute per process
    (a scrape every few seconds must not become a call to Telegram each time)."""

    EVERY_SECONDS = 60.0
    TIMEOUT_SECONDS = 5.0

    def __init__(self) -> None:
        self.asked_at: float | None = None

    async def refresh(self, runtime: Runtime) -> None:
        if runtime.telegram is None:
            return
        now = time.monotonic()
        if self.asked_at is not None and now - self.asked_at < self.EVERY_SECONDS:
            return
        self.asked_at = now
        try:
            status = await asyncio.wait_for(runtime.telegram.webhook_status(),
                                            self.TIMEOUT_SECONDS)
        except Exception as exc:
            log.warning("getWebhookInfo failed for /metrics: %s", type(exc).__name__)
            TELEGRAM_WEBHOOK_UP.set(0)
            return
        TELEGRAM_WEBHOOK_UP.set(1)
        TELEGRAM_WEBHOOK_PENDING.set(status.pending_updates or 0)
        TELEGRAM_WEBHOOK_LAST_ERROR.set(status.last_error_at or 0)


class KlokotApp(FastAPI):
    """FastAPI with the request id outside everything, the framework's own
    error handler too: a 500's traceback line and its response carry the id."""

    def build_middleware_stack(self) -> ASGIApp:
        return RequestIds(super().build_middleware_stack())


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None,
               run_sender: bool | None = None) -> FastAPI:
    runtime = runtime or build_runtime(settings)
    with_sender = runtime.settings.outbox_in_web if run_sender is None else run_sender

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = None
        if with_sender and (runtime.providers or runtime.routes.timers):
            task = asyncio.create_task(build_sender(runtime).run(stop), name="sender")
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait_for(task, timeout=10)
            await runtime.close()

    app = KlokotApp(
        title="Klokot citizen bot",
        description="The admin API of the Municipality of Klokot's citizen bot. Sign in at "
                    "`POST /api/v1/auth/token` and send the token as `Authorization: Bearer …`.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.include_router(webhooks_router)
    # Open311 GeoReport v2: its own error format, outside the admin schema.
    app.mount(OPEN311_PREFIX, open311_app(runtime))
    mount_staff(app)
    app.add_middleware(BodyLimit, db=lambda: runtime.db)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> JSONResponse:
        """Whether the database answers."""

        def ping() -> None:
            with runtime.db.read_session() as session:
                session.execute(text("SELECT 1"))

        try:
            await run_in_threadpool(ping)
        except Exception as exc:
            log.warning("health check failed: %s", exc)
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
        return JSONResponse({"status": "ok", "database": "ok"})

    telegram_health = TelegramWebhookHealth()

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        client = request.client.host if request.client else ""
        token = runtime.settings.metrics_token
        auth = request.headers.get("authorization", "")
        given = auth.removeprefix("Bearer ").strip()  # never in the URL: URLs are logged
        allowed = client in LOOPBACK or (
            bool(token) and hmac.compare_digest(given.encode(), (token or "").encode())
        )
        if not allowed:
            return PlainTextResponse("metrics are served to loopback or with METRICS_TOKEN", 403)
        await run_in_threadpool(_outbox_gauges, runtime)
        await telegram_health.refresh(runtime)
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return app
