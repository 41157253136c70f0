"""After `/forget`, staff still see the citizen's requests and bookings, as
from an erased citizen: no name, and saying why."""

from __future__ import annotations

from sqlalchemy import select

from bot.db import utcnow
from bot.models import Booking, Citizen, DocumentRequest
from bot.services import data_rights
from tests.admin.conftest import StaffClient
from tests.admin.test_reception_api import off_pattern
from tests.factories import make_booking, make_day, make_document_request


def erase_owner_of(client: StaffClient, model: type[Booking] | type[DocumentRequest]) -> None:
    with client.db.session() as session:
        citizen = session.get(Citizen, session.scalars(select(model.citizen_id)).one())
        assert citizen is not None
        data_rights.erase(session, citizen, now=utcnow())


def test_a_document_request_of_an_erased_citizen(client: StaffClient) -> None:
    reference = make_document_request(client.db, full_name="Arta Krasniqi")
    headers = client.as_role("info_office")
    before = client.get(f"/api/v1/document-requests/{reference}", headers=headers).json()
    assert before["full_name"] == "Arta Krasniqi" and before["citizen_erased"] is False
    erase_owner_of(client, DocumentRequest)
    after = client.get(f"/api/v1/document-requests/{reference}", headers=headers).json()
    assert after["full_name"] is None and after["citizen_erased"] is True
    assert after["reference"] == reference and after["status"] == before["status"]


def test_a_booking_of_an_erased_citizen(client: StaffClient) -> None:
    day = off_pattern(8)
    make_day(client.db, day=day)
    reference = make_booking(client.db, day=day, full_name="Jovana Petrović")
    headers = client.as_role("mayor_office")
    erase_owner_of(client, Booking)
    booking = client.get(f"/api/v1/reception/bookings/{reference}", headers=headers).json()
    assert booking["citizen_erased"] is True and booking["full_name"] is None


def test_the_staff_page_says_the_citizen_was_erased(client: StaffClient) -> None:
    from tests.admin.test_pages import sign_in
    from tests.factories import make_staff

    reference = make_document_request(client.db, full_name="Arta Krasniqi")
    erase_owner_of(client, DocumentRequest)
    make_staff(client.db, "info9", "info_office")
    sign_in(client, "info9")
    page = client.get(f"/staff/documents/{reference}").text
    assert "erased citizen (/forget)" in page and "Arta" not in page
