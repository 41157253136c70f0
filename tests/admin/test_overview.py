"""The overview at /staff and GET /api/v1/overview: the numbers against
seeded data for each role, a department officer's scoped to their own
department, and every number's link landing on a list of the same count."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from bot import clock as clocks
from bot.clock import FixedClock
from bot.models import (
    Booking,
    BookingStatus,
    Complaint,
    ComplaintStatus,
    DocumentRequest,
    DocumentStatus,
    Notice,
    NoticeStatus,
    Survey,
    SurveyParticipant,
    SurveyResponse,
    SurveyStatus,
    UrgentRequest,
    UrgentStatus,
)
from bot.profile import get_profile
from tests.admin.conftest import StaffClient
from tests.admin.test_pages import sign_in
from tests.factories import (
    make_booking,
    make_complaint,
    make_document_request,
    make_staff,
    make_urgent,
)

TZ = get_profile().tz
# Wednesday 18 November 2026, 11:00 in Klokot: a reception day.
NOW = datetime(2026, 11, 18, 11, 0, tzinfo=TZ)
TODAY = NOW.date()
DEPARTMENT = "cadastre_urbanism"  # roads, lighting and public space go there


@pytest.fixture
def fixed() -> Iterator[FixedClock]:
    at = FixedClock(NOW)
    with clocks.using(at):
        yield at


def _set(client: StaffClient, model: Any, reference: str, **values: object) -> None:
    with client.db.session() as session:
        session.execute(update(model).where(model.reference == reference).values(**values))


def seed(client: StaffClient) -> dict[str, str]:
    """Reception, documents, complaints, surveys and notices of a known day."""
    db = client.db
    # Reception: today three bookings (attended, did not come, booked at 13:00),
    # Friday one (booked), next week's Wednesday one (not this week).
    attended = make_booking(db, day=TODAY, slot_index=0)
    no_show = make_booking(db, day=TODAY, slot_index=1)
    make_booking(db, day=TODAY, slot_index=12)
    make_booking(db, day=TODAY + timedelta(days=2), slot_index=0)
    make_booking(db, day=TODAY + timedelta(days=7), slot_index=0)
    _set(client, Booking, attended, status=BookingStatus.attended)
    _set(client, Booking, no_show, status=BookingStatus.no_show)
    make_urgent(db)
    make_urgent(db)
    handled = make_urgent(db)
    _set(client, UrgentRequest, handled, status=UrgentStatus.handled)

    # Documents: two overdue (one forwarded to the department), one due in a
    # day, one granted on time this month, one granted late in October.
    late = make_document_request(db, registered_at=NOW - timedelta(days=60))
    late_dep = make_document_request(db, registered_at=NOW - timedelta(days=50))
    soon = make_document_request(db, registered_at=NOW - timedelta(days=2))
    on_time = make_document_request(db, registered_at=NOW - timedelta(days=3))
    late_done = make_document_request(db, registered_at=datetime(2026, 10, 1, 9, tzinfo=TZ))
    _set(client, DocumentRequest, late, due_at=NOW - timedelta(days=5))
    _set(client, DocumentRequest, late_dep, due_at=NOW - timedelta(days=1),
         forwarded_department=DEPARTMENT)
    _set(client, DocumentRequest, soon, due_at=NOW + timedelta(hours=20))
    _set(client, DocumentRequest, on_time, status=DocumentStatus.granted,
         decided_at=NOW - timedelta(days=1), due_at=NOW + timedelta(days=10))
    _set(client, DocumentRequest, late_done, status=DocumentStatus.refused,
         decided_at=datetime(2026, 11, 2, tzinfo=TZ), due_at=datetime(2026, 10, 22, tzinfo=TZ))

    # Complaints: lighting (the department's) 2 and 10 days old, roads (also
    # the department's) 40 days old, water (agriculture) 3 days old and one
    # resolved; one filed through Open311 (waste, administration) not yet approved.
    fresh = make_complaint(db, category="lighting", created_at=NOW - timedelta(days=2))
    make_complaint(db, category="lighting", created_at=NOW - timedelta(days=10))
    oldest = make_complaint(db, category="roads", created_at=NOW - timedelta(days=40))
    make_complaint(db, category="water", created_at=NOW - timedelta(days=3))
    closed = make_complaint(db, category="lighting", created_at=NOW - timedelta(days=1))
    filed = make_complaint(db, category="waste", created_at=NOW - timedelta(days=1))
    _set(client, Complaint, closed, status=ComplaintStatus.resolved, closed_at=NOW)
    _set(client, Complaint, filed, source="open311")

    with db.session() as session:
        running = Survey(slug="park", title={"en": "The new park"}, questions=[],
                         status=SurveyStatus.open, created_by="info1",
                         published_at=NOW - timedelta(days=3))
        later = Survey(slug="later", title={"en": "Later"}, questions=[],
                       status=SurveyStatus.open, created_by="info1",
                       opens_at=NOW + timedelta(days=3))
        session.add_all([running, later, Survey(slug="draft", title={"en": "Draft"},
                                                questions=[], created_by="info1")])
        session.flush()
        for _ in range(3):
            session.add(SurveyParticipant(survey_id=running.id, started_on=TODAY,
                                          completed=True))
            session.add(SurveyResponse(survey_id=running.id, completed_on=TODAY, answers={}))
        session.add_all([
            Notice(topic="public_debates", texts={"en": "x"}, send_at=NOW,
                   status=NoticeStatus.sending, created_by="info1"),
            Notice(topic="assembly", texts={"en": "y"}, send_at=NOW + timedelta(days=1),
                   status=NoticeStatus.scheduled, created_by="info1"),
            Notice(topic="assembly", texts={"en": "z"}, send_at=NOW - timedelta(days=9),
                   status=NoticeStatus.sent, created_by="info1")])
    return {"oldest": oldest, "fresh": fresh}


def numbers(o: dict[str, object]) -> dict[str, int]:
    """Every count of an overview answer by its path, e.g. "documents.overdue"."""
    found: dict[str, int] = {}

    def walk(value: object, path: str) -> None:
        if isinstance(value, dict):
            if set(value) >= {"count", "link"}:
                found[path] = int(value["count"])
            for key, inner in value.items():
                walk(inner, f"{path}.{key}" if path else key)
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                walk(inner, f"{path}[{index}]")

    walk(o, "")
    return found


def links(o: dict[str, object]) -> dict[str, tuple[int, str]]:
    found: dict[str, tuple[int, str]] = {}

    def walk(value: object, path: str) -> None:
        if isinstance(value, dict):
            if set(value) >= {"count", "link"}:
                found[path] = (int(value["count"]), str(value["link"]))
            for key, inner in value.items():
                walk(inner, f"{path}.{key}" if path else key)
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                walk(inner, f"{path}[{index}]")

    walk(o, "")
    return found


def listed(client: StaffClient, link: str) -> int:
    """How many items the list page at `link` says it shows."""
    page = client.get(link)
    assert page.status_code == 200, (link, page.text[:300])
    if link.endswith("#urgent"):
        urgent = page.text.split('id="urgent"')[1].split("</section>")[0]
        return len(re.findall(r'<td class="ref">', urgent))
    match = re.search(r"Found: (\d+)", page.text)
    assert match, (link, "no count on the page")
    return int(match.group(1))


def test_the_admin_sees_every_section_and_each_link_lists_the_same_count(
        client: StaffClient, fixed: FixedClock) -> None:
    refs = seed(client)
    headers = client.as_role("admin")
    answer = client.get("/api/v1/overview", headers=headers)
    assert answer.status_code == 200, answer.text
    o = answer.json()
    got = numbers(o)
    assert got["reception.today.booked"] == 1
    assert got["reception.today.attended"] == 1
    assert got["reception.today.no_show"] == 1
    assert o["reception"]["today"]["free"] == 7  # 11:20 … 13:40, but 13:00 is booked
    assert got["reception.week.booked"] == 2  # today's and Friday's; not next week's
    assert got["reception.urgent_waiting"] == 2
    assert got["documents.overdue"] == 2
    assert got["documents.due_soon"] == 1
    assert got["documents.received_this_month"] == 2
    # This year: on time 1, late 1 (refused after its deadline), overdue 2.
    assert o["documents"]["decided_this_year"] == 4
    assert o["documents"]["on_time_rate"] == 25.0
    assert got["complaints.open"] == 5
    assert got["complaints.under_week"] == 3
    assert got["complaints.under_month"] == 1
    assert got["complaints.older"] == 1
    assert got["complaints.awaiting_approval"] == 1
    assert {d["department"]: d["count"] for d in o["complaints"]["by_department"]} == {
        DEPARTMENT: 3, "agriculture": 1, "administration": 1}
    assert o["complaints"]["oldest"]["reference"] == refs["oldest"]
    assert o["complaints"]["oldest"]["days"] == 40
    assert got["surveys.open"] == 2
    assert [(s["slug"], s["completed"]) for s in o["surveys"]["running"]] == [("park", 3)]
    assert got["notices.sending"] == 1 and got["notices.scheduled"] == 1

    sign_in(client, "admin-x")
    for path, (count, link) in links(o).items():
        assert listed(client, link) == count, (path, link)
    assert client.get(o["complaints"]["oldest"]["link"]).status_code == 200

    page = client.get("/staff").text
    for path, (count, link) in links(o).items():
        assert f'href="{link.replace("&", "&amp;")}" class="count">{count}</a>' in page, path


def test_a_department_officer_sees_only_their_department(
        client: StaffClient, fixed: FixedClock) -> None:
    refs = seed(client)
    make_staff(client.db, "dep1", "department", DEPARTMENT)
    headers = {"Authorization": f"Bearer {client.token_for('dep1')}"}
    o = client.get("/api/v1/overview", headers=headers).json()
    assert o["reception"] is None  # the role has no reception
    got = numbers(o)
    assert got["documents.overdue"] == 1  # only the one forwarded to the department
    assert got["documents.due_soon"] == 0
    assert got["documents.received_this_month"] == 0
    assert got["complaints.open"] == 3
    assert [d["department"] for d in o["complaints"]["by_department"]] == [DEPARTMENT]
    assert got["complaints.awaiting_approval"] == 0  # administration's, not theirs
    assert o["complaints"]["oldest"]["reference"] == refs["oldest"]

    dashboard = sign_in(client, "dep1")
    assert 'id="ov-reception"' not in dashboard and 'href="/staff/reception' not in dashboard
    assert "agriculture" not in dashboard.split('id="ov-complaints"')[1].split("</section>")[0]
    assert 'id="ov-scope"' in dashboard
    for path, (count, link) in links(o).items():
        assert listed(client, link) == count, (path, link)


@pytest.mark.parametrize("role", ["mayor_office", "info_office", "viewer"])
def test_other_roles_see_what_they_may_read(client: StaffClient, fixed: FixedClock,
                                            role: str) -> None:
    seed(client)
    o = client.get("/api/v1/overview", headers=client.as_role(role)).json()
    assert all(o[section] is not None for section in
               ("reception", "documents", "complaints", "surveys", "notices"))
    assert numbers(o)["complaints.open"] == 5
    dashboard = sign_in(client, f"{role.replace('_', '-')}-x")
    assert ('id="report-link"' in dashboard) is (role != "viewer")
    assert 'href="/staff/reports/2026-10"' in dashboard or role == "viewer"


def test_an_empty_municipality_has_an_overview_of_zeros(client: StaffClient,
                                                         fixed: FixedClock) -> None:
    o = client.get("/api/v1/overview", headers=client.as_role("admin")).json()
    assert set(numbers(o).values()) == {0}
    assert o["complaints"]["oldest"] is None
    assert o["documents"]["on_time_rate"] is None
    assert client.get("/api/v1/overview").status_code == 401


def test_today_is_klokots_today_late_in_the_evening(client: StaffClient,
                                                    fixed: FixedClock) -> None:
    """"Today" and "this week" are Klokot's (at 23:30 there, UTC says 22:30)."""
    fixed.set(datetime.combine(TODAY, time(23, 30), tzinfo=TZ))
    make_booking(client.db, day=TODAY, slot_index=3)
    o = client.get("/api/v1/overview", headers=client.as_role("admin")).json()
    assert o["today"] == TODAY.isoformat()
    assert o["reception"]["week"]["first"] == "2026-11-16"
    assert o["reception"]["week"]["last"] == "2026-11-22"


def test_the_new_list_filters_work_on_the_api_too(client: StaffClient,
                                                  fixed: FixedClock) -> None:
    """The filters the overview's links use (documents by registration day,
    complaints open or closed and by source) are the lists' own, so the API
    answers them alike; nonsense in them is a 422, or on a page a note."""
    seed(client)
    headers = client.as_role("admin")
    o = client.get("/api/v1/overview", headers=headers).json()
    api = {"/staff/documents": "/api/v1/document-requests",
           "/staff/complaints": "/api/v1/complaints"}
    checked = 0
    for count, link in links(o).values():
        path, _, query = link.partition("?")
        if path in api:
            answer = client.get(f"{api[path]}?{query}", headers=headers)
            assert answer.status_code == 200, (link, answer.text)
            assert answer.json()["total"] == count, link
            checked += 1
    assert checked >= 10
    for bad in ("closed=maybe", "source=fax", "created_from=2026-13-01"):
        assert client.get(f"/api/v1/complaints?{bad}", headers=headers).status_code == 422
    assert client.get("/api/v1/document-requests?registered_from=yesterday",
                      headers=headers).status_code == 422
    sign_in(client, "admin-x")
    page = client.get("/staff/complaints?closed=maybe")
    assert page.status_code == 200 and "Found: 6" in page.text
