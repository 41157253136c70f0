"""Sign-in limits kept in the database (`SignInCounter`), so they hold across
web workers and restarts: each attempt is one atomic upsert per counter,
never a read-then-write in Python. Counters are keyed by the name typed and
the client's address, never by an account, so a username that does not
exist is counted, slowed and refused exactly like one that does.

The rule, in the order an attempt meets it:

1. address: at most `login_address_limit` attempts from one address in
   `login_address_window_minutes`, whatever the names (a success gives its
   attempt back, so an office of officers signing in is not limited);
2. account: at most `login_account_limit` wrong passwords for one name from
   all addresses in `login_account_window_minutes` (the ceiling on a guess
   spread over many addresses);
3. pair: `login_max_failures` wrong passwords in a row for one name from one
   address lock that pair for `login_lock_minutes`; after the lock, one wrong
   password locks it again. Other addresses, the officer's office among them,
   are not locked by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, case, delete, literal, or_, select, tuple_, update
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.db import UTCDateTime, insert_for
from bot.models.staff import SignInCounter

ADDRESS, ACCOUNT, PAIR = "address", "account", "pair"
PRUNE_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class Refusal:
    """Why an attempt was refused before its password was checked."""

    code: str  # too_many_attempts (the address) | account_locked (the name)
    retry_after: int  # seconds
    first: bool  # the first refusal of this window: worth an audit entry


def name_key(username: str) -> str:
    """The name as counted: the same normalisation as finding the account."""
    return username.replace("\x00", "").strip().lower()[:64]


def address_key(ip: str | None) -> str:
    return (ip or "?")[:64]


def _when(now: datetime) -> ColumnElement[datetime]:
    return literal(now, UTCDateTime())


def _seconds(until: datetime, now: datetime) -> int:
    return max(int((until - now).total_seconds()) + 1, 1)


def _claim_windowed(session: Session, kind: str, username: str, address: str,
                    now: datetime, limit: int, minutes: float) -> Refusal | None:
    """Count one attempt in a fixed window; refused past `limit`."""
    window = timedelta(minutes=minutes)
    expired = SignInCounter.window_start <= _when(now - window)
    statement = insert_for(session)(SignInCounter).values(
        kind=kind, username=username, address=address, count=1, window_start=now)
    statement = statement.on_conflict_do_update(
        index_elements=["kind", "username", "address"],
        set_={"count": case((expired, 1), else_=SignInCounter.count + 1),
              "window_start": case((expired, _when(now)), else_=SignInCounter.window_start)},
    ).returning(SignInCounter.count, SignInCounter.window_start)
    count, started = session.execute(statement).one()
    if count <= limit:
        return None
    code = "too_many_attempts" if kind == ADDRESS else "account_locked"
    return Refusal(code, _seconds(started + window, now), first=count == limit + 1)


def _give_back(session: Session, kind: str, username: str, address: str) -> None:
    session.execute(update(SignInCounter).where(
        SignInCounter.kind == kind, SignInCounter.username == username,
        SignInCounter.address == address, SignInCounter.count > 0,
    ).values(count=SignInCounter.count - 1))


def _pair(username: str, address: str) -> list[ColumnElement[bool]]:
    return [SignInCounter.kind == PAIR, SignInCounter.username == username,
            SignInCounter.address == address]


def claim(session: Session, settings: Settings, username: str, address: str,
          now: datetime) -> tuple[int, Refusal | None]:
    """Count this attempt on its three counters before any password is
    checked. Returns the pair's count of wrong passwords in a row (this one
    included) and, if the attempt is refused, why."""
    refused = _claim_windowed(session, ADDRESS, "", address, now,
                              settings.login_address_limit,
                              settings.login_address_window_minutes)
    if refused:
        return 0, refused
    refused = _claim_windowed(session, ACCOUNT, username, "", now,
                              settings.login_account_limit,
                              settings.login_account_window_minutes)
    if refused:
        return 0, refused
    limit = settings.login_max_failures
    locked = SignInCounter.locked_until > _when(now)
    statement = insert_for(session)(SignInCounter).values(
        kind=PAIR, username=username, address=address, count=1, window_start=now)
    statement = statement.on_conflict_do_update(
        index_elements=["kind", "username", "address"],
        set_={"count": case((locked, SignInCounter.count),
                            # After a lock ran out, one attempt at a time.
                            (SignInCounter.locked_until.is_not(None), limit),
                            else_=SignInCounter.count + 1),
              "locked_until": case((locked, SignInCounter.locked_until), else_=None),
              "window_start": _when(now)},
    ).returning(SignInCounter.count, SignInCounter.locked_until)
    count, until = session.execute(statement).one()
    if until is None and count > limit:  # a burst past the limit: lock, verify nothing
        until = lock_pair(session, settings, username, address, now)
    if until is not None:
        # Refused by this pair's lock: not a guess against the whole account.
        _give_back(session, ACCOUNT, username, "")
        return count, Refusal("account_locked", _seconds(until, now), first=False)
    return count, None


def lock_pair(session: Session, settings: Settings, username: str, address: str,
              now: datetime) -> datetime:
    until = now + timedelta(minutes=settings.login_lock_minutes)
    session.execute(update(SignInCounter).where(*_pair(username, address))
                    .values(locked_until=until))
    return until


def pair_locked_until(session: Session, username: str, address: str,
                      now: datetime) -> datetime | None:
    """The pair's lock, if one began while this attempt's password was checked."""
    until: datetime | None = session.scalar(
        select(SignInCounter.locked_until).where(*_pair(username, address)))
    return until if until is not None and until > now else None


def succeeded(session: Session, username: str, address: str, now: datetime) -> None:
    """A right password: the address and the account get this attempt back
    and the pair starts again (in `claim`'s order of rows, so two sign-ins
    never wait on each other in a circle); counters unused for a day are
    dropped, skipping any row another attempt holds."""
    _give_back(session, ADDRESS, "", address)
    _give_back(session, ACCOUNT, username, "")
    session.execute(delete(SignInCounter).where(*_pair(username, address)))
    stale = (select(SignInCounter.kind, SignInCounter.username, SignInCounter.address)
             .where(SignInCounter.window_start < _when(now - PRUNE_AFTER),
                    or_(SignInCounter.locked_until.is_(None),
                        SignInCounter.locked_until < _when(now)))
             .with_for_update(skip_locked=True))
    session.execute(delete(SignInCounter).where(
        tuple_(SignInCounter.kind, SignInCounter.username, SignInCounter.address).in_(stale)))


def clear_name(session: Session, username: str) -> None:
    """An admin enabled the account or set a new password: its locks end."""
    session.execute(delete(SignInCounter).where(
        SignInCounter.username == name_key(username),
        SignInCounter.kind.in_([PAIR, ACCOUNT])))
