"""The citizens list: filters, paging, sorting, and who sees personal data."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.models.staff import AuditEntry
from tests.admin.conftest import StaffClient
from tests.factories import make_citizen


def seed(client: StaffClient) -> list[int]:
    return [
        make_citizen(client.db, external_id="1", language="sq", settlement="vrbovac",
                     full_name="Arta Krasniqi", phone="+38344111111"),
        make_citizen(client.db, external_id="2", language="sr_Cyrl", settlement="klokot"),
        make_citizen(client.db, channel="viber", external_id="v3", language="en",
                     settlement="abroad", full_name="Marko Jovanović", phone="+491701234567",
                     blocked=True),
    ]


def test_paging_total_and_default_order(client: StaffClient) -> None:
    ids = seed(client)
    headers = client.as_role("admin")
    first = client.get("/api/v1/citizens?limit=2", headers=headers).json()
    assert first["total"] == 3 and first["limit"] == 2 and first["offset"] == 0
    assert [c["id"] for c in first["items"]] == [ids[2], ids[1]]  # newest first
    second = client.get("/api/v1/citizens?limit=2&offset=2", headers=headers).json()
    assert [c["id"] for c in second["items"]] == [ids[0]]
    ascending = client.get("/api/v1/citizens?sort=id", headers=headers).json()
    assert [c["id"] for c in ascending["items"]] == ids


@pytest.mark.parametrize(
    ("query", "expected"),
    [("channel=viber", [2]), ("language=sq", [0]), ("settlement=abroad", [2]),
     ("subscribed=false", [2]), ("subscribed=true", [1, 0]),
     ("settlement=klokot&language=sr_Cyrl", [1]),
     ("first_seen_from=2000-01-01T00:00:00Z", [2, 1, 0]),
     ("last_seen_to=2000-01-01T00:00:00", [])],
)
def test_filters(client: StaffClient, query: str, expected: list[int]) -> None:
    ids = seed(client)
    body = client.get(f"/api/v1/citizens?{query}", headers=client.as_role("admin")).json()
    assert [c["id"] for c in body["items"]] == [ids[i] for i in expected]
    counted = client.get(f"/api/v1/citizens/count?{query}", headers=client.as_role("viewer"))
    assert counted.json() == {"total": len(expected)}


@pytest.mark.parametrize(
    ("query", "code"),
    [("limit=0", "validation_error"), ("limit=100000", "validation_error"),
     ("offset=-1", "validation_error"), ("offset=99999999999999", "validation_error"),
     ("channel=fax", "validation_error"), ("settlement=belgrade", "invalid_filter"),
     ("language=de", "invalid_filter"), ("sort=password", "validation_error"),
     ("sort=id;drop", "validation_error"), ("subscribed=maybe", "validation_error"),
     ("first_seen_from=yesterday", "validation_error")],
)
def test_absurd_or_unknown_values_are_422(client: StaffClient, query: str, code: str) -> None:
    response = client.get(f"/api/v1/citizens?{query}", headers=client.as_role("admin"))
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code and response.json()["detail"]


@pytest.mark.parametrize("role", ["admin", "mayor_office", "info_office"])
def test_roles_that_need_personal_data_see_it_and_it_is_audited(client: StaffClient,
                                                                role: str) -> None:
    ids = seed(client)
    headers = client.as_role(role)
    items = client.get("/api/v1/citizens?sort=id", headers=headers).json()["items"]
    assert items[0]["full_name"] == "Arta Krasniqi" and items[0]["phone"] == "+38344111111"
    one = client.get(f"/api/v1/citizens/{ids[2]}", headers=headers).json()
    assert one["phone"] == "+491701234567" and one["subscribed"] is False
    with client.db.read_session() as session:
        entries = session.scalars(select(AuditEntry).where(
            AuditEntry.action.startswith("citizen."))).all()
    assert [e.action for e in entries] == ["citizen.list", "citizen.view"]
    assert entries[1].object_id == str(ids[2])


@pytest.mark.parametrize("role", ["viewer", "department"])
def test_other_roles_never_see_names_or_phones(client: StaffClient, role: str) -> None:
    ids = seed(client)
    headers = client.as_role(role, "agriculture" if role == "department" else None)
    listed = client.get("/api/v1/citizens", headers=headers)
    single = client.get(f"/api/v1/citizens/{ids[0]}", headers=headers)
    for response in (listed, single):  # SPEC §3.7: counts, not the list (review, item 8)
        assert response.status_code == 403 and response.json()["code"] == "counts_only"
        assert "Arta" not in response.text and "+38344111111" not in response.text
        assert "mogila" not in response.text and "abroad" not in response.text
    assert client.get("/api/v1/citizens/count", headers=headers).json() == {"total": len(ids)}
    with client.db.read_session() as session:
        assert session.scalars(select(AuditEntry).where(
            AuditEntry.action.startswith("citizen."))).all() == []


def test_unknown_citizen_is_404(client: StaffClient) -> None:
    headers = client.as_role("admin")
    assert client.get("/api/v1/citizens/999999", headers=headers).json()["code"] == "not_found"
    assert client.get("/api/v1/citizens/0", headers=headers).status_code == 422
    assert client.get("/api/v1/citizens/abc", headers=headers).status_code == 422


def test_staff_see_the_day_a_citizen_was_seen_never_the_time(client: StaffClient) -> None:
    """Every role reads survey results; with a citizen's last-seen time to the
    second, polling an anonymous survey's results and sorting citizens by last
    seen tied a named citizen to an answer (review 2, item 12). Staff get the
    day: in the list, in one citizen, in sorting and in the filters' bounds."""
    from datetime import UTC, datetime

    from sqlalchemy import update

    from bot.models import Citizen

    ids = seed(client)
    seen = {ids[0]: datetime(2026, 11, 20, 10, 0, 1, tzinfo=UTC),
            ids[1]: datetime(2026, 11, 20, 10, 0, 3, tzinfo=UTC),
            ids[2]: datetime(2026, 11, 20, 9, 0, 0, tzinfo=UTC)}
    with client.db.session() as session:
        for citizen_id, moment in seen.items():
            session.execute(update(Citizen).where(Citizen.id == citizen_id)
                            .values(last_seen_at=moment, created_at=moment))
    headers = client.as_role("admin")
    listed = client.get("/api/v1/citizens?sort=-last_seen_at", headers=headers)
    one = client.get(f"/api/v1/citizens/{ids[1]}", headers=headers)
    for body in (*listed.json()["items"], one.json()):
        assert body["last_seen_on"] == body["first_seen_on"] == "2026-11-20"
        assert not {"last_seen_at", "first_seen_at"} & set(body)
    assert "10:00" not in listed.text + one.text and "09:00" not in listed.text
    # The most recently seen citizen does not come first: within a day, newest citizen first.
    assert [c["id"] for c in listed.json()["items"]] == [ids[2], ids[1], ids[0]]
    between = "2026-11-20T10:00:02Z"  # after the first, before the second: the whole day counts
    viewer = client.as_role("viewer")
    for query in (f"last_seen_from={between}", f"last_seen_to={between}",
                  f"first_seen_from={between}"):
        assert client.get(f"/api/v1/citizens?{query}", headers=headers).json()["total"] == 3
        assert client.get(f"/api/v1/citizens/count?{query}",
                          headers=viewer).json() == {"total": 3}
    assert client.get("/api/v1/citizens/count?last_seen_from=2026-11-21T00:00:00Z",
                      headers=headers).json() == {"total": 0}
