"""Staff move a booking to another time (#18, item 4): from the booking's
page, to a free slot of an open day; the old slot is free again, the citizen
is told through the outbox in their language, and two bookings never share a
slot — not even when officers move at the same moment."""

from __future__ import annotations

import threading

from sqlalchemy import select

from bot.db import utcnow
from bot.i18n import Catalogs
from bot.models import Booking, BookingStatus, OutboxMessage, ReceptionDay
from bot.models.staff import AuditEntry, StaffUser
from bot.profile import get_profile
from bot.refusals import Conflict
from bot.services import reception as service
from bot.staff.reception import actions
from tests.admin.conftest import StaffClient
from tests.admin.test_pages import csrf_of, sign_in
from tests.admin.test_reception_api import off_pattern
from tests.factories import make_booking, make_staff

PAGE = "/staff/reception/bookings"


def where(client: StaffClient, reference: str) -> tuple[int, int, BookingStatus]:
    with client.db.read_session() as session:
        row = session.scalar(select(Booking).where(Booking.reference == reference))
        assert row is not None
        return row.day_id, row.slot_index, row.status


def told(client: StaffClient) -> list[str]:
    with client.db.read_session() as session:
        return [m.body["text"] for m in session.scalars(
            select(OutboxMessage).order_by(OutboxMessage.id))]


def test_an_officer_moves_a_booking_and_the_citizen_is_told_in_their_language(
        client: StaffClient) -> None:
    day, later = off_pattern(8), off_pattern(15)
    moving = make_booking(client.db, day=day, slot_index=2, language="sq")
    taken = make_booking(client.db, day=later, slot_index=0)
    make_booking(client.db, day=later, slot_index=3)  # later day exists, slot 3 taken
    make_staff(client.db, "mayor1", "mayor_office")
    sign_in(client, "mayor1")
    page = client.get(f"{PAGE}/{moving}")
    assert page.status_code == 200 and 'id="move-form"' in page.text
    assert f'value="{later.isoformat()}/1"' in page.text
    assert f'value="{later.isoformat()}/3"' not in page.text  # someone holds it
    assert f'value="{day.isoformat()}/2"' not in page.text  # where it is now
    csrf = csrf_of(page.text)
    before = len(told(client))

    moved = client.post(f"{PAGE}/{moving}/move",
                        data={"csrf_token": csrf, "slot": f"{later.isoformat()}/1"})
    assert moved.status_code == 200
    assert "The appointment is moved; the citizen is told." in moved.text
    with client.db.read_session() as session:
        later_id = session.scalar(select(ReceptionDay.id).where(ReceptionDay.day == later))
        day_id = session.scalar(select(ReceptionDay.id).where(ReceptionDay.day == day))
        assert "reception.booking.move" in session.scalars(select(AuditEntry.action)).all()
    assert where(client, moving) == (later_id, 1, BookingStatus.booked)
    messages = told(client)[before:]
    assert len(messages) == 1
    assert "Kabineti i Kryetarit e zhvendosi terminin tuaj" in messages[0]  # Albanian
    assert moving in messages[0] and "09:20" in messages[0]
    # the old slot is free again: another citizen can take it
    again = make_booking(client.db, day=day, slot_index=2)
    assert where(client, again) == (day_id, 2, BookingStatus.booked)

    # a slot someone holds: sent back to choose again, nothing changed, nobody told
    refused = client.post(f"{PAGE}/{moving}/move",
                          data={"csrf_token": csrf, "slot": f"{later.isoformat()}/0"})
    assert refused.status_code == 200 and 'role="alert"' in refused.text
    assert "That time was taken just now" in refused.text
    assert where(client, moving) == (later_id, 1, BookingStatus.booked)
    assert where(client, taken) == (later_id, 0, BookingStatus.booked)
    assert len(told(client)) == before + 1


def test_bad_moves_are_refused_politely(client: StaffClient) -> None:
    day = off_pattern(8)
    reference = make_booking(client.db, day=day, slot_index=2)
    make_staff(client.db, "mayor1", "mayor_office")
    make_staff(client.db, "viewer1", "viewer")
    sign_in(client, "mayor1")
    csrf = csrf_of(client.get(f"{PAGE}/{reference}").text)
    for slot, status in ((f"{day.isoformat()}/99", "day_unavailable"),  # no such slot
                         ("2020-01-01/1", 404),  # no reception that day
                         ("2026-13-45/1", 422), ("tomorrow", 422), ("", 422),
                         (f"{day.isoformat()}/2", 409)):  # where it is already
        answer = client.post(f"{PAGE}/{reference}/move",
                             data={"csrf_token": csrf, "slot": slot})
        if isinstance(status, str):
            assert answer.status_code == 200 and "no longer available" in answer.text, slot
        else:
            assert answer.status_code == status, (slot, answer.status_code)
    assert client.post(f"{PAGE}/R-2026-99999/move", data={
        "csrf_token": csrf, "slot": f"{day.isoformat()}/3"}).status_code == 404
    assert client.post(f"{PAGE}/{reference}/move", data={
        "csrf_token": "forged", "slot": f"{day.isoformat()}/3"}).status_code == 403
    assert where(client, reference)[1] == 2
    client.cookies.clear()
    sign_in(client, "viewer1")  # reads the reception, may not change it
    page = client.get(f"{PAGE}/{reference}")
    assert 'id="move-form"' not in page.text
    assert client.post(f"{PAGE}/{reference}/move", data={
        "csrf_token": csrf_of(page.text), "slot": f"{day.isoformat()}/3"}).status_code == 403
    assert where(client, reference)[1] == 2


def test_a_cancelled_booking_cannot_be_moved(client: StaffClient) -> None:
    day = off_pattern(8)
    reference = make_booking(client.db, day=day, slot_index=2)
    profile = get_profile()
    with client.db.session() as session:
        booking = session.scalar(select(Booking).where(Booking.reference == reference))
        assert booking is not None
        service.cancel(booking, by="citizen", now=booking.created_at)
    make_staff(client.db, "mayor1", "mayor_office")
    sign_in(client, "mayor1")
    page = client.get(f"{PAGE}/{reference}")
    assert 'id="move"' not in page.text
    answer = client.post(f"{PAGE}/{reference}/move", data={
        "csrf_token": csrf_of(page.text), "slot": f"{day.isoformat()}/3"})
    assert answer.status_code == 409
    assert profile.reception.slots > 3


def test_two_officers_moving_two_bookings_into_one_slot_at_once(client: StaffClient) -> None:
    """Both see the slot free; the database's unique index lets one in, and
    the other gets `slot_taken` — never two bookings in one slot."""
    day, later = off_pattern(8), off_pattern(15)
    first = make_booking(client.db, day=day, slot_index=0)
    second = make_booking(client.db, day=day, slot_index=1)
    make_booking(client.db, day=later, slot_index=5)  # the later day exists
    make_staff(client.db, "mayor1", "mayor_office")
    make_staff(client.db, "mayor2", "mayor_office")
    profile, catalogs = get_profile(), Catalogs(get_profile().enabled_locales)
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def move(username: str, reference: str) -> None:
        try:
            barrier.wait(timeout=30)  # (SQLite lets one writer in at a time; PostgreSQL races)
            with client.db.session() as session:
                staff = session.scalar(select(StaffUser).where(StaffUser.username == username))
                assert staff is not None
                actions.move(session, profile, catalogs, staff, None, reference=reference,
                             day=later, slot_index=4, now=utcnow())
            outcomes[reference] = "moved"
        except Conflict as refused:
            outcomes[reference] = refused.code

    threads = [threading.Thread(target=move, args=("mayor1", first)),
               threading.Thread(target=move, args=("mayor2", second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes.values()) == ["moved", "slot_taken"], outcomes
    with client.db.read_session() as session:
        later_id = session.scalar(select(ReceptionDay.id).where(ReceptionDay.day == later))
        in_slot = session.scalars(select(Booking.reference).where(
            Booking.day_id == later_id, Booking.slot_index == 4,
            Booking.status == BookingStatus.booked)).all()
    assert len(in_slot) == 1
    loser = first if outcomes[first] == "slot_taken" else second
    assert where(client, loser)[1] in (0, 1) and where(client, loser)[2] is BookingStatus.booked
    # the loser's citizen was not told of a move that did not happen
    assert sum("pomerio" in text for text in told(client)) == 1


def test_the_api_moves_a_booking_as_the_page_does(client: StaffClient) -> None:
    day, later = off_pattern(8), off_pattern(15)
    reference = make_booking(client.db, day=day, slot_index=2)
    holder = make_booking(client.db, day=later, slot_index=0)
    api = "/api/v1/reception/bookings"
    headers = client.as_role("mayor_office")
    moved = client.post(f"{api}/{reference}/move", headers=headers,
                        json={"day": later.isoformat(), "slot_index": 1})
    assert moved.status_code == 200, moved.text
    assert moved.json()["day"] == later.isoformat() and moved.json()["time"] == "09:20"
    taken = client.post(f"{api}/{reference}/move", headers=headers,
                        json={"day": later.isoformat(), "slot_index": 0})
    assert taken.status_code == 409 and taken.json()["code"] == "slot_taken"
    assert where(client, holder)[1] == 0
    for body in ({"day": later.isoformat(), "slot_index": -1}, {"day": "soon"}, {}):
        assert client.post(f"{api}/{reference}/move", headers=headers,
                           json=body).status_code == 422, body
    viewer = client.as_role("viewer")
    assert client.post(f"{api}/{reference}/move", headers=viewer, json={
        "day": day.isoformat(), "slot_index": 2}).status_code == 403
