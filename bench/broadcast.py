"""Broadcast efficiency: a public-debate notice to N subscribers, sent by
the real worker (`klokot-bot worker`: notices timer + outbox sender,
python-telegram-bot) to a fake Bot API that enforces the configured rate
limit with 429s. The worker runs in its own process, as in production, so
the fake server does not compete with it for the interpreter; its clock
starts at 11:00 in Klokot today (bench/daytime_worker.py), so the notice goes
out at once at any hour the bench is run.

efficiency = (messages delivered per second) / (configured limit per second)

measured from the first delivered message to the last; the aim is ≥ 0.95
with no 429 answer."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import time as time_of_day
from pathlib import Path

from bot import clock as clocks
from bot.clock import FixedClock
from bot.db import utcnow
from bot.migrate import upgrade
from bot.services import notices
from tests.factories import make_runtime, seed_subscribers
from tests.fakes.telegram_api import FakeTelegramAPI


async def run(subscribers: int, limit: float) -> None:
    with tempfile.TemporaryDirectory() as tmp, FakeTelegramAPI() as tg:
        url = f"sqlite:///{Path(tmp) / 'broadcast.db'}"
        upgrade(url)
        from bot.db import Database

        db = Database(url)
        runtime = make_runtime(db, data_dir=Path(tmp), telegram_bot_token=tg.token,
                               telegram_api_url=tg.url, telegram_rate_per_second=limit)
        tg.rate_limit(limit, 1.0)
        # The bench and its worker run from 11:00 in Klokot today (the worker's
        # clock starting a moment later), whatever the hour: at night the worker
        # would otherwise hold the notice until 08:00 and the bench time out.
        daytime = clocks.local_moment(runtime.profile.tz, time_of_day(11, 0))
        clocks.install(FixedClock(daytime))
        seed_subscribers(db, subscribers, telegram_base=100_000)
        now = utcnow()
        assert notices.daytime(runtime.profile, now)
        with db.session() as session:
            notices.create(session, runtime.profile, topic="public_debates", settlements=None,
                           texts={loc: f"Javna rasprava ({loc})"
                                  for loc in runtime.profile.enabled_locales},
                           send_at=now, rsvp=True, by="bench", now=now)
        await runtime.close()
        env = {**os.environ, "DATABASE_URL": url, "KLOKOT_DATA_DIR": tmp,
               "TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_API_URL": tg.url,
               "TELEGRAM_RATE_PER_SECOND": str(limit), "LOG_LEVEL": "WARNING"}
        worker = subprocess.Popen(
            [sys.executable, "-m", "bench.daytime_worker", daytime.isoformat()], env=env)
        started = time.perf_counter()
        try:
            await tg.wait_for_async(
                lambda calls: sum(c.status == 200 for c in calls) >= subscribers,
                timeout=subscribers / limit * 3 + 60, method="sendMessage")
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)
        wall = time.perf_counter() - started
        delivered = [c for c in tg.calls_to("sendMessage") if c.status == 200]
        first, last = min(c.at for c in delivered), max(c.at for c in delivered)
        times = sorted(c.at for c in delivered)
        gaps = sorted((b - a for a, b in itertools.pairwise(times)), reverse=True)
        per_second: dict[int, int] = {}
        for at in times:
            per_second[int(at - first)] = per_second.get(int(at - first), 0) + 1
        rate = (len(delivered) - 1) / (last - first)
        print(f"broadcast: {len(delivered)} of {subscribers} delivered, limit {limit:.0f}/s, "
              f"{rate:.1f}/s from first to last delivery → efficiency {rate / limit:.3f} "
              f"(aim ≥ 0.95); 429 answers: {tg.count_429}; wall time {wall:.1f} s")
        print(f"  longest pauses between deliveries: "
              f"{', '.join(f'{g * 1000:.0f} ms' for g in gaps[:5])}; "
              f"per second: {sorted(per_second.values())[:3]} … "
              f"{sorted(per_second.values())[-3:]}")


def main(subscribers: int = 5000, limit: float = 100.0) -> None:
    asyncio.run(run(subscribers, limit))
