"""The one clock: whatever the process asks the time reads it, a test or the
bench can set it, and it is put back; and KLOKOT_TEST_CLOCK moves the
machine's wall clock (not its monotonic one) for `make test-night`."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from datetime import time as day_time

import pytest
from sqlalchemy import select

from bot import clock as clocks
from bot.clock import FixedClock, ShiftedClock, SystemClock
from bot.db import Database, utcnow
from bot.engine.dispatcher import Engine
from bot.models import Citizen
from bot.profile import get_profile
from tests.conftest import TEST_CLOCK, clock_moment
from tests.factories import make_incoming, make_runtime, make_settings

KLOKOT = get_profile().tz
MIDNIGHT_IN_KLOKOT = datetime(2026, 12, 2, 23, 0, tzinfo=UTC)  # 00:00 on 3 December there


def test_utcnow_reads_the_installed_clock_and_the_old_one_comes_back() -> None:
    fixed = FixedClock(MIDNIGHT_IN_KLOKOT)
    before = clocks.current()
    with clocks.using(fixed):
        assert utcnow() == MIDNIGHT_IN_KLOKOT
        assert fixed.advance(minutes=90) == utcnow() == MIDNIGHT_IN_KLOKOT + timedelta(hours=1.5)
        fixed.set(datetime(2027, 1, 1, 12, 0, tzinfo=KLOKOT))
        assert utcnow() == datetime(2027, 1, 1, 11, 0, tzinfo=UTC)
        assert utcnow().tzinfo is UTC
    assert clocks.current() is before


def test_a_clock_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        FixedClock(datetime(2026, 12, 3, 2, 30))


def test_a_shifted_clock_starts_where_told_and_runs_at_the_real_pace() -> None:
    shifted = ShiftedClock(MIDNIGHT_IN_KLOKOT)
    first = shifted.now()
    time.sleep(0.02)
    second = shifted.now()
    assert MIDNIGHT_IN_KLOKOT <= first < second < MIDNIGHT_IN_KLOKOT + timedelta(seconds=5)


def test_local_moment_is_that_local_time_on_that_day_whatever_the_hour_now(
        clock: FixedClock) -> None:
    clock.set(MIDNIGHT_IN_KLOKOT + timedelta(minutes=30))  # 00:30 on the 3rd in Klokot
    assert clocks.local_moment(KLOKOT, day_time(11, 0)) == datetime(2026, 12, 3, 10, 0,
                                                                    tzinfo=UTC)


def test_the_runtime_installs_the_clock_it_is_built_with(db: Database) -> None:
    fixed = FixedClock(datetime(2026, 12, 3, 1, 30, tzinfo=UTC))
    runtime = make_runtime(db)
    assert runtime.clock is clocks.current()
    from bot.runtime import build_runtime

    night = build_runtime(make_settings(db.url), db=db, quiet=True, clock=fixed)
    assert night.clock is fixed and runtime.clock is fixed  # one clock per process
    assert utcnow() == fixed.now()


def test_the_engine_gives_flows_the_clock_s_now(db: Database, clock: FixedClock) -> None:
    clock.set(datetime(2026, 12, 3, 1, 30, tzinfo=UTC))  # 02:30 in Klokot
    engine: Engine = make_runtime(db).engine
    engine.handle(make_incoming("/start", user="night-owl"))
    with db.read_session() as session:
        citizen = session.scalars(select(Citizen)).one()
        assert citizen.created_at == citizen.last_seen_at == clock.now()


def test_each_test_starts_on_the_clock_the_session_runs_on() -> None:
    """The `clock` fixture of other tests and runtimes built with a clock are
    put back after each test (see conftest)."""
    assert isinstance(clocks.current(), SystemClock)


@pytest.mark.clock
async def test_the_test_clock_moves_the_wall_clock_but_not_the_monotonic_one() -> None:
    """Under KLOKOT_TEST_CLOCK the wall clock starts at that time in Klokot
    and runs on; asyncio's sleeps and timeouts (monotonic) are untouched."""
    loop = asyncio.get_running_loop()
    started_wall, started_loop = utcnow(), loop.time()
    await asyncio.sleep(0.05)
    assert 0.05 <= loop.time() - started_loop < 5
    assert timedelta(0) < utcnow() - started_wall < timedelta(seconds=5)
    if TEST_CLOCK:
        moment = clock_moment(TEST_CLOCK)
        assert moment <= utcnow() < moment + timedelta(hours=2)  # the session has not run 2 h
        assert abs(time.time() - utcnow().timestamp()) < 1
