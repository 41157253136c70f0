"""Shared fixtures: a migrated database on SQLite (always) and on PostgreSQL
(when TEST_DATABASE_URL is set), emptied after each test; the process's clock,
put back after each test; and, with KLOKOT_TEST_CLOCK=HH:MM, the whole session
run with the machine's clock moved to today at that time in Klokot (how
`make test-night` and CI run the `clock`-marked tests at 02:30 and 23:30)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, time
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import create_engine, text

import bot.models  # noqa: F401
from bot import clock as clocks
from bot.clock import FixedClock, ShiftedClock
from bot.db import Base, Database
from bot.migrate import upgrade
from bot.profile import get_profile

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")
ENGINES = ["sqlite", *(["postgresql"] if POSTGRES_URL else [])]
TEST_CLOCK = os.environ.get("KLOKOT_TEST_CLOCK")  # "02:30": local time in Klokot


def clock_moment(value: str) -> datetime:
    """Today (in Klokot) at `value` ("HH:MM", Klokot's time), or the day and
    time it names ("2026-12-05T02:30", e.g. a Saturday)."""
    tz = get_profile().tz
    try:
        if "T" in value:
            return datetime.fromisoformat(value).replace(tzinfo=tz)
        return datetime.combine(datetime.now(tz).date(), time.fromisoformat(value), tzinfo=tz)
    except ValueError:
        raise pytest.UsageError(
            f"KLOKOT_TEST_CLOCK={value!r}: expected HH:MM or YYYY-MM-DDTHH:MM") from None


_travel: time_machine.travel | None = None


def pytest_configure(config: pytest.Config) -> None:
    """With KLOKOT_TEST_CLOCK, the machine's wall clock (datetime.now,
    time.time…; not time.monotonic) starts at that time in Klokot before the
    tests are even collected, and runs on from there."""
    global _travel
    if TEST_CLOCK:
        _travel = time_machine.travel(clock_moment(TEST_CLOCK), tick=True)
        _travel.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    global _travel
    if _travel is not None:
        _travel.stop()
        _travel = None


def pytest_report_header(config: pytest.Config) -> str | None:
    if TEST_CLOCK:
        return f"KLOKOT_TEST_CLOCK={TEST_CLOCK}: the wall clock runs from {TEST_CLOCK} in Klokot"
    return None


@pytest.fixture(autouse=True)
def _process_clock_put_back() -> Iterator[None]:
    """A test that installs a clock (or builds a runtime with one) leaves the
    next test the clock it found."""
    before = clocks.current()
    yield
    clocks.install(before)


@pytest.fixture
def noon() -> Iterator[ShiftedClock]:
    """The process's clock running at the real pace from today's 12:00 in
    Klokot: for tests of the whole app (its day-time rules, and the order of
    things made one after the other) at any hour the suite runs."""
    running = ShiftedClock(clocks.local_moment(get_profile().tz, time(12, 0)))
    with clocks.using(running):
        yield running


@pytest.fixture
def clock() -> Iterator[FixedClock]:
    """The process's clock, standing still at today's noon in Klokot until the
    test moves it (`clock.set(…)`, `clock.advance(minutes=…)`)."""
    fixed = FixedClock(clocks.local_moment(get_profile().tz, time(12, 0)))
    with clocks.using(fixed):
        yield fixed


def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session", params=ENGINES)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database migrated once per session with `klokot-bot migrate`'s code."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    else:
        assert POSTGRES_URL
        url = POSTGRES_URL
        _reset_postgres(url)
    upgrade(url)
    return url


def _empty(database: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with database.engine.begin() as conn:
        if database.is_sqlite:
            for name in tables:
                conn.execute(text(f'DELETE FROM "{name}"'))
        else:
            conn.execute(text(
                "TRUNCATE " + ", ".join(f'"{n}"' for n in tables) + " RESTART IDENTITY CASCADE"
            ))


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    _empty(database)
    try:
        yield database
    finally:
        _empty(database)
        database.dispose()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path
