"""Drill (#14, item 5): the database goes away under load.

`python -m bench db-restart --database-url postgresql+psycopg://…/drill` starts a
real `klokot-bot serve` (its sender inside) against that PostgreSQL database and a
fake Bot API, posts /start from many new citizens as Telegram would (an update not
answered 200 is delivered again), and in the middle takes the database away:

- `--mode proxy` (the default, harmless on a shared machine): the server reaches
  PostgreSQL through a TCP proxy that drops every connection and refuses new ones
  for `--outage` seconds, as a restart or a network cut looks from the bot;
- `--mode restart --yes-restart-postgresql`: runs `pg_ctlcluster <version> main
  restart` on the local server (version from /etc/postgresql) — every database
  on it restarts, so never where others are working.

It prints the answers by status, how long webhooks were refused, and what the
citizens got: replies lost (a citizen with none) and duplicated (more than one).
The database is migrated to the head; the drill's citizens are new users with
their own ids, and the drill leaves them there."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import make_url

from bench import serving
from bot.migrate import upgrade
from tests.fakes._base import Call
from tests.fakes.tcp_proxy import TcpProxy
from tests.fakes.telegram_api import FakeTelegramAPI, tg_command_update

SECRET = "drill-webhook-secret-0123456789"


def postgres_version() -> str:
    versions = sorted(os.listdir("/etc/postgresql"), key=lambda v: [int(p) for p in v.split(".")
                                                                   if p.isdigit()])
    if not versions:
        raise SystemExit("no PostgreSQL cluster under /etc/postgresql")
    return versions[-1]


class Load:
    """Concurrent clients posting one /start per new citizen, again until 200."""

    def __init__(self, base: str, users: int, first_user: int, concurrency: int) -> None:
        self.base = base
        self.users = list(range(first_user, first_user + users))
        self.concurrency = concurrency
        self.statuses: Counter[int | str] = Counter()
        self.acknowledged = 0
        self.refused_since: float | None = None
        self.refused_for = 0.0
        self.acked = threading.Event()

    async def run(self, fault_after: int, fault: threading.Event) -> None:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for user in self.users:
            queue.put_nowait(user)
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}

        async def client() -> None:
            async with httpx.AsyncClient(base_url=self.base, timeout=30) as http:
                while not queue.empty():
                    user = queue.get_nowait()
                    while True:
                        try:
                            response = await http.post(
                                "/webhooks/telegram", headers=headers,
                                json=tg_command_update(user, user))
                            status: int | str = response.status_code
                        except httpx.HTTPError as exc:
                            status = type(exc).__name__
                        self.statuses[status] += 1
                        now = time.monotonic()
                        if status == 200:
                            if self.refused_since is not None:
                                self.refused_for += now - self.refused_since
                                self.refused_since = None
                            self.acknowledged += 1
                            if self.acknowledged == fault_after:
                                fault.set()
                            break
                        if self.refused_since is None:
                            self.refused_since = now
                        await asyncio.sleep(0.2 + random.random() * 0.3)  # redelivery

        await asyncio.gather(*(client() for _ in range(self.concurrency)))


def take_database_away(mode: str, proxy: TcpProxy | None, outage: float,
                       log: list[str]) -> None:
    started = time.monotonic()
    if mode == "proxy":
        assert proxy is not None
        proxy.cut()
        log.append(f"database cut off (proxy) for {outage:.0f} s")
        time.sleep(outage)
        proxy.restore()
    else:
        version = postgres_version()
        log.append(f"pg_ctlcluster {version} main restart")
        done = subprocess.run(["pg_ctlcluster", version, "main", "restart"],
                              capture_output=True, text=True, check=False)
        if done.returncode:
            log.append(f"  restart failed: {done.stderr.strip()}")
    log.append(f"database back after {time.monotonic() - started:.1f} s")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench db-restart", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("DRILL_DATABASE_URL"),
                        help="a PostgreSQL database for the drill (or DRILL_DATABASE_URL)")
    parser.add_argument("--mode", choices=["proxy", "restart"], default="proxy")
    parser.add_argument("--yes-restart-postgresql", action="store_true",
                        help="needed with --mode restart: the whole local server restarts")
    parser.add_argument("--users", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--fault-after", type=int, default=200,
                        help="acknowledged updates before the database goes away")
    parser.add_argument("--outage", type=float, default=20.0, help="seconds (proxy mode)")
    args = parser.parse_args(argv)
    if not args.database_url or not args.database_url.startswith("postgresql"):
        raise SystemExit("give --database-url postgresql+psycopg://… (a database of its own)")
    if args.mode == "restart" and not args.yes_restart_postgresql:
        raise SystemExit("--mode restart restarts the local PostgreSQL server for everyone "
                         "using it; add --yes-restart-postgresql if that is what you want")
    upgrade(args.database_url)
    url = make_url(args.database_url)
    first_user = int(time.time()) % 1_000_000 * 1000  # new citizens each run
    events: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, FakeTelegramAPI() as tg, \
            TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        served_url = args.database_url
        if args.mode == "proxy":
            served_url = url.set(host="127.0.0.1", port=proxy.port).render_as_string(
                hide_password=False)
        env = {**os.environ, "DATABASE_URL": served_url, "KLOKOT_DATA_DIR": tmp,
               "TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_API_URL": tg.url,
               "TELEGRAM_WEBHOOK_SECRET": SECRET, "TELEGRAM_RATE_PER_SECOND": "200",
               "SECRET_KEY": "drill-secret-key-0123456789abcdef", "LOG_LEVEL": "WARNING"}
        server_log = open(Path(tmp) / "server.log", "w")  # noqa: SIM115 - closed below
        try:
            with serving(env, stderr=server_log) as (base, server):
                load = Load(base, args.users, first_user, args.concurrency)
                fault = threading.Event()

                def fault_when_due() -> None:
                    fault.wait()
                    take_database_away(args.mode, proxy, args.outage, events)

                faulting = threading.Thread(target=fault_when_due, daemon=True)
                faulting.start()
                started = time.monotonic()
                asyncio.run(load.run(args.fault_after, fault))
                accepted_in = time.monotonic() - started
                faulting.join(timeout=120)
                chats = {str(user) for user in load.users}

                def replied(calls: list[Call]) -> bool:
                    return {str(c.params["chat_id"]) for c in calls} >= chats

                try:
                    tg.wait_for(replied, method="sendMessage", timeout=180)
                except AssertionError:
                    events.append("not every citizen was answered within 180 s")
                alive = server.poll() is None
        finally:
            server_log.close()
        replies = Counter(str(c.params["chat_id"]) for c in tg.delivered("sendMessage")
                          if str(c.params["chat_id"]) in chats)
        log_lines = (Path(tmp) / "server.log").read_text().count("\n")
    print(f"database drill ({args.mode}): {args.users} new citizens, /start each, "
          f"{args.concurrency} clients, fault after {args.fault_after} acknowledged")
    for line in events:
        print(f"  {line}")
    print(f"  answers by status: {dict(sorted(load.statuses.items(), key=str))}")
    print(f"  all {load.acknowledged} updates acknowledged in {accepted_in:.1f} s; "
          f"webhooks refused (503) for {load.refused_for:.1f} s in all")
    lost = sorted(chats - set(replies))
    twice = sorted(chat for chat, n in replies.items() if n > 1)
    print(f"  replies: {sum(replies.values())} to {len(replies)} citizens; "
          f"lost: {len(lost)}; duplicated: {len(twice)}"
          + (f" (e.g. {twice[:5]})" if twice else ""))
    print(f"  the server {'kept running' if alive else 'DIED'}; {log_lines} lines in its log")
