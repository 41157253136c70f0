"""`make bench`: (1) how fast the bot accepts Telegram updates, measured like
a platform would see it — a real `klokot-bot serve` on SQLite, one worker,
updates posted over HTTP by concurrent clients, replies left to the sender
(here pointed at a local fake Bot API); (2) broadcast efficiency — a notice
to thousands of subscribers through `klokot-bot worker` against a fake API
that enforces the rate limit (bench/broadcast.py); (3) webhook latency
during a flood of sign-ins (bench/signin_flood.py). `python -m bench db-restart`
is the database-outage drill (bench/db_restart.py), never part of `make bench`."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time

import httpx

from bench import serving
from tests.fakes.telegram_api import FakeTelegramAPI, tg_message_update

SECRET = "bench-webhook-secret-0123456789"


async def post_updates(base: str, total: int, users: int, concurrency: int) -> float:
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)
    failures = 0

    async def client() -> None:
        nonlocal failures
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            while not queue.empty():
                i = queue.get_nowait()
                update = tg_message_update(10_000 + i, 1 + i % users, f"hello {i}")
                response = await http.post("/webhooks/telegram", json=update, headers=headers)
                failures += response.status_code != 200

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    if failures:
        print(f"  {failures} updates were not answered 200")
    return elapsed


def main() -> None:
    if sys.argv[1:2] == ["db-restart"]:  # a drill, run only when asked for by name
        from bench.db_restart import main as drill

        drill(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--updates", type=int, default=3000)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--subscribers", type=int, default=5000)
    parser.add_argument("--limit", type=float, default=30.0,
                        help="messages per second the fake API allows (Telegram's is about 30)")
    parser.add_argument("--only", choices=["intake", "broadcast", "signin"])
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


def intake(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp, FakeTelegramAPI() as tg:
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp}/bench.db",
               "KLOKOT_DATA_DIR": tmp, "TELEGRAM_BOT_TOKEN": tg.token,
               "TELEGRAM_API_URL": tg.url, "TELEGRAM_WEBHOOK_SECRET": SECRET,
               "LOG_LEVEL": "WARNING", "TELEGRAM_CHAT_BURST": "100"}
        with serving(env) as (base, _):
            elapsed = asyncio.run(post_updates(base, args.updates, args.users, args.concurrency))
            rate = args.updates / elapsed
            print(f"webhook intake, SQLite, 1 worker: {args.updates} updates from {args.users} "
                  f"users in {elapsed:.2f} s = {rate:.0f} updates/s "
                  f"(reference: a bare aiogram echo bot behind FastAPI, about 600/s here)")
            started = time.perf_counter()
            tg.wait_for(args.updates, method="sendMessage", timeout=600)
            drained = time.perf_counter() - started
            print(f"replies delivered by the sender to the fake Bot API "
                  f"{drained:.2f} s after the last update was accepted")


if __name__ == "__main__":
    main()
