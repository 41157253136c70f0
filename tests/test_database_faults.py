"""The database away (#14, item 5): restarted, unreachable, or its connections
cut. Webhooks and the staff API answer 503 while it is away (the platforms
deliver again), and the pool and the worker recover by themselves when it is
back: nothing lost, nothing handled twice. PostgreSQL's outages are made with a
TCP proxy in front of the test database (tests/fakes/tcp_proxy.py) and with
pg_terminate_backend on this test's own database only."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, make_url, select, text

from bot.admin.deps import SESSION_COOKIE
from bot.app import create_app
from bot.db import Database
from bot.models import InboundUpdate, OutboxMessage, OutboxStatus
from bot.runtime import Runtime
from bot.worker import build_sender
from tests.channels.conftest import HEADERS_TG, TG_SECRET, VIBER_TOKEN, fast_limits
from tests.factories import make_runtime
from tests.fakes.tcp_proxy import TcpProxy
from tests.fakes.telegram_api import FakeTelegramAPI, tg_command_update
from tests.fakes.viber_api import FakeViberAPI, viber_message_event

UNREACHABLE = "postgresql+psycopg://nobody@127.0.0.1:1/none"  # nothing listens on port 1


@pytest.fixture
def tg() -> Iterator[FakeTelegramAPI]:
    with FakeTelegramAPI() as server:
        yield server


@pytest.fixture
def viber() -> Iterator[FakeViberAPI]:
    with FakeViberAPI(auth_token=VIBER_TOKEN) as server:
        yield server


def runtime_on(db: Database, tg: FakeTelegramAPI, viber: FakeViberAPI, data_dir: Path,
               **settings: object) -> Runtime:
    return make_runtime(db, data_dir=data_dir, telegram_bot_token=tg.token,
                        telegram_api_url=tg.url, telegram_webhook_secret=TG_SECRET,
                        viber_auth_token=VIBER_TOKEN, viber_api_url=f"{viber.url}/pa",
                        **fast_limits(), **settings)


def client_for(runtime: Runtime) -> httpx.AsyncClient:
    app = create_app(runtime=runtime, run_sender=False)
    transport = httpx.ASGITransport(app=app, client=("149.154.167.220", 443),
                                    raise_app_exceptions=False)  # a 500 is an answer here
    return httpx.AsyncClient(transport=transport, base_url="http://bot.test")


async def test_while_the_database_is_unreachable_everything_answers_503(
        tg: FakeTelegramAPI, viber: FakeViberAPI, data_dir: Path) -> None:
    runtime = runtime_on(Database(UNREACHABLE), tg, viber, data_dir)
    async with client_for(runtime) as client:
        telegram = await client.post("/webhooks/telegram", headers=HEADERS_TG,
                                     json=tg_command_update(1, 1))
        body, headers = viber.signed(viber_message_event("v-1", "hello"))
        on_viber = await client.post("/webhooks/viber", content=body, headers=headers)
        api = await client.get("/api/v1/complaints",
                               headers={"Authorization": "Bearer some-token"})
        sign_in = await client.post("/api/v1/auth/token",
                                    data={"username": "info1", "password": "x" * 12})
        page = await client.get("/staff/complaints",
                                headers={"Cookie": f"{SESSION_COOKIE}=a-session"})
    await runtime.close()
    assert page.status_code == 503 and "text/html" in page.headers["content-type"]
    assert (telegram.status_code, on_viber.status_code) == (503, 503)
    for answer in (api, sign_in):
        assert answer.status_code == 503
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["code"] == "database_unavailable"
        assert answer.headers["retry-after"]


def _postgres_only(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("PostgreSQL's connections and outages")


def terminate_backends(db: Database) -> int:
    """Cut every other connection to this test's own database (never another's)."""
    with db.engine.connect() as connection:
        killed = connection.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar_one()
        connection.commit()
    return int(killed)


async def test_the_pool_recovers_from_terminated_connections(
        db: Database, tg: FakeTelegramAPI, viber: FakeViberAPI, data_dir: Path) -> None:
    _postgres_only(db)
    runtime = runtime_on(db, tg, viber, data_dir)
    sender = build_sender(runtime)
    async with client_for(runtime) as client:
        for user in range(1, 6):  # fill the pool with connections
            answer = await client.post("/webhooks/telegram", headers=HEADERS_TG,
                                       json=tg_command_update(user, 500 + user))
            assert answer.status_code == 200
        await sender.drain()
        with db.engine.connect() as probe:  # one more checked-out connection to kill
            assert terminate_backends(db) >= 1
            with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises
                probe.execute(text("SELECT 1"))
        answer = await client.post("/webhooks/telegram", headers=HEADERS_TG,
                                   json=tg_command_update(9, 509))
        assert answer.status_code == 200
        await sender.drain()  # the lease's connection was cut too: taken again
    await runtime.close()
    chats = Counter(str(call.params["chat_id"]) for call in tg.delivered("sendMessage"))
    assert set(chats) == {str(500 + user) for user in (1, 2, 3, 4, 5, 9)}


@pytest.fixture
def proxied(db: Database) -> Iterator[tuple[Database, TcpProxy]]:
    """The test database behind a proxy that can drop it like a restart."""
    _postgres_only(db)
    url = make_url(db.url)
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        through = Database(url.set(host="127.0.0.1", port=proxy.port)
                           .render_as_string(hide_password=False))
        yield through, proxy
        through.dispose()


async def _until(condition: object, rounds: int = 400) -> None:
    """Wait (politely, on the loop) until `condition()` holds."""
    for _ in range(rounds):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


async def test_a_database_outage_under_load_loses_nothing(
        db: Database, proxied: tuple[Database, TcpProxy], tg: FakeTelegramAPI,
        viber: FakeViberAPI, data_dir: Path) -> None:
    """PostgreSQL goes away in the middle of a stream of webhooks, with the sender
    running: webhooks answer 503 and are delivered again, the sender loses its lease,
    survives, takes it again and sends what was queued; each citizen gets one answer."""
    _postgres_only(db)
    through, proxy = proxied
    runtime = runtime_on(through, tg, viber, data_dir, sender_lease_seconds=0.6)
    sender = build_sender(runtime)
    tries: list[str] = []  # the sender's attempts to take the lease
    acquire = sender.lease.acquire

    def counted_acquire() -> bool:
        tries.append("acquire")
        return acquire()

    sender.lease.acquire = counted_acquire  # type: ignore[method-assign]
    stop = asyncio.Event()
    worker = asyncio.create_task(sender.run(stop))
    statuses: Counter[int] = Counter()
    users = list(range(1, 41))

    async def deliver(client: httpx.AsyncClient, user: int) -> None:
        """As the platform does: the same update again until it is answered 200."""
        while True:
            answer = await client.post("/webhooks/telegram", headers=HEADERS_TG,
                                       json=tg_command_update(user, 800 + user))
            statuses[answer.status_code] += 1
            if answer.status_code == 200:
                return
            await asyncio.sleep(0.05)

    def replied() -> set[int]:
        return {int(call.params["chat_id"]) - 800 for call in tg.delivered("sendMessage")}

    def all_recorded() -> bool:
        with db.read_session() as session:
            return not session.scalar(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.status != OutboxStatus.sent))

    async with client_for(runtime) as client:
        # 1. It goes away while replies are on their way to the platform.
        tg.slow(0.2)
        posting = [asyncio.create_task(deliver(client, user)) for user in users[:20]]
        await _until(lambda: len(tg.delivered("sendMessage")) >= 3 and tg.in_flight > 0)
        proxy.cut()  # as in a restart: every connection dropped, new ones refused
        posting += [asyncio.create_task(deliver(client, user)) for user in users[20:30]]
        await _until(lambda: statuses[503] >= 10 and not sender.lease.held)
        proxy.restore()
        await asyncio.gather(*posting)
        tg.slow(0.0)
        await _until(lambda: replied() >= set(users[:30]) and all_recorded())
        # 2. It goes away while the sender is idle: it must keep trying to take its
        # lease again, without dying, for as long as the database is away.
        await _until(lambda: sender.lease.held)
        tried_before = len(tries)
        proxy.cut()
        posting = [asyncio.create_task(deliver(client, user)) for user in users[30:]]
        await _until(lambda: worker.done() or (statuses[503] >= 20 and not sender.lease.held
                                               and len(tries) >= tried_before + 3))
        assert not worker.done(), worker.exception()
        proxy.restore()
        await asyncio.gather(*posting)
        await _until(lambda: replied() >= set(users))
        assert not worker.done(), "the sender survived the outages"
    stop.set()
    await worker
    await runtime.close()

    assert statuses[503] >= 10 and set(statuses) <= {200, 503}  # never a 500
    per_chat = Counter(int(call.params["chat_id"]) for call in tg.delivered("sendMessage"))
    assert per_chat == Counter({800 + user: 1 for user in users})  # none lost, none twice
    with db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(InboundUpdate)) == len(users)
        assert set(session.scalars(select(OutboxMessage.status))) == {OutboxStatus.sent}

