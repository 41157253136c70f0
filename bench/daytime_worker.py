"""`python -m bench.daytime_worker MOMENT`: `klokot-bot worker` whose clock
starts at MOMENT (an ISO date-time with its offset) and runs on at the real
pace, so a benchmark run at night still sees the day's hours — ordinary
notices are held between 21:00 and 08:00 in Klokot — and does not wait for
the morning. For benchmarks only: a deployed worker reads the system clock."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime

from bot import clock as clocks
from bot import logs
from bot.clock import ShiftedClock
from bot.config import get_settings
from bot.worker import run_worker


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit("usage: python -m bench.daytime_worker 2026-12-03T11:00:00+01:00")
    clocks.install(ShiftedClock(datetime.fromisoformat(argv[0])))
    logs.configure(get_settings().log_level)
    asyncio.run(run_worker())


if __name__ == "__main__":
    main(sys.argv[1:])
