"""The sender against an in-process provider: order, priorities, 429s,
blocked users, the lease and the crash policy. (The real libraries against
the fake platform servers are exercised in tests/channels.)"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select

from bot.channels.base import RateLimits, SendResult
from bot.db import Database, utcnow
from bot.messages import Reply
from bot.models import ChannelAccount, Citizen, Lane, OutboxMessage, OutboxStatus
from bot.outbox.lease import Lease
from bot.outbox.queue import Purpose, enqueue
from bot.outbox.sender import Sender
from bot.profile import get_profile

FAST = RateLimits(per_second=1000, per_chat_per_second=1000, chat_burst=100)


@dataclass
class RecordingProvider:
    """A provider whose answers a test scripts; records what was sent, in order."""

    channel: str = "telegram"
    limits: RateLimits = FAST
    sent: list[tuple[str, str]] = field(default_factory=list)
    script: dict[str, list[SendResult]] = field(default_factory=dict)

    async def send(self, chat_id: str, reply: Reply) -> SendResult:
        scripted = self.script.get(reply.text)
        if scripted:
            result = scripted.pop(0)
            if not result.ok:
                return result
        self.sent.append((chat_id, reply.text))
        return SendResult(ok=True, provider_message_id=str(len(self.sent)))

    async def close(self) -> None:
        return None


def make_account(db: Database, chat: str, channel: str = "telegram") -> int:
    with db.session() as session:
        citizen = Citizen(language="en")
        session.add(citizen)
        session.flush()
        account = ChannelAccount(citizen_id=citizen.id, channel=channel, external_id=chat,
                                 chat_id=chat)
        session.add(account)
        session.flush()
        return account.id


def queue(db: Database, account_id: int, *texts: str, lane: Lane = Lane.reply) -> None:
    with db.session() as session:
        account = session.get_one(ChannelAccount, account_id)
        for text in texts:
            enqueue(session, account, Reply(text), profile=get_profile(), lane=lane,
                    origin="bot" if lane is Lane.bulk else "reply")


def statuses(db: Database) -> dict[str, OutboxStatus]:
    with db.read_session() as session:
        return {row.body["text"]: row.status for row in session.scalars(select(OutboxMessage))}


def sender_for(db: Database, provider: RecordingProvider, **kwargs: object) -> Sender:
    return Sender(db, {provider.channel: provider}, **kwargs)  # type: ignore[arg-type]


async def test_messages_to_one_chat_keep_their_order(db: Database) -> None:
    provider = RecordingProvider()
    a, b = make_account(db, "100"), make_account(db, "200")
    queue(db, a, "a1", "a2", "a3")
    queue(db, b, "b1", "b2")
    await sender_for(db, provider).drain()
    assert [t for c, t in provider.sent if c == "100"] == ["a1", "a2", "a3"]
    assert [t for c, t in provider.sent if c == "200"] == ["b1", "b2"]
    assert set(statuses(db).values()) == {OutboxStatus.sent}


async def test_replies_overtake_a_queued_bulk_send(db: Database) -> None:
    provider = RecordingProvider(limits=RateLimits(5, 1000, 100))
    accounts = [make_account(db, str(1000 + i)) for i in range(12)]
    for account in accounts:
        queue(db, account, f"notice-{account}", lane=Lane.bulk)
    sender = sender_for(db, provider)
    await sender.run_once()  # one second's worth of the broadcast goes out
    queue(db, accounts[-1], "your reference is R-2026-0001")
    await sender.run_once()
    texts = [t for _, t in provider.sent]
    assert texts.index("your reference is R-2026-0001") == 5
    await sender.drain()
    assert len(provider.sent) == 13


async def test_429_is_waited_out_and_delivered_once(db: Database) -> None:
    provider = RecordingProvider(script={"hello": [SendResult(ok=False, retry_after=0.2)]})
    queue(db, make_account(db, "300"), "hello", "after")
    sender = sender_for(db, provider)
    await sender.run_once()
    assert provider.sent == []  # neither: "after" waits behind "hello", order kept
    assert statuses(db) == {"hello": OutboxStatus.queued, "after": OutboxStatus.queued}
    await asyncio.sleep(0.25)
    await sender.drain()
    assert provider.sent == [("300", "hello"), ("300", "after")]


async def test_transient_errors_back_off_then_fail(db: Database) -> None:
    provider = RecordingProvider(script={"x": [SendResult(ok=False, error="502")] * 10})
    queue(db, make_account(db, "301"), "x")
    sender = sender_for(db, provider, max_attempts=2)
    await sender.run_once()
    with db.session() as session:
        row = session.scalars(select(OutboxMessage)).one()
        assert row.status is OutboxStatus.queued and row.attempts == 1
        assert row.next_attempt_at > utcnow()
        row.next_attempt_at = utcnow()
    await sender.run_once()
    assert statuses(db) == {"x": OutboxStatus.failed}


async def test_a_user_who_blocked_the_bot_gets_nothing_more(db: Database) -> None:
    provider = RecordingProvider(
        script={"one": [SendResult(ok=False, blocked=True, permanent=True, error="Forbidden")]}
    )
    account = make_account(db, "400")
    queue(db, account, "one", "two")
    await sender_for(db, provider).drain()
    assert provider.sent == []
    assert statuses(db) == {"one": OutboxStatus.failed, "two": OutboxStatus.skipped}
    queue(db, account, "three")
    assert statuses(db)["three"] is OutboxStatus.skipped
    with db.read_session() as session:
        assert session.get_one(ChannelAccount, account).blocked_at is not None


async def test_rows_of_channels_without_a_provider_are_left_alone(db: Database) -> None:
    provider = RecordingProvider()
    queue(db, make_account(db, "t1", channel="terminal"), "for the terminal")
    await sender_for(db, provider).drain()
    assert provider.sent == []
    assert statuses(db) == {"for the terminal": OutboxStatus.queued}


def test_only_one_lease_holder(db: Database) -> None:
    leases = [Lease(db, ttl_seconds=30, holder=f"p{i}") for i in range(3)]
    assert [lease.acquire() for lease in leases] == [True, False, False]
    assert leases[0].renew()
    leases[0].release()
    assert leases[1].acquire()
    for lease in leases:
        lease.release()


async def test_crash_between_sending_and_marking_sends_again(db: Database) -> None:
    """The documented policy is at least once: a row left `sending` by a dead
    sender is queued again by the next lease holder and delivered."""
    provider = RecordingProvider()
    queue(db, make_account(db, "500"), "confirmation")
    crashed = sender_for(db, provider, lease=Lease(db, ttl_seconds=0.2, holder="dead"))
    await asyncio.to_thread(crashed.lease.acquire)
    rows = await asyncio.to_thread(crashed._claim)  # claimed…
    for row in rows:
        await provider.send(row.chat_id, Reply.from_json(row.body))  # …sent…
    # …and the process dies before recording. Its lease expires.
    if not db.is_sqlite:
        crashed.lease.release()  # a dead process's connection drops its advisory lock
    await asyncio.sleep(0.3)
    assert statuses(db) == {"confirmation": OutboxStatus.sending}
    successor = sender_for(db, provider, lease=Lease(db, holder="next"))
    await successor.drain()
    assert provider.sent == [("500", "confirmation"), ("500", "confirmation")]
    assert statuses(db) == {"confirmation": OutboxStatus.sent}
    successor.lease.release()


@pytest.mark.parametrize("allowed", [True, False])
def test_viber_bot_started_messages_follow_the_profile(db: Database, allowed: bool) -> None:
    from dataclasses import replace
    from datetime import timedelta

    profile = replace(get_profile(), viber_bot_initiated=allowed)
    account_id = make_account(db, "v1", channel="viber")
    with db.session() as session:
        account = session.get_one(ChannelAccount, account_id)
        account.last_inbound_at = utcnow() - timedelta(days=2)
        reminder = enqueue(session, account, Reply("reminder"), profile=profile, origin="bot",
                           purpose=Purpose.reminder)
        refusal = enqueue(session, account, Reply("refused"), profile=profile, origin="bot",
                          purpose=Purpose.document_decision)
        answer = enqueue(session, account, Reply("answer"), profile=profile, origin="reply")
        # What can wait waits for the citizen's next message (it is not lost)…
        assert reminder.status is (OutboxStatus.queued if allowed else OutboxStatus.held)
        assert reminder.out_of_session is allowed
        # …what the law requires goes all the same, marked as billed.
        assert refusal.status is OutboxStatus.queued and refusal.out_of_session
        assert refusal.purpose == "document_decision"
        assert answer.status is OutboxStatus.queued and not answer.out_of_session


def test_timers_enqueue_exactly_once(db: Database) -> None:
    from bot.outbox.queue import enqueue_once

    account_id = make_account(db, "t-once")
    for _ in range(3):  # e.g. the timer ran again, or after a restart
        with db.session() as session:
            account = session.get_one(ChannelAccount, account_id)
            enqueue_once(session, account, Reply("reminder for R-2026-0001"),
                         dedupe_key="reminder:R-2026-0001", profile=get_profile())
            enqueue_once(session, account, Reply("reminder for R-2026-0002"),
                         dedupe_key="reminder:R-2026-0002", profile=get_profile())
    assert sorted(statuses(db)) == ["reminder for R-2026-0001", "reminder for R-2026-0002"]
    with db.read_session() as session:
        assert len(session.scalars(select(OutboxMessage)).all()) == 2


async def test_a_stopped_sender_puts_back_what_it_had_not_sent(db: Database) -> None:
    """SIGTERM in the middle of a chat's backlog: what went is recorded sent, the
    rest is queued again at once (not left `sending` for a successor to find)."""
    first_sent = asyncio.Event()

    @dataclass
    class SlowProvider(RecordingProvider):
        async def send(self, chat_id: str, reply: Reply) -> SendResult:
            result = await super().send(chat_id, reply)
            first_sent.set()
            await asyncio.sleep(0.05)
            return result

    provider = SlowProvider(limits=RateLimits(1000, 5, 1))  # one message per 0.2 s
    queue(db, make_account(db, "600"), *(f"backlog {n}" for n in range(20)))
    sender = sender_for(db, provider)
    stop = asyncio.Event()
    running = asyncio.create_task(sender.run(stop))
    await first_sent.wait()
    stop.set()
    await running
    sent = [text for _, text in provider.sent]
    assert 0 < len(sent) < 20
    assert statuses(db) == {f"backlog {n}": OutboxStatus.sent if n < len(sent)
                            else OutboxStatus.queued for n in range(20)}


async def test_a_backlog_to_many_chats_is_claimed_as_room_frees_not_all_at_once(
        db: Database) -> None:
    """Replies to many chats while the platform is slow: the sender holds at most
    two batches of them claimed (in memory, marked sending), claims the rest as
    those are recorded, and each is sent once. Unbounded, 30,000 updates to
    20,000 chats grew the worker by 80 MB."""
    gate = asyncio.Event()

    @dataclass
    class StuckProvider(RecordingProvider):
        async def send(self, chat_id: str, reply: Reply) -> SendResult:
            await gate.wait()
            return await super().send(chat_id, reply)

    provider = StuckProvider()
    for n in range(60):
        queue(db, make_account(db, f"9{n:03}"), f"reply {n}")
    sender = sender_for(db, provider, batch_size=10, concurrency=4, idle_poll=0.01)
    rounds = claims = 0
    claimable, claim = sender._claimable, sender._claim

    def counted_round(*args: Any) -> tuple[int, bool]:
        nonlocal rounds
        rounds += 1
        return claimable(*args)

    def counted_claim(*args: Any) -> list[OutboxMessage]:
        nonlocal claims
        claims += 1
        return claim(*args)

    sender._claimable = counted_round  # type: ignore[method-assign,assignment]
    sender._claim = counted_claim  # type: ignore[method-assign,assignment]
    stop = asyncio.Event()
    running = asyncio.create_task(sender.run(stop))
    for _ in range(2000):  # rounds of the loop, not a timing: a hang detector
        if rounds >= 12:
            break
        await asyncio.sleep(0.01)
    assert rounds >= 12  # enough rounds to have claimed all 60, were it unbounded
    assert Counter(statuses(db).values()) == {OutboxStatus.sending: 20,
                                              OutboxStatus.queued: 40}
    # With the room full, a round claims nothing rather than asking the database.
    assert claims < rounds / 2
    assert sender.replies_in_flight == 20
    gate.set()
    for _ in range(2000):
        if len(provider.sent) == 60:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await running
    assert sorted(text for _, text in provider.sent) == sorted(f"reply {n}" for n in range(60))
    assert set(statuses(db).values()) == {OutboxStatus.sent}
    assert sender.replies_in_flight == 0
