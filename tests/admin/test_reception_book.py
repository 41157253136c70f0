"""Staff book for a citizen at the counter or on the phone (issue #19):
`POST /api/v1/reception/bookings` and the "Book for a citizen" form of
/staff/reception — who may, what is answered (201, 409 with a stable code,
422 naming the field, never a 500), the audit entry, what the booking's page
says about who booked and how the citizen is told, and a refused form shown
again as it was typed, with nothing left behind."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.db import utcnow
from bot.models import Booking, Citizen, OutboxMessage
from bot.models.sms import SmsConsentSource
from bot.services import sms as sms_service
from tests.admin.conftest import StaffClient
from tests.admin.test_pages import csrf_of, sign_in
from tests.admin.test_reception_api import audit_entries, off_pattern, today
from tests.factories import make_booking, make_citizen, make_day, make_staff

API = "/api/v1/reception/bookings"
PAGE = "/staff/reception"
NUMBER = "+38344123456"
pytestmark = [pytest.mark.clock, pytest.mark.usefixtures("noon")]


def register_sms(client: StaffClient, language: str = "en") -> int:
    with client.db.session() as session:
        return sms_service.register(
            session, phone="044 123 456", settlement="mogila", language=language,
            topics=["public_debates"], source=SmsConsentSource.counter, officer="desk1",
            now=utcnow()).id


def body(**changes: object) -> dict[str, object]:
    day = off_pattern(8)
    return {"day": day.isoformat(), "slot_index": 2, "phone": "044 123 456",
            "full_name": "Dragica Stojanović", "topic": "The road to Mogila",
            "settlement": "mogila", "language": "sr_Latn", "source": "counter", **changes}


def problem(response: object, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    found: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert found["code"] == code and found["detail"], found
    return found


def citizens(client: StaffClient) -> int:
    with client.db.read_session() as session:
        return int(session.scalar(select(func.count()).select_from(Citizen)) or 0)


# --- the API -------------------------------------------------------------------------

def test_the_mayor_s_office_books_for_an_sms_citizen_and_it_is_audited(
        client: StaffClient) -> None:
    citizen_id = register_sms(client)
    make_day(client.db, day=off_pattern(8))
    headers = client.as_role("mayor_office", username="mayor1")
    made = client.post(API, headers=headers, json=body(source="phone"))
    assert made.status_code == 201, made.text
    out = made.json()
    assert out["status"] == "booked" and out["slot_index"] == 2
    assert (out["booked_by"], out["booked_via"]) == ("mayor1", "phone")
    assert out["phone"] == NUMBER and out["topic"] == "The road to Mogila"
    assert out["citizen_erased"] is False
    with client.db.read_session() as session:
        booking = session.scalars(select(Booking)).one()
        assert booking.citizen_id == citizen_id
        [row] = session.scalars(select(OutboxMessage)).all()
        assert row.channel == "sms" and out["reference"] in row.body["text"]
        assert row.body["text"].startswith("Municipality of Klokot: your appointment")
    [entry] = audit_entries(client, "reception.booking.create")
    assert entry.object_id == out["reference"]
    assert entry.after == {"reference": out["reference"], "day": out["day"],
                           "time": out["time"], "source": "phone", "told": "sms"}
    # The booking reads back in the same shape.
    assert client.get(f"{API}/{out['reference']}", headers=headers).json() == out


@pytest.mark.parametrize("role", ["info_office", "viewer", "department"])
def test_only_who_writes_the_reception_may_book(client: StaffClient, role: str) -> None:
    make_day(client.db, day=off_pattern(8))
    headers = client.as_role(role, "agriculture" if role == "department" else None)
    assert client.post(API, headers=headers, json=body()).status_code == 403
    assert citizens(client) == 0


def test_refusals_are_409_and_422_and_leave_nothing_behind(client: StaffClient) -> None:
    day = off_pattern(8)
    make_day(client.db, day=day)
    # Days after it, never the same one: off_pattern(8) is off_pattern(9) in a
    # week where the eighth day is the pattern's (this failed on 8 December).
    closed = off_pattern((day - today()).days + 1)
    no_day = off_pattern((closed - today()).days + 1)
    make_day(client.db, day=closed, closed=True, closed_reason="Holiday")
    held = make_booking(client.db, day=day, slot_index=4, phone="+38344999000")
    headers = client.as_role("admin")
    before = citizens(client)
    problem(client.post(API, headers=headers, json=body(phone="049 111 222", slot_index=4)),
            409, "slot_taken")
    problem(client.post(API, headers=headers, json=body(day=closed.isoformat())), 409,
            "day_unavailable")
    problem(client.post(API, headers=headers,
                        json=body(day=no_day.isoformat())), 409, "day_unavailable")
    problem(client.post(API, headers=headers, json=body(slot_index=40)), 409,
            "day_unavailable")
    already = problem(client.post(API, headers=headers,
                                  json=body(phone="+38344999000", slot_index=5)),
                      409, "already_booked")
    assert already["reference"] == held
    for changes, code, field in (({"phone": "12345"}, "invalid_phone", "phone"),
                                 ({"settlement": "paris"}, "unknown_settlement", "settlement"),
                                 ({"language": "de"}, "unknown_language", "language"),
                                 ({"topic": "   "}, "invalid_topic", "topic")):
        found = problem(client.post(API, headers=headers, json=body(**changes)), 422, code)
        assert found["errors"][0]["loc"] == ["body", field]  # type: ignore[index]
    for wrong in ({"source": "email"}, {"slot_index": -1}, {"extra": 1}, {"day": "2026-13-01"}):
        problem(client.post(API, headers=headers, json=body(**wrong)), 422,
                "validation_error")
    assert citizens(client) == before
    with client.db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(Booking)) == 1


def test_a_chat_citizen_is_found_by_the_phone_they_gave(client: StaffClient) -> None:
    citizen_id = make_citizen(client.db, channel="telegram", external_id="t1", language="sq",
                              phone=NUMBER)
    make_day(client.db, day=off_pattern(8))
    headers = client.as_role("mayor_office")
    made = client.post(API, headers=headers, json=body(phone="+383 44 123 456"))
    assert made.status_code == 201, made.text
    with client.db.read_session() as session:
        assert session.scalars(select(Booking.citizen_id)).one() == citizen_id
        [row] = session.scalars(select(OutboxMessage)).all()
        assert row.channel == "telegram" and row.body["text"].startswith("Termini juaj u caktua")
    [entry] = audit_entries(client, "reception.booking.create")
    assert entry.after is not None and entry.after["told"] == "chat"


# --- the page ------------------------------------------------------------------------

def test_the_form_books_and_opens_the_booking_page(client: StaffClient) -> None:
    register_sms(client)
    day = off_pattern(8)
    make_day(client.db, day=day)
    make_booking(client.db, day=day, slot_index=0, phone="+38344999000")
    make_staff(client.db, "mayor1", "mayor_office")
    sign_in(client, "mayor1")
    page = client.get(PAGE)
    assert page.status_code == 200 and 'id="book-for-citizen"' in page.text
    assert f'value="{day.isoformat()}/1"' in page.text
    assert f'value="{day.isoformat()}/0"' not in page.text  # held
    made = client.post(f"{PAGE}/bookings", data={
        "csrf_token": csrf_of(page.text), "slot": f"{day.isoformat()}/1",
        "phone": "044 123 456", "full_name": "Dragica Stojanović", "settlement": "mogila",
        "language": "", "topic": "The road to Mogila", "source": "counter"})
    assert made.status_code == 200, made.text
    assert "/staff/reception/bookings/R-" in str(made.url) and "done=booked" in str(made.url)
    assert "The appointment is booked." in made.text
    assert "Booked by" in made.text and "mayor1 (at the counter)" in made.text
    assert f"the reminder the day before goes to {NUMBER}" in made.text
    with client.db.read_session() as session:
        booking = session.scalar(select(Booking).where(Booking.booked_by == "mayor1"))
        assert booking is not None and booking.slot_index == 1


def test_readers_see_no_form(client: StaffClient) -> None:
    make_staff(client.db, "info1", "info_office")
    sign_in(client, "info1")
    page = client.get(PAGE)
    assert page.status_code == 200 and 'id="book-for-citizen"' not in page.text
    assert client.post(f"{PAGE}/bookings", data={
        "csrf_token": csrf_of(page.text), "slot": f"{off_pattern(8).isoformat()}/1",
        "phone": "044 123 456", "topic": "x", "source": "counter"}).status_code == 403


def test_a_refused_form_is_shown_again_as_typed(client: StaffClient) -> None:
    day = off_pattern(8)
    make_day(client.db, day=day)
    held = make_booking(client.db, day=day, slot_index=4, phone="+38344999000")
    make_staff(client.db, "mayor1", "mayor_office")
    sign_in(client, "mayor1")
    csrf = csrf_of(client.get(PAGE).text)
    before = citizens(client)

    def post(**changes: str) -> object:
        data = {"csrf_token": csrf, "slot": f"{day.isoformat()}/2", "phone": "044 123 456",
                "full_name": "Nada Ilić", "settlement": "klokot", "language": "sr_Latn",
                "topic": "Voda u Klokotu", "source": "phone", **changes}
        return client.post(f"{PAGE}/bookings", data=data)

    wrong = post(phone="12")
    assert wrong.status_code == 422  # type: ignore[attr-defined]
    html = wrong.text  # type: ignore[attr-defined]
    assert 'id="book-error"' in html and "This is not a phone number." in html
    assert 'value="12"' in html and "Nada Ilić" in html and "Voda u Klokotu" in html
    assert f'value="{day.isoformat()}/2" selected' in html
    assert 'value="phone" checked' in html and 'value="klokot" selected' in html
    taken = post(phone="049 111 222", slot=f"{day.isoformat()}/4")
    assert taken.status_code == 409  # type: ignore[attr-defined]
    assert "That time was taken just now" in taken.text  # type: ignore[attr-defined]
    already = post(phone="+38344999000")
    assert already.status_code == 409  # type: ignore[attr-defined]
    assert f"already has an upcoming appointment, {held}" in already.text  # type: ignore[attr-defined]
    nonsense = post(slot="tomorrow")
    assert nonsense.status_code == 422  # type: ignore[attr-defined]
    assert "Choose a free slot from the list." in nonsense.text  # type: ignore[attr-defined]
    assert citizens(client) == before  # the refused new number made nobody


def test_a_citizen_with_no_channel_is_told_by_nobody_and_the_page_says_so(
        client: StaffClient) -> None:
    day = off_pattern(8)
    make_day(client.db, day=day)
    make_staff(client.db, "mayor1", "mayor_office")
    sign_in(client, "mayor1")
    csrf = csrf_of(client.get(PAGE).text)
    made = client.post(f"{PAGE}/bookings", data={
        "csrf_token": csrf, "slot": f"{day.isoformat()}/3", "phone": "049 765 432",
        "full_name": "", "settlement": "", "language": "", "topic": "Struja",
        "source": "phone"})
    assert made.status_code == 200, made.text
    assert "mayor1 (by phone)" in made.text and 'id="told-nowhere"' in made.text
    assert "Erased" not in made.text and "+38349765432" in made.text
    with client.db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
        citizen = session.scalars(select(Citizen)).one()
        assert citizen.phone == "+38349765432"


def test_the_booking_page_of_a_chat_booking_says_nothing_new(client: StaffClient) -> None:
    reference = make_booking(client.db, day=off_pattern(8) + timedelta(days=0))
    make_staff(client.db, "mayor1", "mayor_office")
    sign_in(client, "mayor1")
    page = client.get(f"{PAGE}/bookings/{reference}")
    assert page.status_code == 200
    assert "Booked by" not in page.text and 'id="told-by-sms"' not in page.text
    assert 'id="told-nowhere"' not in page.text
