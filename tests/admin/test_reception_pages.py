"""The reception's staff pages as a browser uses them: sign in, see the days
and bookings, act through the forms (with CSRF), print the week."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.models import Booking, BookingStatus, OutboxMessage, ReceptionDay, UrgentStatus
from bot.models.reception import UrgentRequest
from bot.models.staff import AuditEntry
from tests.admin.conftest import StaffClient
from tests.admin.test_pages import csrf_of, sign_in
from tests.admin.test_reception_api import off_pattern, today
from tests.factories import make_booking, make_staff, make_urgent

PAGE = "/staff/reception"
# Bookings made for today are still to come only before the day's slots are
# over: the pages are read at noon in Klokot, whatever the hour the suite runs.
pytestmark = [pytest.mark.clock, pytest.mark.usefixtures("noon")]


def status_of(client: StaffClient, reference: str) -> BookingStatus:
    with client.db.read_session() as session:
        status = session.scalar(select(Booking.status).where(Booking.reference == reference))
        assert status is not None
        return status


def actions(client: StaffClient) -> list[str]:
    with client.db.read_session() as session:
        return list(session.scalars(select(AuditEntry.action).where(
            AuditEntry.action.startswith("reception.")).order_by(AuditEntry.id)))


def no_inline_code(html: str) -> None:
    """The CSP forbids inline script and style: the pages must not need them."""
    assert "<script" not in html and " style=" not in html and "onclick" not in html


def test_the_mayors_office_sees_days_and_bookings_and_marks_attended(
        client: StaffClient) -> None:
    make_staff(client.db, "mayor1", "mayor_office")
    reference = make_booking(client.db, day=today(), slot_index=1, full_name="Arta Krasniqi",
                             phone="+38344111111", topic="Water supply in Vrbovac")
    sign_in(client, "mayor1")
    page = client.get(PAGE)
    assert page.status_code == 200, page.text
    no_inline_code(page.text)
    assert "Mayor&#39;s reception" in page.text or "Mayor's reception" in page.text
    assert f'id="day-{today().isoformat()}"' in page.text
    assert reference in page.text and "Arta Krasniqi" in page.text and "09:20" in page.text
    assert 'name="status" value="attended"' in page.text and 'id="create-day"' in page.text
    csv_link = re.search(r'href="(/api/v1/reception/bookings\.csv\?[^"]+)"', page.text)
    assert csv_link  # the API answers the signed-in browser too (its session cookie)
    export = client.get(csv_link.group(1).replace("&amp;", "&"))
    assert export.status_code == 200 and "Arta Krasniqi" in export.content.decode("utf-8-sig")

    response = client.post(f"{PAGE}/bookings/{reference}/mark",
                           data={"csrf_token": csrf_of(page.text), "status": "attended",
                                 "back": f"{PAGE}?status=booked"})
    assert response.status_code == 200 and response.url.path == PAGE
    assert "done=marked" in str(response.url) and "status=booked" in str(response.url)
    assert "The booking was updated." in response.text
    assert status_of(client, reference) is BookingStatus.attended
    assert "reception.booking.mark" in actions(client)
    assert "reception.list" in actions(client)  # names were shown: recorded

    detail = client.get(f"{PAGE}/bookings/{reference}")
    assert detail.status_code == 200 and "Water supply in Vrbovac" in detail.text
    assert actions(client)[-1] == "reception.view"


def test_forms_without_csrf_change_nothing(client: StaffClient) -> None:
    make_staff(client.db, "mayor2", "mayor_office")
    reference = make_booking(client.db, day=today())
    sign_in(client, "mayor2")
    response = client.post(f"{PAGE}/bookings/{reference}/mark",
                           data={"status": "attended", "csrf_token": "0" * 64})
    assert response.status_code == 403
    assert status_of(client, reference) is BookingStatus.booked


def test_a_viewer_sees_no_buttons_and_no_names(client: StaffClient) -> None:
    make_staff(client.db, "viewer1", "viewer")
    reference = make_booking(client.db, day=today(), full_name="Arta Krasniqi")
    make_urgent(client.db, full_name="Marko Jovanović")
    page = sign_in(client, "viewer1")
    assert 'href="/staff/reception"' in page
    html = client.get(PAGE).text
    assert reference in html and "Arta" not in html and "Marko" not in html
    assert 'name="status" value="attended"' not in html and 'id="create-day"' not in html
    assert "names, phone numbers and topics are not shown" in html
    response = client.post(f"{PAGE}/bookings/{reference}/mark",
                           data={"csrf_token": csrf_of(html), "status": "attended"})
    assert response.status_code == 403 and "<html" in response.text
    assert status_of(client, reference) is BookingStatus.booked
    assert actions(client) == []


def test_a_department_officer_has_no_reception_page(client: StaffClient) -> None:
    make_staff(client.db, "dep1", "department", "agriculture")
    dashboard = sign_in(client, "dep1")
    assert 'href="/staff/reception"' not in dashboard
    assert client.get(PAGE).status_code == 403
    assert client.get(f"{PAGE}/week").status_code == 403


def test_days_urgent_and_cancelling_through_the_forms(client: StaffClient) -> None:
    make_staff(client.db, "mayor3", "mayor_office")
    day = off_pattern(9)
    first = make_booking(client.db, day=day, slot_index=0, language="en")
    second = make_booking(client.db, day=off_pattern(16), slot_index=0, language="en")
    urgent = make_urgent(client.db, topic="The bridge in Grnčar is unsafe")
    sign_in(client, "mayor3")
    html = client.get(PAGE).text
    assert "The bridge in Grnčar is unsafe" in html
    csrf = csrf_of(html)

    new_day = off_pattern(25)
    created = client.post(f"{PAGE}/days", data={"csrf_token": csrf, "day": new_day.isoformat(),
                                                 "start": "11:00", "slots": "4",
                                                 "slot_minutes": "30"})
    assert created.status_code == 200 and "The reception day was added." in created.text
    assert f'id="day-{new_day.isoformat()}"' in created.text and "11:00–13:00" in created.text

    shrink = client.post(f"{PAGE}/days/{day}/change",
                         data={"csrf_token": csrf, "start": "10:00", "slots": "15",
                               "slot_minutes": "20"})
    assert shrink.status_code == 409 and "their times cannot move" in shrink.text

    closed = client.post(f"{PAGE}/days/{day}/close",
                         data={"csrf_token": csrf, "reason": "public holiday"})
    assert closed.status_code == 200 and "have been told" in closed.text
    assert status_of(client, first) is BookingStatus.cancelled
    reopened = client.post(f"{PAGE}/days/{day}/reopen", data={"csrf_token": csrf})
    assert "open again" in reopened.text

    cancelled = client.post(f"{PAGE}/bookings/{second}/mark",
                            data={"csrf_token": csrf, "status": "cancelled",
                                  "message": "Please come to the Assembly hall instead."})
    assert cancelled.status_code == 200
    assert status_of(client, second) is BookingStatus.cancelled
    with client.db.read_session() as session:
        texts = [m.body["text"] for m in session.scalars(select(OutboxMessage))]
    assert any("public holiday" in t for t in texts)
    assert any("Please come to the Assembly hall instead." in t for t in texts)

    handled = client.post(f"{PAGE}/urgent/{urgent}/handled", data={"csrf_token": csrf})
    assert "marked as handled" in handled.text
    with client.db.read_session() as session:
        assert session.scalar(select(UrgentRequest.status)) is UrgentStatus.handled
        assert session.scalar(select(ReceptionDay.slots).where(
            ReceptionDay.day == new_day)) == 4
    assert {"reception.day.create", "reception.day.close", "reception.day.update",
            "reception.booking.mark", "reception.urgent.handled"} <= set(actions(client))


def test_the_officer_makes_and_revokes_a_calendar_link(client: StaffClient) -> None:
    make_staff(client.db, "info1", "info_office")
    make_booking(client.db, day=off_pattern(5))
    sign_in(client, "info1")
    html = client.get(PAGE).text
    made = client.post(f"{PAGE}/calendar", data={"csrf_token": csrf_of(html)})
    assert made.status_code == 200
    match = re.search(r'id="feed-url">http://testserver(/api/v1/reception/calendar/[^<]+\.ics)<',
                      made.text)
    assert match, made.text
    assert client.get(match.group(1)).text.count("BEGIN:VEVENT") == 1
    page = client.get(PAGE).text
    revoke = re.search(r'action="(/staff/reception/calendar/\d+/revoke)"', page)
    assert revoke
    done = client.post(revoke.group(1), data={"csrf_token": csrf_of(page)})
    assert "no longer works" in done.text
    assert client.get(match.group(1)).status_code == 404


def test_the_week_view_prints_cleanly(client: StaffClient) -> None:
    make_staff(client.db, "mayor4", "mayor_office")
    day = off_pattern(3)
    reference = make_booking(client.db, day=day, slot_index=2, full_name="Arta Krasniqi",
                             topic="Water supply in Vrbovac")
    sign_in(client, "mayor4")
    week = client.get(f"{PAGE}/week", params={"start": (day - timedelta(days=1)).isoformat()})
    assert week.status_code == 200
    no_inline_code(week.text)
    assert f'id="week-{day.isoformat()}"' in week.text
    assert reference in week.text and "09:40" in week.text and "Arta Krasniqi" in week.text
    assert "free" in week.text and 'class="subnav no-print"' in week.text
    assert "<form" in week.text  # only the page header's (hidden in print)
    assert "button" not in week.text.split("<main>")[1]
    css = client.get("/static/staff.css").text
    assert "@media print" in css and ".top" in css.split("@media print")[1]
    assert client.get(f"{PAGE}/week", params={"start": "someday"}).status_code == 422
    assert client.get(f"{PAGE}/week").status_code == 200  # this week, from Monday
