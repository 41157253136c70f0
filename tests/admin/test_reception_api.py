"""The staff side of the mayor's reception through the admin API: days,
bookings, urgent requests, the CSV export and the iCalendar feed — each
action with its audit entry, and who may do what."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from icalendar import Calendar
from sqlalchemy import func, select

from bot.db import utcnow
from bot.i18n import Catalogs
from bot.models import Booking, BookingStatus, OutboxMessage, ReceptionDay, UrgentRequest
from bot.models.staff import AuditEntry
from bot.profile import get_profile
from bot.services import reception as service
from tests.admin.conftest import StaffClient
from tests.factories import make_booking, make_day, make_urgent, nth_day_off_pattern

API = "/api/v1/reception"
PROFILE = get_profile()
# A schema-valid day can still break a rule the schema cannot state (a date in
# the past, a day running past midnight): that is a 422 naming the rule; so
# can a booking for a citizen (a number that is not one, a blank topic).
RULE_BODIES = {f"POST {API}/days", f"PATCH {API}/days/{{day}}", f"POST {API}/bookings"}
RULE_CODES = {"day_in_past", "day_too_far", "day_too_long", "invalid_slots",
              "invalid_phone", "invalid_topic"}


# Days in the past or too far, today's slots: run again at night by `make test-night`.
pytestmark = pytest.mark.clock


def rules_are_named(ctx: Any, response: Any, case: Any) -> bool | None:
    """A schemathesis check: a 422 to a schema-valid reception day is one of its rules."""
    if response.status_code == 422:
        assert json.loads(response.content)["code"] in RULE_CODES, response.text
    return None


def today() -> date:
    return service.today(PROFILE, utcnow())


def off_pattern(days_ahead: int) -> date:
    """The `days_ahead`-th day from today that is not the weekly pattern's (so
    no day exists there yet), counting only such days: distinct numbers are
    distinct days on any date (the eighth and ninth were one day in a week
    where the eighth is the pattern's, and a test failed on 8 December)."""
    return nth_day_off_pattern(today(), days_ahead, PROFILE.reception.weekday)


def audit_entries(client: StaffClient, prefix: str = "reception.") -> list[AuditEntry]:
    with client.db.read_session() as session:
        return list(session.scalars(select(AuditEntry).where(
            AuditEntry.action.startswith(prefix)).order_by(AuditEntry.id)))


def booking_row(client: StaffClient, reference: str) -> Booking:
    with client.db.read_session() as session:
        found = session.scalar(select(Booking).where(Booking.reference == reference))
        assert found is not None
        return found


def outbox(client: StaffClient) -> list[OutboxMessage]:
    with client.db.read_session() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code and response.json()["detail"]


# --- days ---------------------------------------------------------------------------

def test_create_list_change_and_see_a_day(client: StaffClient) -> None:
    headers = client.as_role("mayor_office")
    day = off_pattern(10)
    created = client.post(f"{API}/days", headers=headers,
                          json={"day": day.isoformat(), "start": "10:00", "slots": 6})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body == {"day": day.isoformat(), "start": "10:00", "end": "12:00", "slots": 6,
                    "slot_minutes": 20, "closed": False, "closed_reason": None, "booked": 0,
                    "free": 6}
    listed = client.get(f"{API}/days", headers=headers,
                        params={"date_from": day.isoformat(), "date_to": day.isoformat()})
    assert listed.json()["total"] == 1 and listed.json()["items"][0]["start"] == "10:00"
    # the weekly pattern's days are there too, made as the bot's timer would
    pattern = client.get(f"{API}/days", headers=headers,
                         params={"date_from": today().isoformat()}).json()["items"]
    assert any(date.fromisoformat(d["day"]).weekday() == PROFILE.reception.weekday
               for d in pattern)

    changed = client.patch(f"{API}/days/{day}", headers=headers, json={"slots": 9})
    assert changed.status_code == 200 and changed.json()["end"] == "13:00"
    detail = client.get(f"{API}/days/{day}", headers=headers).json()
    assert [s["time"] for s in detail["schedule"]][:3] == ["10:00", "10:20", "10:40"]
    assert len(detail["schedule"]) == 9

    create, update = audit_entries(client)
    assert create.action == "reception.day.create" and create.object_id == day.isoformat()
    assert create.after and create.after["slots"] == 6 and create.username == "mayor-office-x"
    assert update.action == "reception.day.update"
    assert update.before and update.before["slots"] == 6
    assert update.after and update.after["slots"] == 9


@pytest.mark.parametrize(
    ("body", "code"),
    [({"day": "2020-01-01"}, "day_in_past"),
     ({"day": "2099-01-01"}, "day_too_far"),
     ({"start": "23:00", "slots": 15, "slot_minutes": 20}, "day_too_long")],
)
def test_impossible_days_are_refused_and_nothing_is_saved(client: StaffClient,
                                                        body: dict[str, Any],
                                                        code: str) -> None:
    headers = client.as_role("admin")
    response = client.post(f"{API}/days", headers=headers,
                           json={"day": off_pattern(3).isoformat(), **body})
    problem(response, 422, code)
    with client.db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(ReceptionDay)) == 0
    assert audit_entries(client) == []


def test_a_day_cannot_be_made_twice_and_bad_input_is_422(client: StaffClient) -> None:
    headers = client.as_role("admin")
    day = off_pattern(5).isoformat()
    assert client.post(f"{API}/days", headers=headers, json={"day": day}).status_code == 201
    problem(client.post(f"{API}/days", headers=headers, json={"day": day}), 409, "day_exists")
    for bad in ({"day": day, "start": "25:00"}, {"day": day, "slots": 0},
                {"day": "tomorrow"}, {"day": day, "slot_minutes": 1000}):
        problem(client.post(f"{API}/days", headers=headers, json=bad), 422, "validation_error")
    problem(client.get(f"{API}/days/2031-02-30", headers=headers), 422, "validation_error")
    problem(client.get(f"{API}/days/{off_pattern(40)}", headers=headers), 404, "not_found")


def test_shrinking_a_day_below_its_bookings_is_409_and_changes_nothing(
        client: StaffClient) -> None:
    headers = client.as_role("mayor_office")
    day = off_pattern(8)
    make_day(client.db, day=day, slots=15)
    make_booking(client.db, day=day, slot_index=0)
    last = make_booking(client.db, day=day, slot_index=9)
    problem(client.patch(f"{API}/days/{day}", headers=headers, json={"slots": 9}), 409,
            "day_below_bookings")
    problem(client.patch(f"{API}/days/{day}", headers=headers, json={"start": "10:00"}), 409,
            "day_has_bookings")
    problem(client.patch(f"{API}/days/{day}", headers=headers, json={"slot_minutes": 30}),
            409, "day_has_bookings")
    with client.db.read_session() as session:
        row = session.scalar(select(ReceptionDay).where(ReceptionDay.day == day))
        assert row is not None and (row.slots, row.start.hour, row.slot_minutes) == (15, 9, 20)
    assert booking_row(client, last).status is BookingStatus.booked
    assert audit_entries(client) == []
    ok = client.patch(f"{API}/days/{day}", headers=headers, json={"slots": 10})
    assert ok.status_code == 200 and ok.json()["booked"] == 2


def test_closing_a_day_cancels_its_bookings_and_tells_each_citizen(
        client: StaffClient) -> None:
    headers = client.as_role("mayor_office")
    day = off_pattern(12)
    in_albanian = make_booking(client.db, day=day, slot_index=0, language="sq")
    in_cyrillic = make_booking(client.db, day=day, slot_index=1, language="sr_Cyrl")
    closed = client.post(f"{API}/days/{day}/close", headers=headers,
                         json={"reason": "the mayor is in Pristina"})
    assert closed.status_code == 200, closed.text
    assert closed.json()["closed"] is True and closed.json()["free"] == 0
    assert sorted(closed.json()["cancelled"]) == sorted([in_albanian, in_cyrillic])

    catalogs = Catalogs()
    messages = outbox(client)
    assert len(messages) == 2
    for reference, locale, message in zip((in_albanian, in_cyrillic), ("sq", "sr_Cyrl"),
                                          messages, strict=True):
        booking = booking_row(client, reference)
        assert booking.status is BookingStatus.cancelled and booking.cancelled_by == "closed"
        when_day, when_time = service.when(PROFILE, booking, locale)
        expected = catalogs.gettext(locale, "reception.day_closed_notice",
                                    reference=reference, day=when_day, time=when_time,
                                    place=PROFILE.reception.place_in(locale),
                                    reason="the mayor is in Pristina")
        assert message.body["text"] == expected
        assert message.account_id is not None and message.status.value == "queued"
        assert message.body["buttons"][0][0]["payload"] == "menu:reception"

    (entry,) = audit_entries(client)
    assert entry.action == "reception.day.close"
    assert entry.before and entry.before["closed"] is False
    assert entry.after and sorted(entry.after["cancelled"]) == sorted([in_albanian,
                                                                       in_cyrillic])
    problem(client.post(f"{API}/days/{day}/close", headers=headers, json={"reason": "again"}),
            409, "day_closed")

    reopened = client.post(f"{API}/days/{day}/reopen", headers=headers)
    assert reopened.status_code == 200 and reopened.json()["free"] == 15
    assert audit_entries(client)[-1].action == "reception.day.update"
    problem(client.post(f"{API}/days/{day}/reopen", headers=headers), 409, "day_open")
    assert booking_row(client, in_albanian).status is BookingStatus.cancelled


def test_past_days_cannot_be_changed(client: StaffClient) -> None:
    headers = client.as_role("admin")
    past = today() - timedelta(days=3)
    make_day(client.db, day=past)
    problem(client.patch(f"{API}/days/{past}", headers=headers, json={"slots": 3}), 409,
            "day_in_past")
    problem(client.post(f"{API}/days/{past}/close", headers=headers, json={"reason": "x"}),
            409, "day_in_past")


# --- bookings -------------------------------------------------------------------------

def test_marking_attended_and_no_show(client: StaffClient) -> None:
    headers = client.as_role("mayor_office")
    todays = make_booking(client.db, day=today(), slot_index=2)
    later = make_booking(client.db, day=off_pattern(6), slot_index=0)
    marked = client.post(f"{API}/bookings/{todays}/mark", headers=headers,
                         json={"status": "attended"})
    assert marked.status_code == 200, marked.text
    assert marked.json()["status"] == "attended" and marked.json()["marked_by"] == "mayor-office-x"
    corrected = client.post(f"{API}/bookings/{todays}/mark", headers=headers,
                            json={"status": "no_show"})
    assert corrected.json()["status"] == "no_show"
    problem(client.post(f"{API}/bookings/{todays}/mark", headers=headers,
                        json={"status": "no_show"}), 409, "unchanged")
    problem(client.post(f"{API}/bookings/{later}/mark", headers=headers,
                        json={"status": "attended"}), 409, "booking_in_future")
    problem(client.post(f"{API}/bookings/{todays}/mark", headers=headers,
                        json={"status": "booked"}), 422, "validation_error")
    assert booking_row(client, later).status is BookingStatus.booked
    gone_by = make_booking(client.db, day=today() - timedelta(days=2))
    problem(client.post(f"{API}/bookings/{gone_by}/mark", headers=headers,
                        json={"status": "cancelled", "message": "too late"}), 409,
            "booking_started")
    assert outbox(client) == []
    first, second = audit_entries(client)
    assert (first.action, first.object_id) == ("reception.booking.mark", todays)
    assert first.before == {"status": "booked"} and first.after == {"status": "attended"}
    assert second.before == {"status": "attended"} and second.after == {"status": "no_show"}
    assert outbox(client) == []  # marking tells the citizen nothing


def test_cancelling_one_booking_tells_the_citizen_the_officers_message(
        client: StaffClient) -> None:
    headers = client.as_role("admin")
    reference = make_booking(client.db, day=off_pattern(9), language="en")
    text = "The mayor has to attend the Assembly. Please choose another Wednesday."
    response = client.post(f"{API}/bookings/{reference}/mark", headers=headers,
                           json={"status": "cancelled", "message": text})
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    booking = booking_row(client, reference)
    assert booking.cancelled_by == "staff" and booking.cancel_reason == text
    (message,) = outbox(client)
    assert text in message.body["text"] and reference in message.body["text"]
    assert "cancelled by the Office of the Mayor" in message.body["text"]
    assert message.body["buttons"][0][0]["payload"] == "menu:reception"
    (entry,) = audit_entries(client)
    assert entry.after == {"status": "cancelled", "message": text}
    problem(client.post(f"{API}/bookings/{reference}/mark", headers=headers,
                        json={"status": "cancelled"}), 409, "unchanged")
    problem(client.post(f"{API}/bookings/{reference}/mark", headers=headers,
                        json={"status": "attended"}), 409, "booking_cancelled")
    assert len(outbox(client)) == 1


def test_bookings_filters_paging_and_detail(client: StaffClient) -> None:
    headers = client.as_role("viewer")
    early, late = off_pattern(4), off_pattern(20)
    a = make_booking(client.db, day=early, slot_index=0, settlement="vrbovac")
    b = make_booking(client.db, day=early, slot_index=1, settlement="abroad")
    c = make_booking(client.db, day=late, slot_index=0, settlement="vrbovac")
    admin = client.as_role("admin")
    client.post(f"{API}/bookings/{b}/mark", headers=admin, json={"status": "cancelled"})

    def refs(**params: Any) -> list[str]:
        response = client.get(f"{API}/bookings", headers=headers, params=params)
        assert response.status_code == 200, response.text
        return [item["reference"] for item in response.json()["items"]]

    assert refs() == [a, b, c]
    assert refs(settlement="vrbovac") == [a, c]
    assert refs(status="cancelled") == [b]
    assert refs(date_from=late.isoformat()) == [c]
    assert refs(date_to=early.isoformat(), status="booked") == [a]
    assert refs(sort="-starts_at") == [c, b, a]
    page = client.get(f"{API}/bookings", headers=headers, params={"limit": 2, "offset": 2})
    assert page.json()["total"] == 3 and [i["reference"] for i in page.json()["items"]] == [c]
    problem(client.get(f"{API}/bookings", headers=headers, params={"settlement": "belgrade"}),
            422, "invalid_filter")
    problem(client.get(f"{API}/bookings", headers=headers, params={"status": "lost"}), 422,
            "validation_error")
    one = client.get(f"{API}/bookings/{a}", headers=headers).json()
    assert one["day"] == early.isoformat() and one["time"] == "09:00"
    problem(client.get(f"{API}/bookings/R-2031-9999", headers=headers), 404, "not_found")
    problem(client.get(f"{API}/bookings/X-1", headers=headers), 422, "validation_error")


@pytest.mark.parametrize("role", ["admin", "mayor_office", "info_office"])
def test_roles_with_personal_data_see_it_and_it_is_audited(client: StaffClient,
                                                          role: str) -> None:
    reference = make_booking(client.db, day=off_pattern(5), full_name="Arta Krasniqi",
                             phone="+38344111111", topic="Water supply in Vrbovac")
    headers = client.as_role(role)
    (item,) = client.get(f"{API}/bookings", headers=headers).json()["items"]
    assert (item["full_name"], item["phone"], item["topic"]) == (
        "Arta Krasniqi", "+38344111111", "Water supply in Vrbovac")
    assert client.get(f"{API}/bookings/{reference}", headers=headers).json()["phone"]
    listed, viewed = audit_entries(client)
    assert listed.action == "reception.list" and reference in (listed.item_references or [])
    assert viewed.action == "reception.view" and viewed.object_id == reference


def test_a_viewer_never_sees_names_phones_or_topics(client: StaffClient) -> None:
    reference = make_booking(client.db, day=off_pattern(5), full_name="Arta Krasniqi",
                             phone="+38344111111", topic="Water supply in Vrbovac")
    make_urgent(client.db, full_name="Marko Jovanović", topic="Burst pipe in Mogila")
    headers = client.as_role("viewer")
    for path in ("/bookings", f"/bookings/{reference}", "/urgent"):
        text = client.get(f"{API}{path}", headers=headers).text
        for secret in ("Arta", "+38344111111", "Water supply", "Marko", "Burst pipe"):
            assert secret not in text, (path, secret)
    assert audit_entries(client) == []


@pytest.mark.parametrize("role", ["viewer", "info_office"])
def test_read_only_roles_cannot_change_anything(client: StaffClient, role: str) -> None:
    day = off_pattern(7)
    reference = make_booking(client.db, day=day)
    urgent = make_urgent(client.db)
    headers = client.as_role(role)
    assert client.get(f"{API}/days", headers=headers).status_code == 200
    assert client.get(f"{API}/bookings", headers=headers).status_code == 200
    attempts = [
        client.post(f"{API}/days", headers=headers, json={"day": off_pattern(30).isoformat()}),
        client.patch(f"{API}/days/{day}", headers=headers, json={"slots": 20}),
        client.post(f"{API}/days/{day}/close", headers=headers, json={"reason": "no"}),
        client.post(f"{API}/days/{day}/reopen", headers=headers),
        client.post(f"{API}/bookings/{reference}/mark", headers=headers,
                    json={"status": "cancelled"}),
        client.post(f"{API}/urgent/{urgent}/handled", headers=headers),
    ]
    for response in attempts:
        problem(response, 403, "forbidden")
    assert booking_row(client, reference).status is BookingStatus.booked
    with client.db.read_session() as session:
        row = session.scalar(select(ReceptionDay).where(ReceptionDay.day == day))
        assert row is not None and not row.closed and row.slots == 15
    assert [e.action for e in audit_entries(client)
            if e.action != "reception.list"] == []
    assert outbox(client) == []


def test_a_department_officer_cannot_even_read(client: StaffClient) -> None:
    headers = client.as_role("department", "agriculture")
    for path in ("/days", "/bookings", "/bookings.csv", "/urgent", "/calendar-feeds"):
        problem(client.get(f"{API}{path}", headers=headers), 403, "forbidden")
    problem(client.post(f"{API}/calendar-feeds", headers=headers), 403, "forbidden")
    assert client.get(f"{API}/days").status_code == 401


# --- urgent requests ----------------------------------------------------------------

def test_urgent_requests_and_marking_one_handled(client: StaffClient) -> None:
    reference = make_urgent(client.db)
    headers = client.as_role("mayor_office")
    waiting = client.get(f"{API}/urgent", headers=headers, params={"status": "open"}).json()
    assert [u["reference"] for u in waiting["items"]] == [reference]
    assert waiting["items"][0]["phone"] == "+38344999888"
    done = client.post(f"{API}/urgent/{reference}/handled", headers=headers)
    assert done.status_code == 200 and done.json()["status"] == "handled"
    assert done.json()["handled_by"] == "mayor-office-x"
    problem(client.post(f"{API}/urgent/{reference}/handled", headers=headers), 409,
            "already_handled")
    assert client.get(f"{API}/urgent", headers=headers,
                      params={"status": "open"}).json()["total"] == 0
    with client.db.read_session() as session:
        request = session.scalar(select(UrgentRequest))
        assert request is not None and request.handled_at is not None
    handled = [e for e in audit_entries(client) if e.action == "reception.urgent.handled"]
    assert len(handled) == 1 and handled[0].object_id == reference
    assert handled[0].after == {"status": "handled"}
    problem(client.post(f"{API}/urgent/R-2031-0404/handled", headers=headers), 404,
            "not_found")


# --- CSV ------------------------------------------------------------------------------

def test_csv_export_is_excel_safe_and_hides_personal_columns(client: StaffClient) -> None:
    make_booking(client.db, day=off_pattern(4), full_name="@Arta Krasniqi",
                 phone="+38344111111", topic="=HYPERLINK(\"http://evil\",\"click\")")
    admin = client.get(f"{API}/bookings.csv", headers=client.as_role("admin"))
    assert admin.status_code == 200
    assert admin.headers["content-type"].startswith("text/csv")
    assert "attachment" in admin.headers["content-disposition"]
    assert admin.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(admin.content.decode("utf-8-sig"))))
    (row,) = rows
    assert row["full_name"] == "'@Arta Krasniqi" and row["phone"] == "'+38344111111"
    assert row["topic"].startswith("'=HYPERLINK") and row["settlement"] == "klokot"
    assert row["time"] == "09:00" and row["status"] == "booked"

    viewer = client.get(f"{API}/bookings.csv", headers=client.as_role("viewer"),
                        params={"settlement": "klokot"})
    text = viewer.content.decode("utf-8-sig")
    header = text.splitlines()[0].split(",")
    assert "full_name" not in header and "phone" not in header and "topic" not in header
    assert "Arta" not in text and "38344111111" not in text and "HYPERLINK" not in text
    assert len(text.splitlines()) == 2
    exports = [e for e in audit_entries(client) if e.action == "reception.export"]
    assert [e.username for e in exports] == ["admin-x", "viewer-x"]
    assert "personal=no" in (exports[1].detail or "")


# --- iCalendar ------------------------------------------------------------------------

def events(client: StaffClient, url: str) -> list[Any]:
    response = client.get(url.replace("http://testserver", ""))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    assert str(calendar["X-WR-TIMEZONE"]) == "Europe/Belgrade"
    return list(calendar.walk("VEVENT"))


def test_calendar_feed_has_the_bookings_in_utc_without_personal_data(
        client: StaffClient) -> None:
    winter = date(today().year + 1, 1, 13)
    summer = date(today().year + 1, 7, 14)
    in_winter = make_booking(client.db, day=winter, slot_index=0, full_name="Arta Krasniqi",
                             topic="Water supply in Vrbovac", settlement="vrbovac")
    in_summer = make_booking(client.db, day=summer, slot_index=0)
    gone = make_booking(client.db, day=summer, slot_index=1)
    headers = client.as_role("mayor_office")
    client.post(f"{API}/bookings/{gone}/mark", headers=headers, json={"status": "cancelled"})

    created = client.post(f"{API}/calendar-feeds", headers=headers)
    assert created.status_code == 201, created.text
    url = created.json()["url"]
    assert url.startswith("http://testserver/api/v1/reception/calendar/") and url.endswith(".ics")
    found = {str(e["UID"]).split("@")[0]: e for e in events(client, url)}
    assert set(found) == {in_winter, in_summer}
    # 09:00 in Belgrade is 08:00 UTC in winter (CET) and 07:00 UTC in summer (CEST)
    assert found[in_winter].decoded("DTSTART") == datetime(winter.year, 1, 13, 8, 0, tzinfo=UTC)
    assert found[in_summer].decoded("DTSTART") == datetime(summer.year, 7, 14, 7, 0, tzinfo=UTC)
    assert found[in_winter].decoded("DTEND") - found[in_winter].decoded("DTSTART") == (
        timedelta(minutes=20))
    assert in_winter in str(found[in_winter]["SUMMARY"])
    assert "Vrbovac" in str(found[in_winter]["SUMMARY"])
    everything = client.get(url.replace("http://testserver", "")).text
    assert "Arta" not in everything and "Water supply" not in everything
    with client.db.read_session() as session:
        booking = session.scalar(select(Booking).where(Booking.reference == in_summer))
        assert booking is not None
        assert found[in_summer].decoded("DTSTART") == booking.starts_at
    actions = [e.action for e in audit_entries(client)]
    assert "reception.calendar.create" in actions and "reception.export" not in actions


def test_calendar_feed_names_and_topics_only_when_the_profile_allows(
        client: StaffClient) -> None:
    make_booking(client.db, day=off_pattern(6), full_name="Arta Krasniqi",
                 topic="Water supply in Vrbovac")
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    runtime.profile = dataclasses.replace(
        runtime.profile,
        reception=dataclasses.replace(runtime.profile.reception, calendar_personal=True))
    mayor = client.post(f"{API}/calendar-feeds", headers=client.as_role("mayor_office"))
    viewer = client.post(f"{API}/calendar-feeds", headers=client.as_role("viewer"))
    (event,) = events(client, mayor.json()["url"])
    assert "Arta Krasniqi" in str(event["SUMMARY"])
    assert "Water supply in Vrbovac" in str(event["DESCRIPTION"])
    (plain,) = events(client, viewer.json()["url"])  # a viewer may not see personal data
    assert "Arta" not in plain.to_ical().decode() and "DESCRIPTION" in plain
    exports = [e for e in audit_entries(client) if e.action == "reception.export"]
    assert len(exports) == 1 and "calendar feed" in (exports[0].detail or "")


def test_revoked_or_unknown_feed_tokens_find_nothing(client: StaffClient) -> None:
    headers = client.as_role("mayor_office")
    feed = client.post(f"{API}/calendar-feeds", headers=headers).json()
    path = feed["url"].replace("http://testserver", "")
    assert client.get(path).status_code == 200
    assert [f["id"] for f in client.get(f"{API}/calendar-feeds", headers=headers).json()] == [
        feed["id"]]
    other = client.as_role("admin")
    problem(client.delete(f"{API}/calendar-feeds/{feed['id']}", headers=other), 404,
            "not_found")  # not theirs
    assert client.delete(f"{API}/calendar-feeds/{feed['id']}", headers=headers
                         ).status_code == 204
    problem(client.get(path), 404, "not_found")
    problem(client.get(f"{API}/calendar/{'x' * 43}.ics"), 404, "not_found")
    problem(client.delete(f"{API}/calendar-feeds/{feed['id']}", headers=headers), 404,
            "not_found")
    assert client.get(f"{API}/calendar-feeds", headers=headers).json() == []
    actions = [e.action for e in audit_entries(client, "reception.calendar")]
    assert actions == ["reception.calendar.create", "reception.calendar.revoke"]
    with client.db.read_session() as session:
        from bot.models import CalendarFeed

        stored = session.scalar(select(CalendarFeed))
        assert stored is not None and len(stored.token_hash) == 64
        assert stored.token_hash not in path  # only the hash is kept


def test_a_disabled_officers_feed_stops_working(client: StaffClient) -> None:
    headers = client.as_role("mayor_office", username="leaving")
    path = client.post(f"{API}/calendar-feeds", headers=headers).json()["url"].replace(
        "http://testserver", "")
    from bot.staff import accounts

    with client.db.session() as session:
        staff = accounts.find(session, "leaving")
        assert staff is not None
        accounts.disable(session, staff)
    problem(client.get(path), 404, "not_found")
