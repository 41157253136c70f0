"""Signing in and out of the admin API; expiry, revocation, disabled accounts, lock-outs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.db import utcnow
from bot.models.staff import AuditEntry, SignInCounter, StaffToken
from bot.staff import accounts
from tests.admin.conftest import StaffClient
from tests.factories import PASSWORD, make_staff


def actions(client: StaffClient) -> list[str]:
    with client.db.read_session() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_login_me_and_logout(client: StaffClient) -> None:
    make_staff(client.db, "officer1", "admin")
    response = client.post("/api/v1/auth/token",
                           data={"username": "officer1", "password": PASSWORD})
    body = response.json()
    assert response.status_code == 200
    assert body["token_type"] == "bearer" and body["expires_in"] == 8 * 3600
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    me = client.get("/api/v1/me", headers=headers).json()
    assert me["username"] == "officer1" and me["role"] == "admin"
    assert me["permissions"]["staff_admin"] == "full"
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    again = client.get("/api/v1/me", headers=headers)
    assert again.status_code == 401 and again.json()["code"] == "not_authenticated"
    assert actions(client)[-2:] == ["login", "logout"]


@pytest.mark.parametrize("password", ["wrong-password", "", "ß" * 300])
def test_wrong_password_is_401_and_recorded(client: StaffClient, password: str) -> None:
    make_staff(client.db, "officer2", "viewer")
    response = client.post("/api/v1/auth/token",
                           data={"username": "officer2", "password": password})
    assert response.status_code in (401, 422)
    if response.status_code == 401:
        assert response.json()["code"] == "invalid_credentials"
        assert actions(client)[-1] == "login.failed"


def test_unknown_user_is_the_same_401(client: StaffClient) -> None:
    response = client.post("/api/v1/auth/token", data={"username": "nobody", "password": "x"})
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"


@pytest.mark.parametrize("header", ["Bearer forged-token", "Bearer ", "Basic abc", "",
                                    "Bearer ünïcode"])
def test_missing_or_forged_tokens_are_401(client: StaffClient, header: str) -> None:
    response = client.get("/api/v1/me", headers={"Authorization": header.encode()} if header
                          else {})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_expired_token_is_401(client: StaffClient) -> None:
    headers = client.as_role("viewer")
    with client.db.session() as session:
        session.execute(update(StaffToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_disabled_account_loses_access_at_once(client: StaffClient) -> None:
    headers = client.as_role("info_office", username="leaving")
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    with client.db.session() as session:
        staff = accounts.find(session, "leaving")
        assert staff is not None
        accounts.disable(session, staff)
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    response = client.post("/api/v1/auth/token", data={"username": "leaving",
                                                       "password": PASSWORD})
    assert response.status_code == 401
    assert "account.disable" in actions(client)


def test_repeated_failures_lock_the_account_for_a_while(client: StaffClient) -> None:
    make_staff(client.db, "target", "admin")
    for _ in range(5):
        client.post("/api/v1/auth/token", data={"username": "target", "password": "guess"})
    locked = client.post("/api/v1/auth/token", data={"username": "target",
                                                     "password": PASSWORD})
    assert locked.status_code == 429
    assert locked.json()["code"] == "account_locked"
    assert int(locked.headers["retry-after"]) > 60
    assert "login.lockout" in actions(client) and actions(client)[-1] == "login.locked"
    with client.db.session() as session:  # the lock runs out
        counter = session.scalars(select(SignInCounter).where(
            SignInCounter.kind == "pair", SignInCounter.username == "target")).one()
        assert counter.locked_until is not None
        counter.locked_until = utcnow() - timedelta(seconds=1)
    assert client.post("/api/v1/auth/token", data={"username": "target",
                                                   "password": PASSWORD}).status_code == 200


def test_an_officer_locked_out_by_a_stranger_still_signs_in_from_the_office(
        client: StaffClient) -> None:
    """Five wrong passwords from anywhere locked the officer out of their own
    office for 15 minutes (security review, item 21)."""
    make_staff(client.db, "mayor1", "mayor_office")
    stranger = StaffClient(client.app, client=("203.0.113.66", 40000))
    office = StaffClient(client.app, client=("198.51.100.10", 40000))
    for _ in range(5):
        assert stranger.post("/api/v1/auth/token", data={
            "username": "mayor1", "password": "guess"}).status_code == 401
    right = {"username": "mayor1", "password": PASSWORD}
    assert office.post("/api/v1/auth/token", data=right).status_code == 200
    locked = stranger.post("/api/v1/auth/token", data=right)
    assert locked.status_code == 429 and locked.json()["code"] == "account_locked"


def test_one_address_trying_many_names_gets_429(client: StaffClient) -> None:
    """Five guesses per name let one address try every name it could think of
    (security review, item 1): 20 attempts per address in 15 minutes."""
    make_staff(client.db, "mayor1", "mayor_office")
    for n in range(20):
        name = "mayor1" if n == 7 else f"guess{n}"
        response = client.post("/api/v1/auth/token", data={"username": name, "password": "x"})
        assert response.status_code == 401, n
    refused = client.post("/api/v1/auth/token", data={"username": "mayor1",
                                                      "password": PASSWORD})
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert body["code"] == "too_many_attempts" and body["status"] == 429
    assert 0 < int(refused.headers["retry-after"]) <= 15 * 60 + 1
    assert actions(client).count("login.throttled") == 1
    elsewhere = StaffClient(client.app, client=("198.51.100.10", 40000))
    assert elsewhere.post("/api/v1/auth/token", data={
        "username": "mayor1", "password": PASSWORD}).status_code == 200


def test_unknown_and_known_usernames_get_the_same_answers(
        client: StaffClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only real usernames slowed down and answered 429, so names could be
    probed (security review, item 21): status, body and headers are the
    same for a name that does not exist, wrong password or locked."""
    from datetime import UTC, datetime

    frozen = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)  # so Retry-After is comparable
    monkeypatch.setattr(accounts, "utcnow", lambda: frozen)
    make_staff(client.db, "mayor1", "mayor_office")

    def answers(name: str) -> list[tuple[int, str, dict[str, str]]]:
        # The prober names its requests alike: the request id echoed back is then
        # the same too, and every other header must be.
        return [(r.status_code, r.text, dict(r.headers)) for r in (
            client.post("/api/v1/auth/token", data={"username": name, "password": "guess"},
                        headers={"X-Request-ID": f"probe-{n}"})
            for n in range(6))]

    known, unknown = answers("mayor1"), answers("nobody")
    assert known == unknown
    assert [status for status, _, _ in known] == [401] * 5 + [429]


def test_failed_logins_slow_down() -> None:
    from bot.staff.security import failure_delay

    delays = [failure_delay(n, 0.5) for n in range(1, 8)]
    assert delays[:2] == [0.0, 0.0]
    assert delays[2:] == sorted(delays[2:]) and delays[2] > 0 and max(delays) <= 8


def test_tokens_are_stored_only_as_hashes(client: StaffClient) -> None:
    make_staff(client.db, "hashy", "viewer")
    token = client.token_for("hashy")
    with client.db.read_session() as session:
        stored = session.scalars(select(StaffToken.token_hash)).all()
    assert token not in stored and len(stored) == 1 and len(stored[0]) == 64


def test_nul_in_a_username_is_a_wrong_login_not_a_crash(client: StaffClient) -> None:
    response = client.post("/api/v1/auth/token", data={"username": "off\x00icer",
                                                       "password": "whatever"})
    assert response.status_code == 401


def test_the_sign_in_page_is_limited_by_address_too(client: StaffClient) -> None:
    """The sign-in page had no limit of its own: it counts with the API's."""
    from bot.app import create_app
    from tests.admin.test_pages import csrf_of
    from tests.factories import make_runtime

    make_staff(client.db, "mayor1", "mayor_office")
    runtime = make_runtime(client.db, login_delay_seconds=0.0, login_address_limit=2)
    with StaffClient(create_app(runtime=runtime, run_sender=False)) as browser:
        for name in ("guess1", "guess2", "mayor1"):
            form = csrf_of(browser.get("/staff/login").text)
            response = browser.post("/staff/login", data={
                "username": name, "password": "x" if name != "mayor1" else PASSWORD,
                "csrf_token": form})
        assert response.status_code == 429
        assert "Too many sign-in attempts from this address" in response.text
        assert int(response.headers["retry-after"]) > 0
        assert "klokot_staff" not in response.headers.get("set-cookie", "")


def test_a_flood_of_sign_ins_checks_few_passwords_at_once(
        client: StaffClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sixteen threads of sign-ins ran sixteen argon2 checks at once and
    starved the webhooks of CPU and threads (security review, item 2; see
    `make bench`): a web process checks LOGIN_CONCURRENCY passwords at a time."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from bot.app import create_app
    from bot.staff import security
    from tests.factories import make_runtime

    running, most = 0, 0
    lock = threading.Lock()
    real_verify = security.verify_password

    def watched_verify(password_hash: str | None, password: str) -> bool:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        try:
            return real_verify(password_hash, password)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(accounts, "verify_password", watched_verify)
    runtime = make_runtime(client.db, login_delay_seconds=0.0, login_concurrency=2,
                           login_address_limit=100)
    with (StaffClient(create_app(runtime=runtime, run_sender=False)) as flood,
          ThreadPoolExecutor(max_workers=8) as pool):
        answers = list(pool.map(lambda n: flood.post("/api/v1/auth/token", data={
            "username": f"nobody{n}", "password": "x"}).status_code, range(8)))
    assert answers == [401] * 8
    assert 1 <= most <= 2
