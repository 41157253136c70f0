"""`python -m bench memory`: the resident memory (RSS) of the web process and of
the worker in the production shape (`klokot-bot serve` with OUTBOX_IN_WEB=false
beside `klokot-bot worker`; PostgreSQL when TEST_DATABASE_URL is set, else
SQLite), idle after start, idle after a warm-up, and after `--updates` more
Telegram updates (100,000 by default) from `--users` citizens, every reply
delivered to a local fake Bot API.

It fails (non-zero exit) when either process grew more than 10 % after the
warm-up — memory that grows with the updates or the citizens served is a leak
that ends in the out-of-memory killer — when the idle RSS is over the targets
(web 150 MB, worker 120 MB), or when an update was not answered 2xx, recorded
once, or its reply not delivered exactly once. RSS is read from
/proc/<pid>/status (Linux)."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench import serving
from tests.fakes.telegram_api import FakeTelegramAPI, tg_message_update

SECRET = "bench-memory-secret-0123456789"
GROWTH_LIMIT = 0.10
TARGET_MB = {"web": 150.0, "worker": 120.0}
BATCH = 10_000  # updates between two progress lines
# What an outbox row becomes at the Bot API (a welcome can edit the keyboard
# of the message before it): each counts as one delivered reply.
SENDS = ("sendMessage", "editMessageText", "editMessageReplyMarkup", "sendPhoto",
         "sendDocument", "sendLocation", "deleteMessage")


def rss_mb(pid: int) -> float:
    """The process's resident set, from /proc (no dependency for one number)."""
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no VmRSS for process {pid}")
    return int(found.group(1)) / 1024


async def post(base: str, first: int, count: int, users: int, concurrency: int) -> int:
    """`count` text updates (ids from `first`) over `concurrency` keep-alive
    connections; how many were not answered 2xx."""
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    numbers = iter(range(first, first + count))
    failures = 0

    async def client() -> None:
        nonlocal failures
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            for i in numbers:
                update = tg_message_update(1_000_000 + i, 1 + i % users, f"hello {i}")
                response = await http.post("/webhooks/telegram", json=update, headers=headers)
                failures += not 200 <= response.status_code < 300

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return failures


class Outbox:
    """Reads the bench database: what is waiting, what was handled and sent."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)

    def count(self, sql: str) -> int:
        with self.engine.connect() as connection:
            return int(connection.scalar(text(sql)) or 0)

    def drain(self, seconds: float = 1800) -> None:
        """Until nothing is queued or being sent (or the time is up)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.count(
                "SELECT count(*) FROM outbox_message WHERE status IN ('queued', 'sending')"):
            time.sleep(0.2)


@contextmanager
def database(tmp: str) -> Iterator[str]:
    """A PostgreSQL database of its own on TEST_DATABASE_URL's server (dropped
    afterwards), else a SQLite file in `tmp`."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        yield f"sqlite:///{tmp}/bench.db"
        return
    name = f"bench_memory_{os.getpid()}"
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench memory", description=__doc__)
    parser.add_argument("--updates", type=int, default=100_000,
                        help="updates after the warm-up (default 100,000)")
    parser.add_argument("--warmup", type=int, default=3_000)
    parser.add_argument("--users", type=int, default=20_000,
                        help="citizens the updates come from (each a chat of its own)")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, FakeTelegramAPI() as tg, database(tmp) as url:
        run(args, url, tmp, tg)


def run(args: argparse.Namespace, url: str, tmp: str, tg: FakeTelegramAPI) -> None:
    kind = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(f"memory: web (OUTBOX_IN_WEB=false) + worker on {kind}; {args.warmup} updates of "
          f"warm-up, then {args.updates} from {args.users} citizens", flush=True)
    env = {**os.environ, "DATABASE_URL": url, "DATA_DIR": tmp, "OUTBOX_IN_WEB": "false",
           "TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_API_URL": tg.url,
           "TELEGRAM_WEBHOOK_SECRET": SECRET, "LOG_LEVEL": "WARNING",
           # the fake API is local: the platform's limits would only make it slow
           "TELEGRAM_RATE_PER_SECOND": "100000", "TELEGRAM_CHAT_RATE_PER_SECOND": "1000",
           "TELEGRAM_CHAT_BURST": "100"}
    outbox = Outbox(url)
    delivered = 0
    failures = 0
    rss: dict[str, dict[str, float]] = {"web": {}, "worker": {}}
    with serving(env) as (base, web):
        worker = subprocess.Popen([sys.executable, "-m", "bot.cli", "worker"], env=env)
        pids = {"web": web.pid, "worker": worker.pid}
        try:
            time.sleep(3.0)  # the worker's imports and first lease round

            def measure(moment: str) -> None:
                for name, pid in pids.items():
                    rss[name][moment] = rss_mb(pid)

            def phase(first: int, count: int) -> None:
                nonlocal delivered, failures
                failures += asyncio.run(post(base, first, count, args.users, args.concurrency))
                outbox.drain()
                delivered += sum(len(tg.delivered(method)) for method in SENDS)
                # Only the record of calls: the fake keeps the chats' messages, which later
                # replies edit (a reset would make those edits fail as "not found").
                tg.forget_calls()

            measure("start")
            phase(0, args.warmup)
            time.sleep(2.0)
            measure("warm")
            started = time.perf_counter()
            done = 0
            while done < args.updates:
                count = min(BATCH, args.updates - done)
                phase(args.warmup + done, count)
                done += count
                print(f"  {done:>7} updates: web {rss_mb(pids['web']):6.1f} MB, "
                      f"worker {rss_mb(pids['worker']):6.1f} MB "
                      f"({done / (time.perf_counter() - started):.0f} updates/s)", flush=True)
            time.sleep(2.0)
            measure("after")
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
    report(args, outbox, delivered, failures, rss)


def report(args: argparse.Namespace, outbox: Outbox, delivered: int, failures: int,
           rss: dict[str, dict[str, float]]) -> None:
    posted = args.warmup + args.updates
    handled = outbox.count("SELECT count(*) FROM inbound_update")
    queued = outbox.count("SELECT count(*) FROM outbox_message")
    sent = outbox.count("SELECT count(*) FROM outbox_message WHERE status = 'sent'")
    outbox.engine.dispose()
    problems = []
    print(f"{'RSS MB':10} {'start':>8} {'warmed':>8} {'after':>8} {'growth':>8} {'target':>8}")
    for name, at in rss.items():
        growth = at["after"] / at["warm"] - 1
        print(f"{name:10} {at['start']:8.1f} {at['warm']:8.1f} {at['after']:8.1f} "
              f"{growth:8.1%} {TARGET_MB[name]:8.0f}")
        if growth > GROWTH_LIMIT:
            problems.append(f"the {name} process grew {growth:.1%} after the warm-up "
                            f"({at['warm']:.1f} → {at['after']:.1f} MB)")
        if at["warm"] > TARGET_MB[name]:
            problems.append(f"the idle {name} process uses {at['warm']:.1f} MB "
                            f"(target {TARGET_MB[name]:.0f})")
    if failures:
        problems.append(f"{failures} updates were not answered 2xx")
    if handled != posted or sent != queued or delivered != sent:
        problems.append(f"{posted} updates posted, {handled} recorded; {queued} replies "
                        f"queued, {sent} sent, {delivered} reached the fake Bot API")
    if problems:
        sys.exit("memory: " + "; ".join(problems))
