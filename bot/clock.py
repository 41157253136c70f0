"""The one clock a process reads "now" from.

Every time-of-day rule (quiet hours for notices, reception reminders and
office hours, document deadlines and overdue alerts, staff sessions), the
worker's timers and the sender's stored timestamps (lease, retry times) take
"now" from here — through `bot.db.utcnow()`, which reads this clock, or from
the `now` their caller passes down. The process has one current clock: the
system's, unless the Runtime was built with another (`build_runtime(clock=…)`)
or a test or the bench installs one for a while (`using(…)`). So a test can
run the whole bot — web routes, engine, worker — at 12:00 or at 02:30 without
caring what the machine's clock says.

Monotonic time (rate limits, sleeps, timeouts: `time.monotonic()`,
`loop.time()`) is not the wall clock and does not come from here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, tzinfo
from datetime import time as day_time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Tells the time: a timezone-aware datetime in UTC."""

    def now(self) -> datetime: ...


class SystemClock:
    """The machine's clock: what a deployed process uses."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


class FixedClock:
    """Stands still at a moment until told to move (`set`, `advance`): for
    tests that drive time step by step, with no sleeps."""

    def __init__(self, at: datetime) -> None:
        self._at = _aware(at)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._at

    def set(self, at: datetime) -> None:
        with self._lock:
            self._at = _aware(at)

    def advance(self, delta: timedelta | None = None, /, **parts: float) -> datetime:
        """Move on by `delta` (or `minutes=…`, `hours=…`); returns the new now."""
        step = (delta or timedelta()) + timedelta(**parts)
        with self._lock:
            self._at += step
            return self._at

    def __repr__(self) -> str:
        return f"FixedClock({self._at.isoformat()})"


class ShiftedClock:
    """The real clock's pace from a chosen moment: starts at `start` and moves
    on as (monotonic) time passes. For tests and benchmarks that run the real
    worker loop — leases expire, retries come due — at a chosen time of day."""

    def __init__(self, start: datetime) -> None:
        self._start = _aware(start)
        self._started = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._started)

    def __repr__(self) -> str:
        return f"ShiftedClock(from {self._start.isoformat()})"


_current: Clock = SystemClock()
_lock = threading.Lock()


def now() -> datetime:
    """Now, from the process's current clock (UTC, timezone-aware)."""
    return _current.now()


def current() -> Clock:
    return _current


def install(clock: Clock) -> Clock:
    """Make `clock` the process's clock; returns the one it replaces."""
    global _current
    with _lock:
        previous, _current = _current, clock
    return previous


@contextmanager
def using(clock: Clock) -> Iterator[Clock]:
    """The process reads `clock` inside the block, its previous clock after."""
    previous = install(clock)
    try:
        yield clock
    finally:
        install(previous)


def local_moment(tz: tzinfo, at: day_time, day: date | None = None) -> datetime:
    """`day` (default: today where `tz` is, by the current clock) at the local
    time `at`, as UTC — e.g. today at 11:00 in Klokot, whatever the hour now."""
    if day is None:
        day = now().astimezone(tz).date()
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("a clock keeps timezone-aware time")
    return at.astimezone(UTC)
