"""Signing in and out of the admin API; expiry, revocation, disabled accounts, lock-outs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.db import utcnow
from bot.models.staff import AuditEntry, StaffToken
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
        staff = accounts.find(session, "target")
        assert staff is not None and staff.locked_until is not None
        staff.locked_until = utcnow() - timedelta(seconds=1)
    assert client.post("/api/v1/auth/token", data={"username": "target",
                                                   "password": PASSWORD}).status_code == 200


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
