"""The sender's per-chat rate limiters stay bounded however many citizens it
serves (#20, item 5): one was kept for every chat ever sent to, so the worker
grew with the number of citizens."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bot.channels.base import RateLimits
from bot.db import Database
from bot.outbox import sender as sending
from tests.outbox.test_sender import RecordingProvider, sender_for

TELEGRAM = RateLimits(per_second=30, per_chat_per_second=1, chat_burst=3)


class Monotonic:
    """The sender's time.monotonic, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def monotonic(monkeypatch: pytest.MonkeyPatch) -> Monotonic:
    clock = Monotonic()
    monkeypatch.setattr(sending, "time", SimpleNamespace(monotonic=clock))
    return clock


async def test_limiters_of_quiet_chats_are_forgotten(db: Database, monotonic: Monotonic) -> None:
    sender = sender_for(db, RecordingProvider(limits=TELEGRAM))
    per_second = 20  # a new chat every 50 ms, for over a quarter of an hour
    largest = 0
    for chat in range(20_000):
        monotonic.now += 1 / per_second
        await sender._chat_limiter("telegram", str(chat), TELEGRAM).acquire()
        largest = max(largest, len(sender._per_chat))
    # the chats of the last minute (and a second: a slot is a second long),
    # and those made since the last sweep
    assert largest <= (sending.IDLE_SECONDS + 1) * per_second + sending.PER_CHAT_SWEEP
    # a chat that has just been sent to keeps its limiter: its next message waits
    kept = sender._chat_limiter("telegram", "19999", TELEGRAM)
    assert not kept.idle(monotonic.now)
    for _ in range(2):  # the rest of its burst of three ...
        await kept.acquire()
    slot = max(monotonic.now, kept.next_slot - kept.tolerance)
    assert slot > monotonic.now  # ... and then the chat's one message a second


async def test_limiters_stay_under_the_cap_when_every_chat_is_busy(
        db: Database, monotonic: Monotonic, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sending, "PER_CHAT_CAP", 3_000)
    sender = sender_for(db, RecordingProvider(limits=TELEGRAM))
    for chat in range(10_000):  # all within the same instant: none is idle
        await sender._chat_limiter("telegram", str(chat), TELEGRAM).acquire()
        assert len(sender._per_chat) <= 3_000


def test_a_paused_or_recent_limiter_is_not_idle() -> None:
    limiter = sending.RateLimiter(1.0, 3)
    assert limiter.idle(100.0)  # never used: the same as a new one
    limiter.next_slot = 90.0
    assert not limiter.idle(100.0)  # used ten seconds ago
    assert limiter.idle(90.0 + sending.IDLE_SECONDS)
    limiter.paused_until = 1_000.0
    assert not limiter.idle(500.0)  # the platform asked this chat to wait
