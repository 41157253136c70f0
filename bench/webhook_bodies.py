"""`python -m bench.webhook_bodies`: how long a real `klokot-bot serve` (SQLite,
one worker) takes to answer the worst bodies under the 1 MiB cap — nesting
200,000 deep, numbers of 500,000 digits, a megabyte of escapes, tens of
thousands of floats — and a stream of mutated, correctly signed bodies
posted by concurrent clients (the same strategies as the property test).
Prints the slowest answer, the 5xx and the requests never answered (#14,
item 1: every body is answered, within 2 s)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter

import httpx
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bench import serving
from tests.channels import webhook_bodies as bodies
from tests.fakes.telegram_api import tg_command_update, tg_message_update
from tests.fakes.viber_api import viber_message_event, viber_signature

TG_SECRET = "bench-webhook-secret-0123456789"
VIBER_TOKEN = "bench-viber-token"


def worst_bodies() -> list[tuple[str, str, bytes]]:
    text = tg_message_update(1, 11, "x")
    escapes = json.dumps(text).encode().replace(
        b'"text": "x"', b'"text": "' + b"\\u00e9" * 170_000 + b'"')
    entities = tg_command_update(2, 12, "/start")
    entities["message"]["entities"] *= 18_000
    floats = tg_message_update(3, 13, "x")
    floats["junk"] = [1.5e300] * 40_000
    ints = viber_message_event("vBench1==", "x")
    ints["junk"] = [10**4200] * 230
    cases = [("telegram", "1 MiB of \\u escapes", escapes),
             ("telegram", "18,000 entities", json.dumps(entities).encode()),
             ("telegram", "40,000 floats", json.dumps(floats).encode()),
             ("viber", "230 ints of 4,200 digits", bodies.encode(ints))]
    cases += [("telegram", f"raw Telegram body {i}", raw)
              for i, raw in enumerate(bodies.RAW_TELEGRAM)]
    cases += [("viber", f"raw Viber body {i}", raw) for i, raw in enumerate(bodies.RAW_VIBER)]
    return cases


def mutated_bodies(count: int) -> list[tuple[str, bytes]]:
    found: list[tuple[str, bytes]] = []
    ids = iter(range(10**7))

    @settings(max_examples=count, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def draw(data: st.DataObject) -> None:
        n = next(ids)
        if data.draw(st.booleans()):
            kind = data.draw(st.sampled_from(sorted(bodies.TELEGRAM_KINDS)))
            body = bodies.TELEGRAM_KINDS[kind](n + 1000, 10_000 + n % 50)
            found.append(("telegram", bodies.encode(bodies.mutate(data, body))))
        else:
            kind = data.draw(st.sampled_from(sorted(bodies.VIBER_KINDS)))
            event = bodies.VIBER_KINDS[kind](f"vBench{n % 50}==")
            found.append(("viber", bodies.encode(bodies.mutate(data, event))))

    draw()
    return found


async def post(http: httpx.AsyncClient, channel: str, body: bytes) -> tuple[str, float]:
    headers = {"Content-Type": "application/json"}
    if channel == "telegram":
        headers["X-Telegram-Bot-Api-Secret-Token"] = TG_SECRET
    else:
        headers["X-Viber-Content-Signature"] = viber_signature(body, VIBER_TOKEN)
    started = time.perf_counter()
    try:
        response = await http.post(f"/webhooks/{channel}", content=body, headers=headers)
        status = str(response.status_code)
    except httpx.TimeoutException:
        status = "no answer in 30 s"
    except httpx.HTTPError as exc:
        status = f"connection lost ({type(exc).__name__})"
    return status, time.perf_counter() - started


async def run(base: str, count: int, concurrency: int) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        print("worst bodies, one at a time:")
        for channel, name, body in worst_bodies():
            status, elapsed = await post(http, channel, body)
            print(f"  {name:28} {len(body):>9,} bytes  {status:>4}  {elapsed * 1000:7.1f} ms")
        queue = mutated_bodies(count)
        statuses: Counter[str] = Counter()
        latencies: list[float] = []

        async def client() -> None:
            while queue:
                channel, body = queue.pop()
                status, elapsed = await post(http, channel, body)
                statuses[status] += 1
                latencies.append(elapsed)

        await asyncio.gather(*(client() for _ in range(concurrency)))
        latencies.sort()
        fives = sum(v for k, v in statuses.items() if k.startswith("5"))
        lost = sum(v for k, v in statuses.items() if not k.isdigit())
        print(f"{len(latencies)} mutated bodies, {concurrency} clients: {dict(statuses)}; "
              f"5xx {fives}, unanswered {lost}; p50 {latencies[len(latencies) // 2]:.3f} s, "
              f"p99 {latencies[int(len(latencies) * 0.99)]:.3f} s, max {latencies[-1]:.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bodies", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp}/bench.db",
               "KLOKOT_DATA_DIR": tmp, "TELEGRAM_BOT_TOKEN": "1:bench",
               "TELEGRAM_API_URL": "http://127.0.0.1:9", "TELEGRAM_WEBHOOK_SECRET": TG_SECRET,
               "VIBER_AUTH_TOKEN": VIBER_TOKEN, "VIBER_API_URL": "http://127.0.0.1:9/pa",
               "OUTBOX_IN_WEB": "false", "LOG_LEVEL": "ERROR"}
        subprocess.run([sys.executable, "-m", "bot.cli", "migrate"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        with serving(env) as (base, _):
            asyncio.run(run(base, args.bodies, args.concurrency))


if __name__ == "__main__":
    main()
