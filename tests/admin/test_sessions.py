"""Staff sessions on a shared office PC (security review, item 18): nothing
with personal data is kept in the browser's cache, the session cookie ends
with the browser, and a session left unused ends on the server."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from bot.db import utcnow
from bot.models import ComplaintEvent
from bot.models.staff import StaffToken
from tests.admin.conftest import StaffClient
from tests.admin.test_pages import csrf_of, sign_in
from tests.factories import PASSWORD, make_staff

# Sessions that end after 30 minutes unused: run again at night by `make test-night`.
pytestmark = pytest.mark.clock


def test_staff_pages_and_api_answers_are_not_cached(client: StaffClient) -> None:
    make_staff(client.db, "officer1", "admin")
    sign_in(client, "officer1")
    for path in ("/staff", "/staff/citizens", "/staff/complaints"):
        assert client.get(path).headers["cache-control"] == "no-store", path
    headers = client.as_role("viewer")
    for path in ("/api/v1/me", "/api/v1/complaints", "/api/v1/nonexistent"):
        assert client.get(path, headers=headers).headers["cache-control"] == "no-store", path
    assert "no-store" not in client.get("/healthz").headers.get("cache-control", "")


def test_the_session_cookie_ends_with_the_browser(client: StaffClient) -> None:
    make_staff(client.db, "officer1", "admin")
    page = client.get("/staff/login")
    response = client.post("/staff/login", follow_redirects=False, data={
        "username": "officer1", "password": PASSWORD, "csrf_token": csrf_of(page.text)})
    assert response.status_code == 303
    cookie = response.headers["set-cookie"].lower()
    assert "klokot_staff=" in cookie and "max-age" not in cookie and "expires" not in cookie


def test_a_session_left_unused_ends_and_a_used_one_goes_on(client: StaffClient) -> None:
    make_staff(client.db, "officer1", "admin")
    sign_in(client, "officer1")
    with client.db.read_session() as session:
        [token] = session.scalars(select(StaffToken).where(StaffToken.kind == "session"))
    assert token.expires_at <= utcnow() + timedelta(minutes=30)  # not 8 hours ahead

    # Used a moment ago: each page moves the end 30 minutes on.
    with client.db.session() as session:
        session.execute(update(StaffToken).where(StaffToken.id == token.id)
                        .values(expires_at=utcnow() + timedelta(minutes=1)))
    assert client.get("/staff", follow_redirects=False).status_code == 200
    with client.db.read_session() as session:
        moved = session.get(StaffToken, token.id)
        assert moved is not None and moved.expires_at > utcnow() + timedelta(minutes=29)

    # Left alone for more than 30 minutes: signed out.
    with client.db.session() as session:
        session.execute(update(StaffToken).where(StaffToken.id == token.id)
                        .values(expires_at=utcnow() - timedelta(seconds=1)))
    response = client.get("/staff", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/staff/login"


def test_an_api_token_is_not_cut_by_the_idle_limit(client: StaffClient) -> None:
    headers = client.as_role("viewer")
    with client.db.read_session() as session:
        [token] = session.scalars(select(StaffToken).where(StaffToken.kind == "api"))
    assert token.expires_at > utcnow() + timedelta(hours=7)
    assert client.get("/api/v1/me", headers=headers).status_code == 200


def test_an_api_write_on_the_page_cookie_alone_is_refused(client: StaffClient) -> None:
    """A JSON POST with only the staff session cookie added a note: only
    SameSite stood between another site and the API (security review, item 9)."""
    from tests.factories import make_complaint

    reference = make_complaint(client.db)
    make_staff(client.db, "officer1", "admin")
    sign_in(client, "officer1")  # the client now carries the session cookie
    assert client.get("/api/v1/me").status_code == 200  # reading is fine
    forged = client.post(f"/api/v1/complaints/{reference}/notes", json={"text": "forged"})
    assert forged.status_code == 403 and forged.json()["code"] == "bearer_required"
    with client.db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(ComplaintEvent).where(
            ComplaintEvent.action == "note")) == 0
    headers = {"Authorization": f"Bearer {client.token_for('officer1')}"}
    assert client.post(f"/api/v1/complaints/{reference}/notes", json={"text": "real"},
                       headers=headers).status_code == 201
