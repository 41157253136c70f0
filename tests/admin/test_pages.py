"""The staff pages through HTTP as a browser uses them: forms with CSRF,
the session cookie, headers, and the officer's own chat link."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from bot.entry.chat import TerminalChat
from bot.models.staff import AuditEntry, StaffUser
from tests.admin.conftest import StaffClient
from tests.factories import PASSWORD, make_citizen, make_runtime, make_staff, texts


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert match, "no CSRF field in the form"
    return match.group(1)


def sign_in(client: StaffClient, username: str, password: str = PASSWORD) -> str:
    """Sign in through the login form; returns the dashboard's HTML."""
    page = client.get("/staff/login")
    response = client.post("/staff/login", data={"username": username, "password": password,
                                                 "csrf_token": csrf_of(page.text)})
    assert response.status_code == 200, response.text
    return response.text


def test_sign_in_dashboard_and_sign_out(client: StaffClient) -> None:
    make_staff(client.db, "officer1", "admin")
    assert client.get("/staff", follow_redirects=False).headers["location"] == "/staff/login"
    dashboard = sign_in(client, "officer1")
    assert "Welcome, officer1" in dashboard and "Audit log" in dashboard
    assert "Not built yet" not in dashboard  # every capability has its pages now
    cookie = client.cookies.get("klokot_staff")
    assert cookie
    out = client.post("/staff/logout", data={"csrf_token": csrf_of(dashboard)},
                      follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/staff/login"
    client.cookies.set("klokot_staff", cookie)  # the old cookie no longer opens anything
    assert client.get("/staff", follow_redirects=False).status_code == 303


def test_session_cookie_flags_and_security_headers(client: StaffClient) -> None:
    make_staff(client.db, "officer2", "viewer")
    page = client.get("/staff/login")
    response = client.post("/staff/login", follow_redirects=False, data={
        "username": "officer2", "password": PASSWORD, "csrf_token": csrf_of(page.text)})
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    for path in ("/staff/login", "/healthz", "/api/v1/me"):
        headers = client.get(path).headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "unsafe-inline" not in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"


def test_https_cookies_are_secure(client: StaffClient) -> None:
    make_staff(client.db, "officer3", "viewer")
    secure = StaffClient(client.app, base_url="https://staff.klokot.example")
    page = secure.get("/staff/login")
    response = secure.post("/staff/login", follow_redirects=False, data={
        "username": "officer3", "password": PASSWORD, "csrf_token": csrf_of(page.text)})
    assert "Secure" in response.headers["set-cookie"]


@pytest.mark.parametrize("token", [None, "", "0" * 64, "not-hex"])
def test_forms_without_a_valid_csrf_token_change_nothing(client: StaffClient,
                                                          token: str | None) -> None:
    make_staff(client.db, "officer4", "admin")
    client.get("/staff/login")
    data = {"username": "officer4", "password": PASSWORD}
    if token is not None:
        data["csrf_token"] = token
    response = client.post("/staff/login", data=data, follow_redirects=False)
    assert response.status_code == 403
    assert "klokot_staff" not in response.headers.get("set-cookie", "")


def test_wrong_password_in_the_form(client: StaffClient) -> None:
    make_staff(client.db, "officer5", "admin")
    page = client.get("/staff/login")
    response = client.post("/staff/login", data={"username": "officer5", "password": "nope",
                                                 "csrf_token": csrf_of(page.text)})
    assert response.status_code == 401
    assert "Wrong username or password." in response.text


def test_citizen_list_page_by_role(client: StaffClient) -> None:
    make_citizen(client.db, full_name="Arta Krasniqi", phone="+38344111111")
    make_staff(client.db, "mayor1", "mayor_office")
    make_staff(client.db, "viewer1", "viewer")
    sign_in(client, "mayor1")
    page = client.get("/staff/citizens").text
    assert "Arta Krasniqi" in page and "+38344111111" in page
    table = page.split('id="citizens"')[1].split("</table>")[0]
    assert not re.search(r"\d\d:\d\d", table)  # seen on a day, never at a time (#13, item 12)
    client.cookies.clear()
    sign_in(client, "viewer1")
    page = client.get("/staff/citizens?settlement=klokot").text
    assert "Arta" not in page and 'id="citizens"' not in page  # counts, not the list
    assert "Found: 1" in page and "sees how many citizens match" in page
    bad = client.get("/staff/citizens?channel=fax")
    assert bad.status_code == 200 and "unknown channel" in bad.text
    assert "<html" in bad.text  # a page for people, not JSON
    # The filter form's "any" sends empty values: no filter, not an error.
    anything = client.get("/staff/citizens?channel=&language=&settlement=")
    assert anything.status_code == 200 and "Found: 1" in anything.text


def test_audit_page_for_admins_only(client: StaffClient) -> None:
    make_staff(client.db, "admin1", "admin")
    make_staff(client.db, "viewer2", "viewer")
    sign_in(client, "viewer2")
    assert client.get("/staff/audit").status_code == 403
    client.cookies.clear()
    sign_in(client, "admin1")
    page = client.get("/staff/audit").text
    assert "viewer2" in page and "login" in page


def test_officer_chooses_the_page_language(client: StaffClient) -> None:
    make_staff(client.db, "officer6", "info_office")
    dashboard = sign_in(client, "officer6")
    response = client.post("/staff/language", data={"locale": "sq", "back": "/staff/citizens",
                                                    "csrf_token": csrf_of(dashboard)})
    assert response.url.path == "/staff/citizens"
    assert "Dalja" in response.text or 'lang="sq"' in response.text
    with client.db.read_session() as session:
        assert session.scalar(select(StaffUser.language).where(
            StaffUser.username == "officer6")) == "sq"
        assert session.scalar(select(AuditEntry.action).order_by(AuditEntry.id.desc())
                              ) == "account.language"


def test_unknown_and_pending_sections(client: StaffClient) -> None:
    make_staff(client.db, "officer7", "admin")
    sign_in(client, "officer7")
    assert client.get("/staff/nonsense").status_code == 404
    built = client.get("/staff/surveys")  # the last section to get its pages
    assert built.status_code == 200 and "not built yet" not in built.text


def test_officer_links_and_unlinks_their_own_chat(client: StaffClient) -> None:
    make_staff(client.db, "mayoroffice", "mayor_office")
    sign_in(client, "mayoroffice")
    chat_page = client.get("/staff/chat").text
    shown = client.post("/staff/chat/code", data={"csrf_token": csrf_of(chat_page)}).text
    code = re.search(r"/staff ([2-9A-HJKMNP-Z]{5}-[2-9A-HJKMNP-Z]{5})", shown)
    assert code, shown
    runtime = make_runtime(client.db)
    import io

    phone = TerminalChat(runtime.engine, runtime.db, user="officer-phone", out=io.StringIO())
    invalid = runtime.catalogs.gettext("sr_Latn", "staff_link.invalid")
    assert texts(phone.send("/staff 00000000")) == invalid
    assert "mayoroffice" in texts(phone.send(f"/staff {code.group(1).lower()}"))
    assert texts(phone.send(f"/staff {code.group(1)}")) == invalid  # one time only
    assert "Linked" in client.get("/staff").text
    # The page says which chat linked, so a stranger's chat would be seen.
    which = re.search(r'<p id="linked-chat">([^<]*)</p>', client.get("/staff/chat").text)
    assert which, "the page does not say which chat is linked"
    assert which.group(1).startswith("Linked chat: Terminal · officer-phone (…hone), since ")
    assert texts(phone.send("/staff off")) == runtime.catalogs.gettext("sr_Latn",
                                                                        "staff_link.unlinked")
    with client.db.read_session() as session:
        assert session.scalar(select(StaffUser.chat_account_id)) is None
        logged = session.scalars(select(AuditEntry.action)).all()
    assert {"account.chat_code", "account.chat_link", "account.chat_unlink"} <= set(logged)


def test_times_on_the_pages_are_local_not_utc(client: StaffClient) -> None:
    from datetime import UTC, datetime

    from bot.staff.audit import record

    make_staff(client.db, "clock", "admin")
    with client.db.session() as session:  # 22:30 UTC in winter is 23:30 in Klokot
        entry = record(session, None, "test.clock")
        entry.at = datetime(2026, 1, 15, 22, 30, tzinfo=UTC)
    sign_in(client, "clock")
    page = client.get("/staff/audit?action=test.clock").text
    assert "15 January 2026 23:30" in page
