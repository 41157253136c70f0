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
    [cookie] = [c.lower() for c in response.headers.get_list("set-cookie")
                if c.startswith("klokot_staff=")]
    assert "max-age" not in cookie and "expires" not in cookie


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


def _language_of(client: StaffClient, username: str) -> str:
    from bot.models.staff import StaffUser

    with client.db.read_session() as session:
        return str(session.scalar(select(StaffUser.language).where(
            StaffUser.username == username)))


def test_a_csrf_token_from_one_officers_session_is_refused_in_anothers(
        client: StaffClient) -> None:
    """The same CSRF token served every account in a browser and was never
    rotated (security review, item 18): a form token taken from officer A's
    session still worked once officer B signed in at the same PC."""
    make_staff(client.db, "officer-a", "admin")
    make_staff(client.db, "officer-b", "viewer")
    token_of_a = csrf_of(sign_in(client, "officer-a"))
    out = client.post("/staff/logout", data={"csrf_token": token_of_a}, follow_redirects=False)
    assert out.status_code == 303
    dashboard_of_b = sign_in(client, "officer-b")
    forged = client.post("/staff/language", data={"locale": "sq", "csrf_token": token_of_a},
                         follow_redirects=False)
    assert forged.status_code == 403 and _language_of(client, "officer-b") == "en"
    # …and in another browser where officer B is signed in
    other = StaffClient(client.app)
    other.db = client.db
    sign_in(other, "officer-b")
    assert other.post("/staff/language", data={"locale": "sq", "csrf_token": token_of_a},
                      follow_redirects=False).status_code == 403
    own = client.post("/staff/language", data={"locale": "sq",
                                               "csrf_token": csrf_of(dashboard_of_b)},
                      follow_redirects=False)
    assert own.status_code == 303 and _language_of(client, "officer-b") == "sq"


def test_the_csrf_token_changes_at_sign_in(client: StaffClient) -> None:
    make_staff(client.db, "officer1", "admin")
    before = csrf_of(client.get("/staff/login").text)
    first = csrf_of(sign_in(client, "officer1"))
    assert first != before
    assert csrf_of(client.get("/staff").text) == first  # steady within the session
    client.post("/staff/logout", data={"csrf_token": first})
    login_again = csrf_of(client.get("/staff/login").text)
    second = csrf_of(sign_in(client, "officer1"))
    assert len({before, first, login_again, second}) == 4
    # the sign-in form's token is no session's token
    assert client.post("/staff/language", data={"locale": "sq", "csrf_token": login_again},
                       follow_redirects=False).status_code == 403


def test_sign_out_everywhere_ends_every_session_and_token(client: StaffClient) -> None:
    """On a shared office PC there was no way to end the sessions an officer
    left open elsewhere (security review, item 18)."""
    from bot.models.staff import AuditEntry

    make_staff(client.db, "officer1", "admin")
    make_staff(client.db, "colleague", "admin")
    dashboard = sign_in(client, "officer1")
    assert 'action="/staff/logout/everywhere"' in dashboard
    elsewhere = StaffClient(client.app)
    elsewhere.db = client.db
    sign_in(elsewhere, "officer1")
    bearer = {"Authorization": f"Bearer {client.token_for('officer1')}"}
    colleague = {"Authorization": f"Bearer {client.token_for('colleague')}"}

    refused = client.post("/staff/logout/everywhere", data={"csrf_token": "0" * 64},
                          follow_redirects=False)
    assert refused.status_code == 403
    assert client.get("/api/v1/me", headers=bearer).status_code == 200

    done = client.post("/staff/logout/everywhere", data={"csrf_token": csrf_of(dashboard)},
                       follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/staff/login"
    assert elsewhere.get("/staff", follow_redirects=False).status_code == 303
    assert client.get("/staff", follow_redirects=False).status_code == 303
    gone = client.get("/api/v1/me", headers=bearer)
    assert gone.status_code == 401 and gone.json()["code"] == "not_authenticated"
    assert client.get("/api/v1/me", headers=colleague).status_code == 200  # only theirs
    with client.db.read_session() as session:
        entry = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "logout.everywhere")).one()
    assert entry.username == "officer1" and entry.detail is not None
    assert entry.detail.startswith("3 sessions and tokens ended")


def test_an_api_client_signs_its_officer_out_everywhere(client: StaffClient) -> None:
    make_staff(client.db, "officer1", "admin")
    sign_in(client, "officer1")
    bearer = {"Authorization": f"Bearer {client.token_for('officer1')}"}
    other = {"Authorization": f"Bearer {client.token_for('officer1')}"}
    assert client.post("/api/v1/auth/logout/everywhere").status_code == 403  # cookie only
    assert client.post("/api/v1/auth/logout/everywhere", headers=bearer).status_code == 204
    assert client.get("/api/v1/me", headers=other).status_code == 401
    assert client.get("/staff", follow_redirects=False).status_code == 303
