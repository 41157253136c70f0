"""The one limit on guessing one-time codes (`/link`, `/staff`), with the
clock passed in: five wrong codes stop a chat for fifteen minutes; then it
may try again, and a code guessed at from many chats is cancelled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import Database
from bot.i18n import Catalogs
from bot.models import ChannelAccount, Citizen, CodeAttempts, LinkCode, OutboxMessage
from bot.profile import get_profile
from bot.services import code_attempts, linking
from tests.factories import make_citizen

NOON = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)
PROFILE, CATALOGS = get_profile(), Catalogs()


def account_of(session: Session, citizen_id: int) -> ChannelAccount:
    return session.scalars(select(ChannelAccount).where(
        ChannelAccount.citizen_id == citizen_id)).one()


def use(session: Session, account: ChannelAccount, code: str, now: datetime) -> str:
    """What /link CODE comes to: "done" or the refusal's code."""
    try:
        linking.use_code(session, PROFILE, CATALOGS, account, code, now)
    except linking.LinkRefused as refused:
        return refused.code
    return "done"


def test_five_wrong_codes_stop_a_chat_for_fifteen_minutes_then_it_may_try_again(
        db: Database) -> None:
    victim = make_citizen(db, channel="telegram", external_id="10")
    attacker = make_citizen(db, channel="viber", external_id="20")
    with db.session() as session:
        asking, guessing = account_of(session, victim), account_of(session, attacker)
        code = linking.new_code(session, asking, NOON).code
        wrong = "000000" if code != "000000" else "111111"
        answers = [use(session, guessing, wrong, NOON + timedelta(seconds=i)) for i in range(5)]
        assert answers == ["wrong"] * 4 + ["too_many"]
        assert use(session, guessing, code, NOON + timedelta(minutes=14)) == "too_many"
    with db.session() as session:  # the code was cancelled meanwhile: a new one
        asking, guessing = account_of(session, victim), account_of(session, attacker)
        later = NOON + timedelta(minutes=16)
        fresh = linking.new_code(session, asking, later).code
        assert use(session, guessing, fresh, later) == "done"


def test_after_a_lock_each_wrong_code_locks_again_until_an_hour_passes(db: Database) -> None:
    make_citizen(db, channel="viber", external_id="20")
    with db.session() as session:
        guessing = session.scalars(select(ChannelAccount)).one()
        for i in range(5):
            until = code_attempts.wrong(session, code_attempts.LINK, guessing,
                                        NOON + timedelta(seconds=i))
        assert until == NOON + timedelta(seconds=4) + code_attempts.LOCK
        after = NOON + timedelta(minutes=20)
        assert code_attempts.locked_until(session, code_attempts.LINK, guessing, after) is None
        assert code_attempts.wrong(session, code_attempts.LINK, guessing, after) == (
            after + code_attempts.LOCK)
        much_later = after + timedelta(hours=2)
        assert code_attempts.wrong(session, code_attempts.LINK, guessing, much_later) is None
        # Each purpose counts on its own: the staff codes of this chat are not stopped.
        assert code_attempts.locked_until(session, code_attempts.STAFF, guessing, after) is None


def test_a_code_guessed_at_from_many_chats_is_cancelled_and_its_owner_told(
        db: Database) -> None:
    """One wrong code from each of five chats: none of them is stopped, but
    the victim's code has seen five wrong guesses — it is cancelled."""
    chats = code_attempts.MAX_WRONG
    victim = make_citizen(db, channel="telegram", external_id="10", language="sq")
    guessers = [make_citizen(db, channel="viber", external_id=f"2{i}") for i in range(chats)]
    with db.session() as session:
        code = linking.new_code(session, account_of(session, victim), NOON).code
        wrong = "000000" if code != "000000" else "111111"
        for citizen in guessers:
            assert use(session, account_of(session, citizen), wrong, NOON) == "wrong"
        assert use(session, account_of(session, guessers[0]), code, NOON) == "expired"
    with db.read_session() as session:
        assert session.scalars(select(LinkCode)).one().expires_at == NOON
        told = session.scalars(select(OutboxMessage).where(
            OutboxMessage.chat_id == "10")).all()
        assert [m.body["text"] for m in told] == [CATALOGS.gettext("sq", "link.code_cancelled")]
        assert len(session.scalars(select(Citizen)).all()) == 1 + chats


def test_wrong_codes_sent_at_once_are_each_counted(db: Database) -> None:
    """Twenty wrong codes from one chat at the same moment, each in its own
    transaction: the count is one atomic statement, so exactly four of them
    pass without stopping the chat (a read-then-write would let more by)."""
    from concurrent.futures import ThreadPoolExecutor

    citizen = make_citizen(db, channel="viber", external_id="20")
    with db.read_session() as session:
        account_id = account_of(session, citizen).id

    def guess(_: int) -> datetime | None:
        with db.session() as session:
            account = session.get(ChannelAccount, account_id)
            assert account is not None
            return code_attempts.wrong(session, code_attempts.LINK, account, NOON)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(guess, range(20)))
    assert results.count(None) == code_attempts.MAX_WRONG - 1
    with db.read_session() as session:
        row = session.scalars(select(CodeAttempts)).one()
        assert row.failures == 20 and row.locked_until == NOON + code_attempts.LOCK
