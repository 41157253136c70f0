"""Webhook latency during a sign-in flood (security review, items 1 and 2):
16 threads post `POST /api/v1/auth/token` with wrong passwords as fast as
they can, while Telegram updates are posted one after another to
`POST /webhooks/telegram`, all through the ASGI app on SQLite. The review
saw webhooks slow from ~10 ms to 2–3 s when argon2 ran inside SQLite's
write transaction.

The per-address and per-name limits are raised here so that every attempt
really runs argon2 (the worst case: a flood spread over many addresses and
names); `--limited` keeps the defaults, where one address is refused after
20 attempts and the flood costs almost nothing."""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from pathlib import Path

from fastapi.testclient import TestClient

from bot.app import create_app
from bot.db import Database
from bot.migrate import upgrade
from tests.factories import make_runtime, make_staff
from tests.fakes.telegram_api import FakeTelegramAPI, tg_message_update

SECRET = "bench-webhook-secret-0123456789"


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return (f"p50 {cuts[49] * 1000:7.1f} ms   p90 {cuts[89] * 1000:7.1f} ms   "
            f"p99 {cuts[98] * 1000:7.1f} ms   max {ordered[-1] * 1000:7.1f} ms")


def post_webhooks(client: TestClient, first: int, count: int) -> list[float]:
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    latencies = []
    for i in range(first, first + count):
        update = tg_message_update(50_000 + i, 1 + i % 50, f"hello {i}")
        started = time.perf_counter()
        response = client.post("/webhooks/telegram", json=update, headers=headers)
        latencies.append(time.perf_counter() - started)
        if response.status_code != 200:
            print(f"  webhook answered {response.status_code}")
    return latencies


def main(updates: int = 200, threads: int = 16, limited: bool = False) -> None:
    with tempfile.TemporaryDirectory() as tmp, FakeTelegramAPI() as tg:
        url = f"sqlite:///{Path(tmp) / 'signin.db'}"
        upgrade(url)
        db = Database(url)
        limits = {} if limited else {"login_address_limit": 10**9,
                                     "login_account_limit": 10**9,
                                     "login_max_failures": 10**9}
        runtime = make_runtime(db, data_dir=Path(tmp), telegram_bot_token=tg.token,
                               telegram_api_url=tg.url, telegram_webhook_secret=SECRET,
                               login_delay_seconds=0.0, **limits)
        make_staff(db, "officer1", "admin")
        with TestClient(create_app(runtime=runtime, run_sender=False)) as client:
            post_webhooks(client, 0, 20)  # warm up
            quiet = post_webhooks(client, 100, updates)

            stop = threading.Event()
            attempts = [0] * threads

            def flood(n: int) -> None:
                while not stop.is_set():
                    name = "officer1" if attempts[n] % 2 else f"nobody{n}"
                    client.post("/api/v1/auth/token",
                                data={"username": name, "password": "wrong guess"})
                    attempts[n] += 1

            workers = [threading.Thread(target=flood, args=(n,), daemon=True)
                       for n in range(threads)]
            started = time.perf_counter()
            for worker in workers:
                worker.start()
            time.sleep(1.0)  # let the flood get going
            loaded = post_webhooks(client, 10_000, updates)
            stop.set()
            for worker in workers:
                worker.join(timeout=30)
            elapsed = time.perf_counter() - started
        db.dispose()
    kind = "default limits" if limited else "limits raised, every attempt verified"
    print(f"webhook latency, SQLite, ASGI app, {updates} updates one after another:")
    print(f"  quiet:                          {percentiles(quiet)}")
    print(f"  {threads} sign-in threads ({kind}, {sum(attempts) / elapsed:.1f} attempts/s):")
    print(f"                                  {percentiles(loaded)}")


if __name__ == "__main__":
    main()
