"""The monthly report (/staff/reports/YYYY-MM, GET /api/v1/reports/{YYYY-MM}
and its XLSX) against seeded data of October 2026, seen on 18 November; the
months there is no report of; who may read it."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update

from bot import clock as clocks
from bot.clock import FixedClock
from bot.models import (
    Booking,
    BookingStatus,
    ChannelAccount,
    Citizen,
    Complaint,
    ComplaintEvent,
    DocumentEvent,
    DocumentRequest,
    DocumentStatus,
    InboundStatus,
    InboundUpdate,
    Notice,
    NoticeRecipient,
    NoticeStatus,
    OutboxMessage,
    OutboxStatus,
    Subscription,
    Survey,
    SurveyParticipant,
    SurveyResponse,
    SurveyStatus,
    UrgentRequest,
)
from bot.profile import get_profile
from tests.admin.conftest import StaffClient
from tests.admin.test_pages import sign_in
from tests.admin.test_reception_pages import no_inline_code
from tests.factories import (
    audit_log,
    make_booking,
    make_citizen,
    make_complaint,
    make_day,
    make_document_request,
    make_urgent,
)

TZ = get_profile().tz
NOW = datetime(2026, 11, 18, 11, 0, tzinfo=TZ)


def at(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=TZ)


@pytest.fixture
def fixed() -> Iterator[FixedClock]:
    moment = FixedClock(NOW)
    with clocks.using(moment):
        yield moment


def _set(client: StaffClient, model: Any, reference: str, **values: object) -> None:
    with client.db.session() as session:
        session.execute(update(model).where(model.reference == reference).values(**values))


def _id(client: StaffClient, model: Any, reference: str) -> int:
    with client.db.read_session() as session:
        found = session.scalar(select(model.id).where(model.reference == reference))
        assert found is not None
        return int(found)


def seed_october(client: StaffClient) -> None:
    db = client.db
    # Reception: 7 and 14 October held, 21 October closed; 28 October held, unbooked.
    a = make_booking(db, day=date(2026, 10, 7), slot_index=0, settlement="klokot")
    b = make_booking(db, day=date(2026, 10, 7), slot_index=1, settlement="vrbovac")
    c = make_booking(db, day=date(2026, 10, 7), slot_index=2, settlement="klokot")
    d = make_booking(db, day=date(2026, 10, 14), slot_index=0, settlement="vrbovac")
    make_booking(db, day=date(2026, 10, 14), slot_index=1, settlement="klokot")  # unmarked
    make_booking(db, day=date(2026, 11, 4), slot_index=0)  # November's
    make_day(db, day=date(2026, 10, 21), closed=True, closed_reason="The mayor is away")
    make_day(db, day=date(2026, 10, 28))
    _set(client, Booking, a, status=BookingStatus.attended)
    _set(client, Booking, b, status=BookingStatus.no_show)
    _set(client, Booking, c, status=BookingStatus.cancelled)
    _set(client, Booking, d, status=BookingStatus.attended)
    _set(client, UrgentRequest, make_urgent(db), created_at=at(10, 10))
    make_urgent(db)  # November's

    # Documents: three received in October, three decided in it (one late).
    granted = make_document_request(db, registered_at=at(10, 1))
    refused = make_document_request(db, registered_at=at(9, 25))
    forwarded = make_document_request(db, registered_at=at(10, 5))
    overdue = make_document_request(db, registered_at=at(10, 20))
    _set(client, DocumentRequest, granted, status=DocumentStatus.granted,
         decided_at=at(10, 10), due_at=at(10, 22))
    _set(client, DocumentRequest, refused, status=DocumentStatus.refused,
         decided_at=at(10, 20), due_at=at(10, 16))
    _set(client, DocumentRequest, forwarded, status=DocumentStatus.forwarded,
         decided_at=at(10, 8), due_at=at(10, 26), forwarded_to="The Ministry of Health")
    _set(client, DocumentRequest, overdue, due_at=at(10, 28), extended=True)
    with db.session() as session:
        session.add_all([
            DocumentEvent(request_id=_id(client, DocumentRequest, refused), at=at(10, 20),
                          by="info1", status_from="in_progress", status_to="refused",
                          text="Personal data of third parties"),
            DocumentEvent(request_id=_id(client, DocumentRequest, overdue), at=at(10, 15),
                          by="info1", status_from="received", status_to="extended",
                          text="The archive is being moved")])

    # Complaints: three in October (one a suggestion), two resolved in it
    # (10 and 20 days after coming in), one re-opened by its citizen.
    lighting = make_complaint(db, category="lighting", settlement="klokot",
                              created_at=at(10, 3))
    roads = make_complaint(db, category="roads", settlement="vrbovac", created_at=at(10, 9))
    make_complaint(db, kind="suggestion", category="water", settlement="klokot",
                   created_at=at(10, 12))
    make_complaint(db, category="roads", created_at=at(11, 2))
    with db.session() as session:
        session.add_all([
            ComplaintEvent(complaint_id=_id(client, Complaint, lighting), at=at(10, 13),
                           by="dep1", action="status", status_from="open",
                           status_to="resolved"),
            ComplaintEvent(complaint_id=_id(client, Complaint, roads), at=at(10, 29),
                           by="dep1", action="status", status_from="open",
                           status_to="resolved"),
            ComplaintEvent(complaint_id=_id(client, Complaint, lighting), at=at(10, 30),
                           by="citizen", action="status", status_from="resolved",
                           status_to="open", text="the citizen says it is not solved")])

    # Chat: a Telegram citizen in Klokot and a Viber one abroad wrote in
    # October (both new then); a third only in November.
    telegram = make_citizen(db, channel="telegram", external_id="t1", language="sr_Latn",
                            settlement="klokot")
    viber = make_citizen(db, channel="viber", external_id="v1", language="sq",
                         settlement="abroad")
    later = make_citizen(db, channel="telegram", external_id="t2", language="en")
    with db.session() as session:
        session.execute(update(Citizen).where(Citizen.id.in_([telegram, viber]))
                        .values(created_at=at(10, 5)))
        accounts = {citizen: account for account, citizen in session.execute(
            select(ChannelAccount.id, ChannelAccount.citizen_id))}
        session.execute(update(ChannelAccount).where(ChannelAccount.id == accounts[viber])
                        .values(blocked_at=at(10, 20)))
        for key, (citizen, moment) in enumerate([(telegram, at(10, 5)), (telegram, at(10, 6)),
                                                 (viber, at(10, 7)), (later, at(11, 3))]):
            session.add(InboundUpdate(channel="telegram", update_key=f"k{key}",
                                      account_id=accounts[citizen], kind="message",
                                      status=InboundStatus.handled, received_at=moment))
        session.add(Subscription(citizen_id=telegram, topic="public_debates",
                                 created_at=at(10, 3)))

        # Surveys: one open since September; three started in October, two finished.
        survey = Survey(slug="park", title={"en": "The new park"}, questions=[],
                        status=SurveyStatus.open, created_by="info1",
                        published_at=at(9, 28))
        session.add(survey)
        session.flush()
        for day, done in ((date(2026, 10, 2), True), (date(2026, 10, 2), True),
                          (date(2026, 10, 30), False), (date(2026, 11, 2), True)):
            session.add(SurveyParticipant(survey_id=survey.id, started_on=day, completed=done))
            if done:
                session.add(SurveyResponse(survey_id=survey.id, completed_on=day, answers={}))

        # Notices: one public debate sent in October to three (two delivered, one
        # unreachable), one in November.
        notice = Notice(topic="public_debates", texts={"en": "x"}, send_at=at(10, 15),
                        status=NoticeStatus.sent, created_by="info1", started_at=at(10, 15))
        session.add_all([notice, Notice(topic="assembly", texts={"en": "y"},
                                        send_at=at(11, 2), status=NoticeStatus.sent,
                                        created_by="info1", started_at=at(11, 2))])
        session.flush()
        for citizen, delivered in ((telegram, True), (viber, True), (later, False)):
            outbox = None
            if delivered:
                message = OutboxMessage(channel="telegram", chat_id=str(citizen),
                                        body={"text": "x"}, status=OutboxStatus.sent)
                session.add(message)
                session.flush()
                outbox = message.id
            session.add(NoticeRecipient(notice_id=notice.id, citizen_id=citizen,
                                        outbox_id=outbox,
                                        unreachable=None if delivered else "no_channel"))


def test_octobers_numbers(client: StaffClient, fixed: FixedClock) -> None:
    seed_october(client)
    answer = client.get("/api/v1/reports/2026-10", headers=client.as_role("mayor_office"))
    assert answer.status_code == 200, answer.text
    r = answer.json()
    assert r["month"] == "2026-10" and r["complete"] is True
    assert r["first_day"] == "2026-10-01" and r["last_day"] == "2026-10-31"
    reception = r["reception"]
    assert {k: reception[k] for k in ("days_held", "days_closed", "bookings", "attended",
                                      "no_show", "unmarked", "upcoming", "cancelled",
                                      "urgent")} == {
        "days_held": 3, "days_closed": 1, "bookings": 4, "attended": 2, "no_show": 1,
        "unmarked": 1, "upcoming": 0, "cancelled": 1, "urgent": 1}
    assert reception["by_settlement"] == [{"code": "klokot", "count": 2},
                                          {"code": "vrbovac", "count": 2}]
    assert reception["attended_by_settlement"] == [{"code": "klokot", "count": 1},
                                                   {"code": "vrbovac", "count": 1}]
    documents = r["documents"]
    assert {k: v for k, v in documents.items() if k != "refused_reasons"} == {
        "received": 3, "decided": 3, "decided_in_time": 2, "granted": 1,
        "partially_granted": 0, "refused": 1, "forwarded": 1, "withdrawn": 0,
        "extended": 1, "overdue": 1}
    assert documents["refused_reasons"] == [{"reason": "Personal data of third parties",
                                             "count": 1}]
    complaints = r["complaints"]
    assert complaints["received"] == 3
    assert complaints["by_category"] == [{"code": "roads", "count": 1},
                                         {"code": "water", "count": 1},
                                         {"code": "lighting", "count": 1}]
    assert complaints["by_settlement"] == [{"code": "klokot", "count": 2},
                                           {"code": "vrbovac", "count": 1}]
    assert complaints["by_kind"] == [{"code": "complaint", "count": 2},
                                     {"code": "suggestion", "count": 1}]
    assert complaints["resolved"] == 2
    assert complaints["median_days_to_resolve"] == 15.0
    assert complaints["reopened_after_followup"] == 1
    assert r["surveys"]["surveys"] == [{"slug": "park", "title": {"en": "The new park"},
                                        "started": 3, "completed": 2}]
    notices = r["notices"]
    assert notices["sent"] == 1 and notices["recipients"] == 3 and notices["reached"] == 2
    assert notices["by_topic"] == [{"topic": "public_debates", "notices": 1, "recipients": 3,
                                    "reached": 2, "not_reached": 1, "new_subscriptions": 1}]
    assert notices["opt_outs"] == 1
    assert r["chat"] == {
        "citizens": 2, "new_citizens": 2,
        "by_app": [{"code": "telegram", "count": 1}, {"code": "viber", "count": 1}],
        "by_language": [{"code": "sr_Latn", "count": 1}, {"code": "sq", "count": 1}],
        "diaspora": 1, "diaspora_share": 50.0}

    # The page shows the same numbers, with charts drawn on the server.
    sign_in(client, "mayor-office-x")
    page = client.get("/staff/reports/2026-10")
    assert page.status_code == 200, page.text
    no_inline_code(page.text)
    html = page.text
    assert "Monthly report 2026-10" in html and 'id="partial"' not in html
    documents_html = html.split('id="documents-numbers"')[1].split("</dl>")[0]
    assert '<dd data-key="received">3</dd>' in documents_html
    assert '<dd data-key="decided_in_time">2</dd>' in documents_html
    assert "Personal data of third parties" in html
    assert 'id="chart-complaints-category"' in html and 'id="chart-chat-language"' in html
    assert '<dd data-key="diaspora_share">50.0 %</dd>' in html
    assert 'href="/staff/reports/2026-10.xlsx"' in html


def test_the_xlsx_holds_the_same_numbers(client: StaffClient, fixed: FixedClock) -> None:
    seed_october(client)
    answer = client.get("/api/v1/reports/2026-10.xlsx", headers=client.as_role("info_office"))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert 'filename="klokot-report-2026-10.xlsx"' in answer.headers["content-disposition"]
    book = load_workbook(io.BytesIO(answer.content))
    assert book.sheetnames == ["reception", "documents", "complaints", "surveys", "notices",
                               "chat"]

    def values(sheet: str) -> dict[str, Any]:
        return {str(row[0]): row[1] for row in book[sheet].iter_rows(values_only=True)
                if row and row[0] is not None and len(row) > 1}

    assert book["documents"]["A1"].value == "Monthly report 2026-10"
    documents = values("documents")
    assert documents["Requests received"] == 3
    assert documents["Decided in time"] == 2
    assert documents["Deadlines extended"] == 1
    assert documents["Personal data of third parties"] == 1
    reception = values("reception")
    assert reception["Reception days held"] == 3 and reception["Attended"] == 2
    assert reception["Klokot"] == 1  # the last table: attended, by settlement
    complaints = values("complaints")
    assert complaints["Median days to resolve"] == 15.0
    assert complaints["suggestion"] == 1
    chat = values("chat")
    assert chat["Diaspora share"] == 50.0 and chat["Viber"] == 1
    surveys = list(book["surveys"].iter_rows(values_only=True))
    assert surveys[2] == ("park", 3, 2)
    assert [a.action for a in audit_log(client.db, "reports.")] == ["reports.export"]

    sign_in(client, "info-office-x")
    page = client.get("/staff/reports/2026-10.xlsx")
    assert page.status_code == 200
    assert load_workbook(io.BytesIO(page.content))["notices"]["B2"].value == 1


@pytest.mark.parametrize(("month", "status", "code"), [
    ("2026-13", 422, "invalid_month"), ("2026-1", 422, "invalid_month"),
    ("november", 422, "invalid_month"), ("2026-00", 422, "invalid_month"),
    ("99999-01", 422, "invalid_month"),
    ("2026-12", 404, "month_in_future"), ("2031-01", 404, "month_in_future"),
    ("2026-09", 404, "month_before_data"), ("2000-01", 404, "month_before_data"),
])
def test_months_there_is_no_report_of(client: StaffClient, fixed: FixedClock, month: str,
                                      status: int, code: str) -> None:
    make_complaint(client.db, created_at=at(10, 3))
    headers = client.as_role("admin")
    answer = client.get(f"/api/v1/reports/{month}", headers=headers)
    assert answer.status_code == status, answer.text
    # The API's schema has the month's pattern: a malformed one is refused before the route.
    assert answer.json()["code"] == ("validation_error" if status == 422 else code)
    assert client.get(f"/api/v1/reports/{month}.xlsx", headers=headers).status_code == status
    sign_in(client, "admin-x")
    page = client.get(f"/staff/reports/{month}")
    assert page.status_code == status
    expected = {"invalid_month": "write it as YYYY-MM", "month_in_future": "has not begun yet",
                "month_before_data": "holds no data from before"}[code]
    assert expected in page.text


def test_the_month_under_way_is_reported_so_far(client: StaffClient, fixed: FixedClock) -> None:
    make_complaint(client.db, created_at=at(11, 2))
    headers = client.as_role("admin")
    r = client.get("/api/v1/reports/2026-11", headers=headers).json()
    assert r["complete"] is False and r["complaints"]["received"] == 1
    sign_in(client, "admin-x")
    page = client.get("/staff/reports/2026-11").text
    assert 'id="partial"' in page and 'id="next-month"' not in page
    # /staff/reports goes to last month's, the one to print.
    assert client.get("/staff/reports", follow_redirects=False).headers["location"] == \
        "/staff/reports/2026-10"


@pytest.mark.parametrize("role", ["department", "viewer"])
def test_only_the_reporting_roles_read_it(client: StaffClient, fixed: FixedClock,
                                          role: str) -> None:
    make_complaint(client.db, created_at=at(10, 3))
    headers = client.as_role(role, "cadastre_urbanism" if role == "department" else None)
    assert client.get("/api/v1/reports/2026-10", headers=headers).status_code == 403
    assert client.get("/api/v1/reports/2026-10.xlsx", headers=headers).status_code == 403
    dashboard = sign_in(client, f"{role}-{'cadastre-urbanism' if role == 'department' else 'x'}")
    assert 'id="report-link"' not in dashboard
    assert client.get("/staff/reports/2026-10").status_code == 403
