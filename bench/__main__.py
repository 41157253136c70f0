"""`make bench`: (1) how fast the bot accepts Telegram updates, measured like
a platform would see it — a real `klokot-bot serve` on SQLite (and on
PostgreSQL when TEST_DATABASE_URL is set), updates posted over HTTP by
concurrent clients, replies left to the sender (pointed at a local fake Bot
API) — beside two anchors under the same load: bare aiogram 3 and
python-telegram-bot echo bots behind FastAPI (bench/anchors.py); (2) broadcast efficiency — a notice
to thousands of subscribers through `klokot-bot worker` against a fake API
that enforces the rate limit (bench/broadcast.py); (3) webhook latency
during a flood of sign-ins (bench/signin_flood.py); (4) reply latency at a
steady 20 updates/s, sender in the web process and web + worker
(bench/latency.py, alone: `python -m bench latency`); (5) the RSS of the web
process and the worker over 100,000 updates (bench/memory.py, alone:
`python -m bench memory`). `python -m bench db-restart` is the database-outage
drill (bench/db_restart.py), never part of `make bench`."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench import free_port, serving, wait_until_healthy
from tests.fakes.telegram_api import FakeTelegramAPI, tg_message_update

SECRET = "bench-webhook-secret-0123456789"
WARM_UP = 200  # updates each server is given before it is measured
PG_TWO = "klokot-bot, PG, 2 procs"  # `serve --workers 2`, one sender by the lease


@dataclass
class Load:
    """What one run of the load gave: seconds, per-request latencies, non-2xx."""

    elapsed: float
    latencies: list[float]
    failures: int
    client_cpu: float  # seconds of CPU the load generator (this process) used

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


async def post_updates(base: str, total: int, users: int, concurrency: int,
                       first_id: int = 10_000) -> Load:
    """`total` text updates from `users` citizens over `concurrency`
    keep-alive connections, as fast as they are answered."""
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)
    latencies: list[float] = []
    failures = 0

    async def client() -> None:
        nonlocal failures
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            while not queue.empty():
                i = queue.get_nowait()
                update = tg_message_update(first_id + i, 1 + i % users, f"hello {i}")
                sent = time.perf_counter()
                response = await http.post("/webhooks/telegram", json=update, headers=headers)
                latencies.append(time.perf_counter() - sent)
                failures += not 200 <= response.status_code < 300

    cpu = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return Load(time.perf_counter() - started, latencies, failures, time.process_time() - cpu)


def main() -> None:
    if sys.argv[1:2] == ["db-restart"]:  # a drill, run only when asked for by name
        from bench.db_restart import main as drill

        drill(sys.argv[2:])
        return
    if sys.argv[1:2] == ["latency"]:  # this part alone, with its own options
        from bench.latency import main as latency

        latency(sys.argv[2:])
        return
    if sys.argv[1:2] == ["memory"]:  # `python -m bench memory --updates N` (bench/memory.py)
        from bench.memory import main as memory

        memory(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--updates", type=int, default=3000)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--subscribers", type=int, default=5000)
    parser.add_argument("--limit", type=float, default=30.0,
                        help="messages per second the fake API allows (Telegram's is about 30)")
    parser.add_argument("--only", choices=["intake", "broadcast", "signin", "latency"])
    parser.add_argument("--signin-threads", type=int, default=16)
    parser.add_argument("--limited", action="store_true",
                        help="sign-in flood with the default per-address limits")
    args = parser.parse_args()
    if args.only in (None, "intake"):
        intake(args)
    if args.only in (None, "broadcast"):
        from bench.broadcast import main as broadcast

        broadcast(args.subscribers, args.limit)
    if args.only in (None, "signin"):
        from bench.signin_flood import main as signin_flood

        signin_flood(threads=args.signin_threads, limited=args.limited)
    if args.only in (None, "latency"):
        from bench.latency import main as latency

        latency([])
    if args.only is None:
        from bench.memory import main as memory

        memory([])  # 100,000 updates: `python -m bench memory --updates N` for fewer


@contextmanager
def anchor(framework: str, tg: FakeTelegramAPI) -> Iterator[str]:
    """A bare echo bot (bench/anchors.py) on a free port, once it answers."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "bench.anchors", framework, "--port",
                                str(port), "--api", tg.url, "--token", tg.token])
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def postgres_database(url: str) -> Iterator[str]:
    """A database of its own on TEST_DATABASE_URL's server, dropped afterwards."""
    name = f"bench_{os.getpid()}"
    server = make_url(url)
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def anchor_replies(tg: FakeTelegramAPI, expected: int, what: str) -> None:
    """An echo bot answers each update once."""
    with suppress(AssertionError):  # a timeout: the count below says what is missing
        tg.wait_for(expected, method="sendMessage", timeout=600)
    time.sleep(1.0)  # a reply sent twice would arrive by now
    sent = len(tg.delivered("sendMessage"))
    if sent != expected:
        sys.exit(f"{what}: {sent} replies reached the fake Bot API, {expected} expected")


def bot_replies(tg: FakeTelegramAPI, url: str, updates: int, what: str) -> float:
    """Seconds until the outbox is empty; exits non-zero when an update was not
    recorded once, or a queued reply did not reach the fake Bot API exactly once
    (speed never costs a guarantee)."""
    engine = create_engine(url)
    started = time.perf_counter()
    try:
        for _ in range(6000):
            with engine.connect() as connection:
                waiting = connection.scalar(text(
                    "SELECT count(*) FROM outbox_message WHERE status IN ('queued', 'sending')"))
            if not waiting:
                break
            time.sleep(0.1)
        drained = time.perf_counter() - started
        time.sleep(1.0)  # a reply sent twice would arrive by now
        with engine.connect() as connection:
            handled = connection.scalar(text("SELECT count(*) FROM inbound_update"))
            queued = connection.scalar(text("SELECT count(*) FROM outbox_message"))
            sent = connection.scalar(text(
                "SELECT count(*) FROM outbox_message WHERE status = 'sent'"))
    finally:
        engine.dispose()
    # An edit that takes old buttons away is an outbox row too.
    delivered = sum(len(tg.delivered(method)) for method in (
        "sendMessage", "editMessageReplyMarkup", "editMessageText"))
    if handled != updates or sent != queued or delivered != sent:
        sys.exit(f"{what}: {updates} updates posted, {handled} recorded; {queued} replies "
                 f"queued, {sent} sent, {delivered} reached the fake Bot API")
    return drained


def intake(args: argparse.Namespace) -> None:
    """The same load on the two anchors and on the bot (SQLite; PostgreSQL when
    TEST_DATABASE_URL is set), each against its own fake Bot API."""
    print(f"webhook intake: {args.updates} Telegram text updates from {args.users} citizens, "
          f"{args.concurrency} connections, load from this process (httpx)")
    results: dict[str, Load] = {}
    for framework in ("aiogram", "ptb"):
        with FakeTelegramAPI() as tg, anchor(framework, tg) as base:
            asyncio.run(post_updates(base, WARM_UP, args.users, args.concurrency, first_id=1))
            tg.wait_for(WARM_UP, method="sendMessage", timeout=120)
            tg.reset()
            results[f"{framework} echo"] = load = asyncio.run(
                post_updates(base, args.updates, args.users, args.concurrency))
            anchor_replies(tg, args.updates, f"{framework} echo")
    shapes: list[tuple[str, str | None]] = [("klokot-bot, SQLite", None)]
    if os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"):
        shapes.append(("klokot-bot, PostgreSQL", os.environ["TEST_DATABASE_URL"]))
        shapes.append((PG_TWO, os.environ["TEST_DATABASE_URL"]))  # serve --workers 2
    for name, server_url in shapes:
        with tempfile.TemporaryDirectory() as tmp, FakeTelegramAPI() as tg, \
                (postgres_database(server_url) if server_url else nullcontext(
                    f"sqlite:///{tmp}/bench.db")) as url:
            env = {**os.environ, "DATABASE_URL": url, "DATA_DIR": tmp,
                   "TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_API_URL": tg.url,
                   "TELEGRAM_WEBHOOK_SECRET": SECRET, "LOG_LEVEL": "WARNING",
                   "TELEGRAM_CHAT_BURST": "100", "WEB_CONCURRENCY": "2" if name == PG_TWO else "1"}
            with serving(env) as (base, _):
                # Warmed like the anchors: the same 200 updates first.
                asyncio.run(post_updates(base, WARM_UP, args.users, args.concurrency, first_id=1))
                results[name] = load = asyncio.run(
                    post_updates(base, args.updates, args.users, args.concurrency))
                drained = bot_replies(tg, url, WARM_UP + args.updates, name)
                print(f"  {name}: replies all delivered {drained:.2f} s after the last update")
    failed = False
    print(f"{'':24} {'updates/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'load CPU s':>10} "
          f"{'× aiogram':>10} {'× ptb':>7}")
    for name, load in results.items():
        failed |= load.failures > 0
        print(f"{name:24} {load.rate:10.0f} {load.percentile(0.5):8.1f} "
              f"{load.percentile(0.99):8.1f} {load.client_cpu:10.1f} "
              f"{load.rate / results['aiogram echo'].rate:10.2f} "
              f"{load.rate / results['ptb echo'].rate:7.2f}"
              + (f"  ({load.failures} not 2xx)" if load.failures else ""))
    if failed:
        sys.exit("some updates were not answered 2xx")


if __name__ == "__main__":
    main()
