"""Review #13, item 20: refused staff requests were not audited, the record
of personal data shown was cut at 2,000 characters (166 references of 200),
and exports recorded filters and a count, not which records."""

from __future__ import annotations

import csv
import io

from bot.db import Database, utcnow
from bot.i18n import Catalogs
from bot.models import ChannelAccount, Citizen, ComplaintKind
from bot.profile import get_profile
from bot.services import complaints as service
from bot.staff.audit import AuditEntry
from tests.admin.conftest import StaffClient
from tests.admin.test_pages import sign_in
from tests.factories import audit_log, make_complaint, make_staff

API = "/api/v1/complaints"


def refusals(client: StaffClient) -> list[AuditEntry]:
    return audit_log(client.db, "refused")


def test_a_department_officer_asking_for_another_departments_item_is_audited(
        client: StaffClient) -> None:
    other = make_complaint(client.db, category="water")  # agriculture's
    headers = client.as_role("department", "cadastre_urbanism", username="dept-officer")
    assert client.get(f"{API}/{other}", headers=headers).status_code == 404
    assert client.post(f"{API}/{other}/notes", headers=headers,
                       json={"text": "probe"}).status_code == 404
    [seen, wrote] = refusals(client)
    assert seen.username == "dept-officer" and seen.staff_id is not None
    assert seen.after == {"status": 404, "code": "not_found", "method": "GET",
                          "path": f"{API}/{other}"}
    assert wrote.after is not None and wrote.after["method"] == "POST"
    assert seen.ip == "testclient"


def test_a_viewer_asking_for_personal_data_is_audited(client: StaffClient) -> None:
    headers = client.as_role("viewer", username="viewer1")
    assert client.get("/api/v1/citizens", headers=headers).status_code == 403
    assert client.get("/api/v1/audit", headers=headers).status_code == 403
    listed, audit = refusals(client)
    assert listed.username == "viewer1" and listed.after is not None
    assert (listed.after["status"], listed.after["code"]) == (403, "counts_only")
    assert audit.after is not None and audit.after["code"] == "forbidden"
    # The same on the pages: the audit log page refused to a viewer.
    make_staff(client.db, "viewer2", "viewer")
    sign_in(client, "viewer2")
    assert client.get("/staff/audit").status_code == 403
    page = refusals(client)[-1]
    assert page.username == "viewer2" and page.after is not None
    assert (page.after["status"], page.after["path"]) == (403, "/staff/audit")


def test_requests_that_are_answered_are_not_recorded_as_refused(client: StaffClient) -> None:
    headers = client.as_role("info_office", username="info1")
    assert client.get(API, headers=headers).status_code == 200
    assert client.get(f"{API}/C-2026-999999", headers={"Authorization": "Bearer nope"}
                      ).status_code == 401  # no officer known: nothing to name
    assert refusals(client) == []


def many_complaints(db: Database, count: int) -> list[str]:
    """`count` complaints from as many citizens, made in one transaction."""
    profile = get_profile()
    catalogs = Catalogs(profile.enabled_locales)
    made = []
    with db.session() as session:
        for i in range(count):
            citizen = Citizen(language="en", full_name=f"Citizen {i}", phone="+38344123456")
            session.add(citizen)
            session.flush()
            account = ChannelAccount(citizen_id=citizen.id, channel="telegram",
                                     external_id=f"many{i}", chat_id=f"many{i}")
            session.add(account)
            session.flush()
            made.append(service.register(
                session, profile, catalogs, citizen=citizen, account=account,
                kind=ComplaintKind.complaint, category_code="lighting", settlement="klokot",
                description="The street light by the school in Klokot is out", photos=[],
                latitude=None, longitude=None, address=None, anonymous=False,
                now=utcnow()).reference)
    return made


def test_every_reference_shown_or_exported_is_recorded(client: StaffClient) -> None:
    made = many_complaints(client.db, 300)
    headers = client.as_role("info_office", username="info2")
    first = client.get(API, headers=headers, params={"limit": 200})
    second = client.get(API, headers=headers, params={"limit": 200, "offset": 200})
    shown = [i["reference"] for i in first.json()["items"] + second.json()["items"]]
    exported = client.get(f"{API}.csv", headers=headers).content.decode("utf-8-sig")
    in_file = [row["reference"] for row in csv.DictReader(io.StringIO(exported))]
    assert sorted(shown) == sorted(in_file) == sorted(made)
    lists = audit_log(client.db, "complaints.list")
    assert [len(e.item_references or []) for e in lists] == [200, 100]
    assert [r for e in lists for r in e.item_references or []] == shown
    [export] = audit_log(client.db, "complaints.export")
    assert export.item_references == in_file
    assert export.detail and "300 rows" in export.detail


def test_the_audit_log_answers_who_saw_an_item(client: StaffClient) -> None:
    seen, unseen = make_complaint(client.db), make_complaint(client.db)
    info = client.as_role("info_office", username="info3")
    assert client.get(f"{API}/{seen}", headers=info).status_code == 200
    admin = client.as_role("admin", username="admin1")
    found = client.get("/api/v1/audit", headers=admin, params={"reference": seen}).json()
    assert [(i["username"], i["item_references"]) for i in found["items"]] == [
        ("info3", [seen])]
    assert client.get("/api/v1/audit", headers=admin,
                      params={"reference": unseen}).json()["total"] == 0
    make_staff(client.db, "admin2", "admin")
    sign_in(client, "admin2")
    page = client.get("/staff/audit", params={"reference": seen}).text
    assert "Reference numbers shown: 1" in page and seen in page and "info3" in page
