"""Sign-in limits without HTTP (security review, items 1 and 21): a stranger
cannot lock an officer out of their own office, one address cannot try name
after name, and a username that does not exist is counted, checked and
refused exactly like one that does."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.config import Settings
from bot.db import Database
from bot.staff import accounts, security
from tests.factories import PASSWORD, make_settings, make_staff

STRANGER, OFFICE, ELSEWHERE = "203.0.113.66", "198.51.100.10", "192.0.2.30"
START = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def settings_for(db: Database, **overrides: Any) -> Settings:
    return make_settings(db.url, **{"login_delay_seconds": 0.0, **overrides})


def sign_in(db: Database, settings: Settings, clock: Clock, ip: str,
            username: str = "mayor1", password: str = PASSWORD) -> accounts.LoginResult:
    return accounts.authenticate(db, settings, username, password, ip, clock=clock)


def test_a_strangers_wrong_passwords_do_not_lock_the_officer_out_of_their_office(
        db: Database) -> None:
    """Five wrong passwords from anywhere locked any officer out for 15
    minutes (item 21). Now they lock that name from that address only."""
    make_staff(db, "mayor1", "mayor_office")
    settings, clock = settings_for(db), Clock()
    for _ in range(5):
        assert sign_in(db, settings, clock, STRANGER, password="a guess").code == \
            "invalid_credentials"
    from_office = sign_in(db, settings, clock, OFFICE)
    assert from_office.token is not None
    from_stranger = sign_in(db, settings, clock, STRANGER)  # the right password, locked
    assert from_stranger.token is None and from_stranger.code == "account_locked"
    assert from_stranger.retry_after is not None and from_stranger.retry_after > 60
    clock.now += timedelta(minutes=16)  # the lock runs out: one wrong password locks again
    assert sign_in(db, settings, clock, STRANGER, password="a guess").code == \
        "invalid_credentials"
    assert sign_in(db, settings, clock, STRANGER).code == "account_locked"
    clock.now += timedelta(minutes=16)
    assert sign_in(db, settings, clock, STRANGER).token is not None


def test_a_burst_from_a_stranger_leaves_the_office_signing_in(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Thirty wrong passwords at once from one address, the officer's own
    sign-in from the office among them: at most five are checked, and the
    officer gets in."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    make_staff(db, "mayor1", "mayor_office")
    settings = settings_for(db)
    checked: list[str] = []
    lock = threading.Lock()
    real_verify = security.verify_password

    def slow_verify(password_hash: str | None, password: str) -> bool:
        with lock:
            checked.append(password)
        time.sleep(0.05)  # argon2 takes a while: the others arrive meanwhile
        return real_verify(password_hash, password)

    monkeypatch.setattr(accounts, "verify_password", slow_verify)
    attempts = [(STRANGER, "a guess")] * 15 + [(OFFICE, PASSWORD)] + [(STRANGER, "a guess")] * 15
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda attempt: accounts.authenticate(
            db, settings, "mayor1", attempt[1], attempt[0]), attempts))
    assert checked.count("a guess") <= settings.login_max_failures
    assert results[15].token is not None  # the office's own sign-in
    again = accounts.authenticate(db, settings, "mayor1", PASSWORD, STRANGER)
    assert again.token is None  # locked, and past the address's 20 attempts too
    assert again.code in ("account_locked", "too_many_attempts")


def test_one_address_trying_name_after_name_is_refused(db: Database) -> None:
    """Each name had its own five guesses, so one address could try them
    all (item 1). Now 20 attempts from one address in 15 minutes, whatever
    the names, and then 429 until the window ends; other addresses go on."""
    make_staff(db, "mayor1", "mayor_office")
    settings, clock = settings_for(db), Clock()
    for n in range(20):
        result = sign_in(db, settings, clock, STRANGER, username=f"name{n}", password="x")
        assert result.code == "invalid_credentials", n
    refused = sign_in(db, settings, clock, STRANGER, username="mayor1")  # even the right one
    assert refused.code == "too_many_attempts" and refused.token is None
    assert refused.retry_after is not None and 0 < refused.retry_after <= 15 * 60 + 1
    assert sign_in(db, settings, clock, OFFICE).token is not None
    clock.now += timedelta(minutes=15)
    assert sign_in(db, settings, clock, STRANGER).token is not None


def test_signing_in_gives_the_attempt_back_to_the_address(db: Database) -> None:
    """An office behind one address, its officers signing in all morning, is
    not limited: only failures use up the address's attempts."""
    make_staff(db, "mayor1", "mayor_office")
    settings, clock = settings_for(db, login_address_limit=3), Clock()
    for _ in range(6):
        assert sign_in(db, settings, clock, OFFICE).token is not None
    assert sign_in(db, settings, clock, OFFICE, password="typo").code == "invalid_credentials"


def test_a_guess_spread_over_many_addresses_stops_at_the_account_ceiling(
        db: Database) -> None:
    """Locking by address must not let a botnet guess without end: wrong
    passwords for one name from all addresses have a ceiling per hour."""
    make_staff(db, "mayor1", "mayor_office")
    settings, clock = settings_for(db, login_account_limit=8), Clock()
    for n in range(8):
        address = f"203.0.113.{n // 4}"  # four guesses from each: no pair locks
        assert sign_in(db, settings, clock, address, password="x").code == \
            "invalid_credentials"
    ceiling = sign_in(db, settings, clock, OFFICE)
    assert ceiling.code == "account_locked" and ceiling.retry_after is not None
    assert ceiling.retry_after <= 60 * 60 + 1
    clock.now += timedelta(minutes=61)
    assert sign_in(db, settings, clock, OFFICE).token is not None


def test_hammering_a_locked_pair_does_not_use_up_the_account(db: Database) -> None:
    """Refusals of a locked (name, address) pair are not counted against the
    name from everywhere, or one address could lock the officer out of every
    office by knocking on a locked door."""
    make_staff(db, "mayor1", "mayor_office")
    settings = settings_for(db, login_account_limit=8, login_address_limit=100)
    clock = Clock()
    for _ in range(40):
        sign_in(db, settings, clock, STRANGER, password="x")
    assert sign_in(db, settings, clock, OFFICE).token is not None


def _wrapped_verify(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the hash every password is verified against."""
    verified: list[str] = []
    hasher = security._hasher
    real = hasher.verify

    class Recording:
        def verify(self, password_hash: str, password: str) -> bool:
            verified.append(password_hash)
            return real(password_hash, password)

    monkeypatch.setattr(security, "_hasher", Recording())
    return verified


def test_an_unknown_name_is_verified_against_the_dummy_hash(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same work for a name that does not exist: one argon2 verification,
    against a dummy hash of the same cost, so timing does not tell names."""
    make_staff(db, "mayor1", "mayor_office")
    settings, clock = settings_for(db), Clock()
    verified = _wrapped_verify(monkeypatch)
    assert sign_in(db, settings, clock, STRANGER, username="nobody").code == \
        "invalid_credentials"
    assert verified == [security._DUMMY_HASH]
    verified.clear()
    assert sign_in(db, settings, clock, STRANGER, password="x").code == "invalid_credentials"
    assert len(verified) == 1 and verified[0] != security._DUMMY_HASH
    assert verified[0].split("$")[:4] == security._DUMMY_HASH.split("$")[:4]  # same cost


@pytest.mark.parametrize("make", [lambda db: make_staff(db, "mayor1", "mayor_office"),
                                  lambda db: None], ids=["known", "unknown"])
def test_a_name_is_locked_alike_whether_it_exists_or_not(
        db: Database, make: Callable[[Database], None]) -> None:
    """Only real usernames answered 429 after five wrong passwords, so names
    could be probed (item 21)."""
    make(db)
    settings, clock = settings_for(db, login_delay_seconds=0.5), Clock()
    results = [sign_in(db, settings, clock, STRANGER, password="x") for _ in range(6)]
    assert [r.code for r in results] == ["invalid_credentials"] * 5 + ["account_locked"]
    assert results[-1].retry_after == 15 * 60 + 1
    delays = [r.delay for r in results]
    assert delays == [security.failure_delay(n, settings.login_delay_seconds)
                      for n in range(1, 6)] + [0.0]


def test_an_admin_setting_a_new_password_ends_the_locks_of_that_name(db: Database) -> None:
    make_staff(db, "mayor1", "mayor_office")
    settings, clock = settings_for(db), Clock()
    for _ in range(5):
        sign_in(db, settings, clock, STRANGER, password="a guess")
    assert sign_in(db, settings, clock, STRANGER).code == "account_locked"
    with db.session() as session:
        staff = accounts.find(session, "mayor1")
        assert staff is not None
        accounts.set_password(session, staff, "a brand new password")
    assert sign_in(db, settings, clock, STRANGER, password="a brand new password").token
