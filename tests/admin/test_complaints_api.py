"""The staff side of complaints through the admin API: the box with its
filters, department scope, state changes with their rules, replies that
reach the citizen in their language, notes, photos, approval for Open311,
the CSV export and the audit — and anonymity: nothing about who sent an
anonymous complaint is shown anywhere."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import create_app
from bot.db import Database, utcnow
from bot.i18n import Catalogs
from bot.models import (
    ChannelAccount,
    Complaint,
    ComplaintPhoto,
    ComplaintStatus,
    OutboxMessage,
    PhotoStatus,
)
from bot.models.staff import AuditEntry
from bot.profile import get_profile
from bot.services import complaints as service
from tests.admin.conftest import StaffClient
from tests.admin.test_pages import sign_in
from tests.factories import make_complaint, make_runtime, make_staff, make_voice

API = "/api/v1/complaints"
# The rules a schema-valid body can break: each is 422 with its own code.
RULE_CODES = {"reason_required", "original_required", "text_required", "unknown_department",
              "invalid_location"}
PROFILE = get_profile()


@pytest.fixture
def client(db: Database, data_dir: Path) -> Iterator[StaffClient]:
    """Photos live in a temporary media directory."""
    runtime = make_runtime(db, login_delay_seconds=0.0, data_dir=data_dir)
    with StaffClient(create_app(runtime=runtime, run_sender=False)) as test_client:
        test_client.db = db
        yield test_client


def media(client: StaffClient) -> Path:
    return Path(client.app.state.runtime.settings.media_dir)  # type: ignore[attr-defined]


def audit_entries(client: StaffClient, prefix: str = "complaints.") -> list[AuditEntry]:
    with client.db.read_session() as session:
        return list(session.scalars(select(AuditEntry).where(
            AuditEntry.action.startswith(prefix)).order_by(AuditEntry.id)))


def actions(client: StaffClient) -> list[str]:
    return [e.action for e in audit_entries(client)]


def complaint_row(client: StaffClient, reference: str) -> Complaint:
    with client.db.read_session() as session:
        found = session.scalar(select(Complaint).where(Complaint.reference == reference))
        assert found is not None
        return found


def outbox(client: StaffClient) -> list[OutboxMessage]:
    with client.db.read_session() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def account_of(client: StaffClient, reference: str) -> ChannelAccount:
    with client.db.read_session() as session:
        account = session.get(ChannelAccount, complaint_row(client, reference).account_id)
        assert account is not None
        return account


def problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code and response.json()["detail"]


def ago(**delta: float) -> datetime:
    return utcnow() - timedelta(**delta)


def open311_complaint(db: Database, **contact: str | None) -> str:
    with db.session() as session:
        complaint = service.register_open311(
            session, PROFILE, Catalogs(PROFILE.enabled_locales), client="fixmystreet",
            category_code="roads", description="A deep pothole on the road to Mogila",
            latitude=42.36, longitude=21.38, address=None,
            contact_name=contact.get("name", "Dardan Berisha"),
            contact_email=contact.get("email", "dardan@example.org"),
            contact_phone=contact.get("phone", "+38344700800"), now=utcnow())
        return complaint.reference


# --- the box --------------------------------------------------------------------------------

def test_the_box_lists_open_first_and_filters(client: StaffClient) -> None:
    headers = client.as_role("info_office")
    lamp = make_complaint(client.db, created_at=ago(days=3), photos=2, media_dir=media(client))
    water = make_complaint(client.db, kind="suggestion", category="water",
                           settlement="vrbovac", created_at=ago(days=2),
                           description="A public fountain in Vrbovac would help")
    praise = make_complaint(client.db, kind="praise", category="other", settlement="abroad",
                            created_at=ago(days=1), description="Thanks for the quick help")
    done = make_complaint(client.db, category="roads", created_at=ago(hours=1),
                          description="A pothole in front of the post office")
    client.post(f"{API}/{done}/transition", headers=headers,
                json={"to": "resolved"}).raise_for_status()

    body = client.get(API, headers=headers).json()
    assert [i["reference"] for i in body["items"]] == [praise, water, lamp, done]
    assert body["total"] == 4
    first = next(i for i in body["items"] if i["reference"] == lamp)
    assert first["photo_count"] == 2 and first["department"] == "cadastre_urbanism"
    assert first["kind"] == "complaint" and first["category"] == "lighting"
    assert first["latitude"] == pytest.approx(42.3697) and first["anonymous"] is False
    assert first["sender"]["full_name"] == "Arta Krasniqi"
    assert first["sender"]["phone"] == "+38344123456"
    assert "chat_id" not in first["sender"]
    assert "complaints.list" in actions(client)

    def refs(**params: Any) -> list[str]:
        response = client.get(API, headers=headers, params=params)
        assert response.status_code == 200, response.text
        return [i["reference"] for i in response.json()["items"]]

    assert refs(kind="suggestion") == [water]
    assert refs(category="water") == [water]
    assert refs(department="agriculture") == [water]
    assert refs(department="cadastre_urbanism") == [lamp, done]
    assert refs(settlement="abroad") == [praise]
    assert refs(settlement="vrbovac") == [water]
    assert refs(status="resolved") == [done]
    assert refs(has_photo=True) == [lamp]
    assert set(refs(has_photo=False)) == {water, praise, done}
    assert refs(published=True) == []
    client.patch(f"{API}/{water}", headers=headers, json={"published": True}).raise_for_status()
    assert refs(published=True) == [water]
    assert refs(published=False) == [praise, lamp, done]
    assert refs(sort="reference") == sorted([lamp, water, praise, done])
    assert refs(sort="-created_at")[0] == done
    assert refs(limit=1, offset=1) == [water]
    problem(client.get(API, headers=headers, params={"category": "nowhere"}), 422,
            "invalid_filter")
    problem(client.get(API, headers=headers, params={"settlement": "atlantis"}), 422,
            "invalid_filter")
    assert client.get(API, headers=headers, params={"status": "closed"}).status_code == 422


def test_dates_are_days_in_the_municipalitys_time(client: StaffClient) -> None:
    headers = client.as_role("admin")
    # 23:30 UTC on 10 March is 00:30 on 11 March in Klokot (UTC+1).
    late = make_complaint(client.db, created_at=datetime(2026, 3, 10, 23, 30, tzinfo=UTC))
    early = make_complaint(client.db, created_at=datetime(2026, 3, 10, 9, 0, tzinfo=UTC))

    def refs(**params: Any) -> list[str]:
        response = client.get(API, headers=headers, params=params)
        assert response.status_code == 200, response.text
        return [i["reference"] for i in response.json()["items"]]

    assert refs(created_from="2026-03-11") == [late]
    assert refs(created_to="2026-03-10") == [early]
    assert refs(created_from="2026-03-10", created_to="2026-03-10") == [early]
    assert refs(created_from="2026-03-12") == []
    assert refs(created_from="2026-03-11", created_to="2026-03-01") == []
    # the extremes of the calendar are not errors
    assert set(refs(created_from="0001-01-01", created_to="9999-12-31")) == {late, early}


def test_a_department_officer_sees_and_acts_only_on_their_department(
        client: StaffClient) -> None:
    own = make_complaint(client.db, photos=1, media_dir=media(client))  # lighting → cadastre
    other = make_complaint(client.db, category="water", photos=1, media_dir=media(client))
    headers = client.as_role("department", "cadastre_urbanism")
    listed = client.get(API, headers=headers).json()
    assert [i["reference"] for i in listed["items"]] == [own] and listed["total"] == 1
    # the department's officers see who sent their own department's complaints
    assert listed["items"][0]["sender"]["full_name"] == "Arta Krasniqi"
    assert client.get(f"{API}/{own}", headers=headers).status_code == 200
    assert client.get(API, headers=headers, params={"department": "agriculture"}
                      ).json()["items"] == []

    with client.db.read_session() as session:
        other_photo = session.scalars(select(ComplaintPhoto.id).join(Complaint).where(
            Complaint.reference == other)).one()
    problem(client.get(f"{API}/{other}", headers=headers), 404, "not_found")
    problem(client.get(f"{API}/{other}/photos/{other_photo}", headers=headers), 404,
            "not_found")
    problem(client.post(f"{API}/{other}/transition", headers=headers,
                        json={"to": "in_progress"}), 404, "not_found")
    problem(client.post(f"{API}/{other}/reply", headers=headers, json={"text": "probe"}), 404,
            "not_found")
    problem(client.post(f"{API}/{other}/notes", headers=headers, json={"text": "probe"}), 404,
            "not_found")
    problem(client.patch(f"{API}/{other}", headers=headers, json={"published": True}), 404,
            "not_found")
    # another complaint's photo through one's own reference is not found either
    problem(client.get(f"{API}/{own}/photos/{other_photo}", headers=headers), 404,
            "not_found")
    assert complaint_row(client, other).status is ComplaintStatus.open
    exported = client.get(f"{API}.csv", headers=headers).content.decode("utf-8-sig")
    assert own in exported and other not in exported

    moved = client.post(f"{API}/{own}/transition", headers=headers, json={"to": "in_progress"})
    assert moved.status_code == 200 and moved.json()["status"] == "in_progress"
    # sending it to the right department: then it is theirs, not ours
    sent = client.patch(f"{API}/{own}", headers=headers, json={"department": "agriculture"})
    assert sent.status_code == 200 and sent.json()["department"] == "agriculture"
    problem(client.get(f"{API}/{own}", headers=headers), 404, "not_found")
    assert client.get(API, headers=headers).json()["total"] == 0


def test_viewers_and_the_mayors_office_read_but_cannot_act(client: StaffClient) -> None:
    reference = make_complaint(client.db)
    for role in ("viewer", "mayor_office"):
        headers = client.as_role(role)
        detail = client.get(f"{API}/{reference}", headers=headers)
        assert detail.status_code == 200
        assert (detail.json()["sender"] is None) is (role == "viewer")
        for call in (client.post(f"{API}/{reference}/transition", headers=headers,
                                 json={"to": "in_progress"}),
                     client.post(f"{API}/{reference}/reply", headers=headers,
                                 json={"text": "x"}),
                     client.post(f"{API}/{reference}/notes", headers=headers,
                                 json={"text": "x"}),
                     client.patch(f"{API}/{reference}", headers=headers,
                                  json={"published": True})):
            problem(call, 403, "forbidden")
    assert complaint_row(client, reference).status is ComplaintStatus.open
    assert not any(a.startswith("complaints.") and a != "complaints.view"
                   for a in actions(client))
    assert client.get(API).status_code == 401


# --- the detail -----------------------------------------------------------------------------

def test_the_detail_has_location_photos_and_history(client: StaffClient) -> None:
    headers = client.as_role("info_office")
    reference = make_complaint(client.db, photos=2, media_dir=media(client),
                               address="By the school", language="sr_Latn")
    with client.db.session() as session:
        complaint = session.scalar(select(Complaint).where(Complaint.reference == reference))
        assert complaint is not None
        session.add(ComplaintPhoto(complaint_id=complaint.id, position=3, channel="telegram",
                                   file_id="x", status=PhotoStatus.rejected,
                                   error="not_image"))
    client.post(f"{API}/{reference}/notes", headers=headers,
                json={"text": "Electricians called"}).raise_for_status()
    body = client.get(f"{API}/{reference}", headers=headers).json()
    assert body["map_url"] == ("https://www.openstreetmap.org/?mlat=42.3697&mlon=21.3769"
                               "#map=18/42.3697/21.3769")
    assert body["address"] == "By the school" and body["settlement"] == "klokot"
    stored = [p for p in body["photos"] if p["status"] == "stored"]
    assert [p["position"] for p in body["photos"]] == [1, 2, 3]
    assert len(stored) == 2 and body["photo_count"] == 2
    assert stored[0]["url"] == f"{API}/{reference}/photos/{stored[0]['id']}"
    assert stored[0]["mime_type"] == "image/jpeg" and stored[0]["width"] == 64
    rejected = body["photos"][2]
    assert rejected["url"] is None and rejected["error"] == "not_image"
    assert [e["action"] for e in body["events"]] == ["created", "note"]
    assert body["events"][1]["internal"] is True
    assert body["events"][1]["text"] == "Electricians called"
    assert body["sender"] == {"citizen_id": body["sender"]["citizen_id"],
                              "full_name": "Arta Krasniqi", "phone": "+38344123456",
                              "email": None, "language": "sr_Latn", "channel": "telegram",
                              "erased": False}
    assert body["published"] is False and body["public_description"] is None
    view = audit_entries(client, "complaints.view")[-1]
    assert view.object_id == reference
    problem(client.get(f"{API}/C-2026-9999", headers=headers), 404, "not_found")
    assert client.get(f"{API}/not-a-reference", headers=headers).status_code == 422


def test_open311_reports_show_their_contact_only_to_who_may_see_it(
        client: StaffClient) -> None:
    reference = open311_complaint(client.db)
    info = client.as_role("info_office")
    body = client.get(f"{API}/{reference}", headers=info).json()
    assert body["source"] == "open311" and body["open311_client"] == "fixmystreet"
    assert body["sender"]["full_name"] == "Dardan Berisha"
    assert body["sender"]["email"] == "dardan@example.org"
    assert body["sender"]["phone"] == "+38344700800" and body["sender"]["citizen_id"] is None
    viewer = client.as_role("viewer")
    seen = client.get(f"{API}/{reference}", headers=viewer)
    assert seen.json()["sender"] is None and "Dardan" not in seen.text
    assert seen.json()["open311_client"] == "fixmystreet"
    # nobody to answer in a chat: the reply is kept, and says so
    answered = client.post(f"{API}/{reference}/reply", headers=info,
                           json={"text": "Repairs are planned for May"})
    assert answered.status_code == 201 and answered.json()["delivered"] is False
    assert outbox(client) == []


# --- photos ---------------------------------------------------------------------------------

def test_a_photo_is_served_only_to_staff_who_may_see_it(client: StaffClient) -> None:
    reference = make_complaint(client.db, photos=2, media_dir=media(client))
    with client.db.session() as session:
        photos = session.scalars(select(ComplaintPhoto).join(Complaint).where(
            Complaint.reference == reference).order_by(ComplaintPhoto.position)).all()
        first, second = photos[0].id, photos[1].id
        path = Path(photos[1].path or "")
        photos[0].status = PhotoStatus.pending
    url = f"{API}/{reference}/photos/{second}"
    problem(client.get(url), 401, "not_authenticated")
    headers = client.as_role("viewer")
    response = client.get(url, headers=headers)
    assert response.status_code == 200
    assert response.content == path.read_bytes()
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"] == "private, no-store"
    problem(client.get(f"{API}/{reference}/photos/{first}", headers=headers), 404,
            "not_found")  # not stored (yet)
    problem(client.get(f"{API}/{reference}/photos/999999", headers=headers), 404, "not_found")
    path.unlink()
    problem(client.get(url, headers=headers), 404, "not_found")
    assert client.get(f"{API}/{reference}/photos/0", headers=headers).status_code == 422


# --- state changes --------------------------------------------------------------------------

def test_a_state_change_tells_the_citizen_and_is_audited(client: StaffClient) -> None:
    reference = make_complaint(client.db, language="sq")
    headers = client.as_role("info_office")
    moved = client.post(f"{API}/{reference}/transition", headers=headers,
                        json={"to": "in_progress"})
    assert moved.status_code == 200, moved.text
    resolved = client.post(f"{API}/{reference}/transition", headers=headers,
                           json={"to": "resolved", "text": "The lamp\u0000 was replaced."})
    assert resolved.status_code == 200, resolved.text
    body = resolved.json()
    assert body["status"] == "resolved" and body["closed_at"]
    assert body["events"][-1]["status_from"] == "in_progress"
    assert body["events"][-1]["text"] == "The lamp was replaced."
    told = outbox(client)
    assert len(told) == 2 and told[-1].chat_id == account_of(client, reference).chat_id
    assert "Ankesa juaj" in told[-1].body["text"] and reference in told[-1].body["text"]
    assert "The lamp was replaced." in told[-1].body["text"]
    entry = audit_entries(client, "complaints.transition")[-1]
    assert entry.object_id == reference
    assert entry.before and entry.before["status"] == "in_progress"
    assert entry.after and entry.after["status"] == "resolved"
    assert entry.after["text"] == "The lamp was replaced."


def test_rules_broken_are_refused_and_change_nothing(client: StaffClient) -> None:
    headers = client.as_role("admin")
    original = make_complaint(client.db)
    fresh = make_complaint(client.db)
    count = len(outbox(client))
    problem(client.post(f"{API}/{fresh}/transition", headers=headers,
                        json={"to": "rejected"}), 422, "reason_required")
    problem(client.post(f"{API}/{fresh}/transition", headers=headers,
                        json={"to": "rejected", "text": "  \n "}), 422, "reason_required")
    problem(client.post(f"{API}/{fresh}/transition", headers=headers,
                        json={"to": "duplicate"}), 422, "original_required")
    problem(client.post(f"{API}/{fresh}/transition", headers=headers,
                        json={"to": "duplicate", "duplicate_of": "C-2026-9999"}), 422,
            "original_required")
    problem(client.post(f"{API}/{fresh}/transition", headers=headers,
                        json={"to": "duplicate", "duplicate_of": fresh}), 422,
            "original_required")
    problem(client.post(f"{API}/{fresh}/transition", headers=headers,
                        json={"to": "open"}), 409, "transition_not_allowed")
    assert complaint_row(client, fresh).status is ComplaintStatus.open
    assert len(outbox(client)) == count and actions(client) == []

    duplicate = client.post(f"{API}/{fresh}/transition", headers=headers,
                            json={"to": "duplicate", "duplicate_of": original.lower()})
    assert duplicate.status_code == 200, duplicate.text
    assert duplicate.json()["duplicate_of"] == original
    assert audit_entries(client)[-1].after["duplicate_of"] == original  # type: ignore[index]

    client.post(f"{API}/{original}/transition", headers=headers,
                json={"to": "resolved"}).raise_for_status()
    problem(client.post(f"{API}/{original}/transition", headers=headers,
                        json={"to": "in_progress"}), 409, "transition_not_allowed")
    assert complaint_row(client, original).status is ComplaintStatus.resolved
    reopened = client.post(f"{API}/{original}/transition", headers=headers,
                           json={"to": "open", "text": "The lamp is out again"})
    assert reopened.status_code == 200 and reopened.json()["closed_at"] is None
    assert client.post(f"{API}/{original}/transition", headers=headers,
                       json={"to": "open", "text": "x" * 4001}).status_code == 422
    problem(client.post(f"{API}/C-2026-9999/transition", headers=headers,
                        json={"to": "resolved"}), 404, "not_found")


# --- replies and notes -----------------------------------------------------------------------

@pytest.mark.parametrize(("language", "opening"), [("sq", "Përgjigje për lëndën"),
                                                   ("en", "Answer to")])
def test_a_reply_reaches_the_citizen_in_their_language(client: StaffClient, language: str,
                                                       opening: str) -> None:
    reference = make_complaint(client.db, language=language)
    headers = client.as_role("department", "cadastre_urbanism")
    answered = client.post(f"{API}/{reference}/reply", headers=headers,
                           json={"text": "The electricians come on Tuesday.\nThank you!"})
    assert answered.status_code == 201, answered.text
    body = answered.json()
    assert body["action"] == "reply" and body["internal"] is False and body["delivered"]
    assert body["by"] == "department-cadastre-urbanism"
    [message] = outbox(client)
    assert message.chat_id == account_of(client, reference).chat_id
    text = message.body["text"]
    assert text.startswith(opening) and reference in text
    assert "The electricians come on Tuesday.\nThank you!" in text
    entry = audit_entries(client, "complaints.reply")[0]
    assert entry.object_id == reference and entry.after
    assert entry.after["delivered"] is True and "Tuesday" in entry.after["text"]
    problem(client.post(f"{API}/{reference}/reply", headers=headers, json={"text": " \t "}),
            422, "text_required")
    assert client.post(f"{API}/{reference}/reply", headers=headers,
                       json={"text": ""}).status_code == 422


def test_an_internal_note_is_history_only(client: StaffClient) -> None:
    reference = make_complaint(client.db)
    headers = client.as_role("info_office")
    made = client.post(f"{API}/{reference}/notes", headers=headers,
                       json={"text": "Ask the utility company"})
    assert made.status_code == 201 and made.json()["internal"] is True
    assert outbox(client) == []
    note = audit_entries(client, "complaints.note")[0]
    assert note.object_id == reference and note.after
    assert note.after["text"] == "Ask the utility company"
    problem(client.post(f"{API}/{reference}/notes", headers=headers, json={"text": "\u0000"}),
            422, "text_required")


# --- assignment and Open311 approval ----------------------------------------------------------

def test_assigning_publishing_and_unpublishing(client: StaffClient) -> None:
    reference = make_complaint(client.db, address="Main street 4")
    headers = client.as_role("info_office")

    assigned = client.patch(f"{API}/{reference}", headers=headers,
                            json={"department": "agriculture"})
    assert assigned.status_code == 200 and assigned.json()["department"] == "agriculture"
    assert assigned.json()["events"][-1]["action"] == "assigned"
    entry = audit_entries(client, "complaints.assign")[0]
    assert entry.before == {"department": "cadastre_urbanism"}
    assert entry.after == {"department": "agriculture"}
    problem(client.patch(f"{API}/{reference}", headers=headers,
                         json={"department": "nowhere"}), 422, "unknown_department")

    problem(client.patch(f"{API}/{reference}", headers=headers,
                         json={"public_description": "Edited"}), 409, "not_published")
    problem(client.patch(f"{API}/{reference}", headers=headers,
                         json={"published": True, "public_latitude": 42.0}), 422,
            "invalid_location")
    problem(client.patch(f"{API}/{reference}", headers=headers,
                         json={"published": True, "public_description": "  "}), 422,
            "text_required")
    assert client.patch(f"{API}/{reference}", headers=headers,
                        json={"published": True, "public_latitude": 91,
                              "public_longitude": 21}).status_code == 422
    assert complaint_row(client, reference).published is False

    published = client.patch(f"{API}/{reference}", headers=headers, json={"published": True})
    assert published.status_code == 200, published.text
    body = published.json()
    assert body["published"] is True and body["published_at"]
    assert body["public_description"] == body["description"]
    assert body["public_latitude"] == pytest.approx(42.3697)
    assert body["public_address"] == "Main street 4"

    edited = client.patch(f"{API}/{reference}", headers=headers, json={
        "public_description": "A street light is out near the school",
        "public_latitude": 42.37, "public_longitude": 21.377, "public_address": "School"})
    assert edited.status_code == 200, edited.text
    body = edited.json()
    assert body["published_at"] == published.json()["published_at"]
    assert body["public_description"] == "A street light is out near the school"
    assert (body["public_latitude"], body["public_longitude"]) == (42.37, 21.377)

    hidden = client.patch(f"{API}/{reference}", headers=headers,
                          json={"published": True, "public_latitude": None,
                                "public_longitude": None, "public_address": None})
    assert hidden.status_code == 200
    assert hidden.json()["public_latitude"] is None and hidden.json()["public_address"] is None
    assert hidden.json()["public_description"] == "A street light is out near the school"

    withdrawn = client.patch(f"{API}/{reference}", headers=headers, json={"published": False})
    assert withdrawn.status_code == 200 and withdrawn.json()["published"] is False
    assert withdrawn.json()["published_at"] is None
    assert [a for a in actions(client) if a in {"complaints.publish", "complaints.unpublish"}
            ] == ["complaints.publish"] * 3 + ["complaints.unpublish"]
    publish = audit_entries(client, "complaints.publish")[1]
    assert publish.before and publish.after
    assert publish.after["public_description"] == "A street light is out near the school"
    # nothing to change is no change and no audit entry
    count = len(audit_entries(client))
    assert client.patch(f"{API}/{reference}", headers=headers, json={}).status_code == 200
    assert client.patch(f"{API}/{reference}", headers=headers,
                        json={"published": False}).status_code == 200
    assert len(audit_entries(client)) == count


# --- export ----------------------------------------------------------------------------------

def test_the_csv_export_is_excel_safe_local_and_audited(client: StaffClient) -> None:
    reference = make_complaint(client.db, description="=HYPERLINK(\"http://evil\") broken lamp",
                               created_at=datetime(2026, 3, 10, 23, 30, tzinfo=UTC),
                               photos=1, media_dir=media(client))
    make_complaint(client.db, category="water", description="Water is brown in Mogila")
    make_voice(client.db, complaint=reference, media_dir=media(client))
    headers = client.as_role("info_office")
    response = client.get(f"{API}.csv", headers=headers, params={"category": "lighting"})
    assert response.status_code == 200 and response.content.startswith(b"\xef\xbb\xbf")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == 1
    row = rows[0]
    assert row["reference"] == reference and row["kind"] == "complaint"
    assert row["category"] == "lighting" and row["department"] == "cadastre_urbanism"
    assert row["settlement"] == "klokot" and row["status"] == "open"
    assert row["created_at"] == "2026-03-11T00:30:00+01:00"
    assert row["description"].startswith("'=")
    assert row["latitude"] == "42.3697" and row["longitude"] == "21.3769"
    assert row["photos"] == "1" and row["voice_messages"] == "1"
    assert row["anonymous"] == "no" and row["published"] == "no"
    # a phone starts like a formula, so it gets the same leading quote
    assert row["full_name"] == "Arta Krasniqi" and row["phone"] == "'+38344123456"
    entry = audit_entries(client, "complaints.export")[0]
    assert entry.detail and "1 rows" in entry.detail and "personal=yes" in entry.detail
    assert "lighting" in entry.detail

    viewer = client.as_role("viewer")
    plain = client.get(f"{API}.csv", headers=viewer)
    header = next(csv.reader(io.StringIO(plain.content.decode("utf-8-sig"))))
    assert "full_name" not in header and "phone" not in header and "email" not in header
    assert "Arta" not in plain.text and "Water is brown in Mogila" in plain.text
    assert "personal=no" in (audit_entries(client, "complaints.export")[-1].detail or "")


# --- anonymity ---------------------------------------------------------------------------------

def keys_in(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | set().union(*(keys_in(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(keys_in(v) for v in value))
    return set()


def test_nothing_shows_who_sent_an_anonymous_complaint(client: StaffClient) -> None:
    name, phone, chat = "Zana Hoxha", "+38349555777", "7700990011"
    hidden = make_complaint(client.db, anonymous=True, full_name=name, phone=phone,
                            language="sq", photos=1, media_dir=media(client),
                            description="Garbage is dumped behind the market every night")
    known = make_complaint(client.db, full_name="Arta Krasniqi", phone="+38344123456")
    with client.db.session() as session:
        complaint = session.scalar(select(Complaint).where(Complaint.reference == hidden))
        assert complaint is not None and complaint.citizen_id and complaint.account_id
        citizen_id, account_id = complaint.citizen_id, complaint.account_id
        account = session.get(ChannelAccount, account_id)
        assert account is not None
        account.chat_id = account.external_id = chat
    secrets = (name, "Zana", "Hoxha", phone, "49555777", chat)

    def clean(text: str) -> None:
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"leaked {leaked}"

    make_staff(client.db, "info-anon", "info_office")
    headers = {"Authorization": f"Bearer {client.token_for('info-anon')}"}

    # the officer works on it: the citizen still gets the answers in their chat
    client.post(f"{API}/{hidden}/transition", headers=headers,
                json={"to": "in_progress", "text": "We are on it"}).raise_for_status()
    client.post(f"{API}/{hidden}/reply", headers=headers,
                json={"text": "The market inspector will come tonight"}).raise_for_status()
    client.post(f"{API}/{hidden}/notes", headers=headers,
                json={"text": "Check the cameras"}).raise_for_status()
    client.patch(f"{API}/{hidden}", headers=headers,
                 json={"published": True, "department": "administration"}
                 ).raise_for_status()
    told = [m for m in outbox(client) if m.chat_id == chat]
    assert len(told) == 2 and "inspector" in told[-1].body["text"]
    assert "Përgjigje" in told[-1].body["text"]  # in the citizen's language

    listed = client.get(API, headers=headers)
    items = {i["reference"]: i for i in listed.json()["items"]}
    assert items[known]["sender"]["full_name"] == "Arta Krasniqi"  # the role may see names
    assert items[hidden]["anonymous"] is True and items[hidden]["sender"] is None
    clean(listed.text)
    assert not keys_in(items[hidden]) & {"citizen_id", "account_id", "chat_id", "channel",
                                         "full_name", "phone", "language"}

    detail = client.get(f"{API}/{hidden}", headers=headers)
    assert detail.status_code == 200 and detail.json()["anonymous"] is True
    assert detail.json()["sender"] is None
    assert not keys_in(detail.json()) & {"citizen_id", "account_id", "chat_id", "channel",
                                         "full_name", "phone", "language"}
    clean(detail.text)
    assert {e["by"] for e in detail.json()["events"]} <= {"citizen", "info-anon"}

    exported = client.get(f"{API}.csv", headers=headers)
    clean(exported.text)
    rows = {r["reference"]: r for r in csv.DictReader(
        io.StringIO(exported.content.decode("utf-8-sig")))}
    assert rows[known]["full_name"] == "Arta Krasniqi"
    assert rows[hidden]["anonymous"] == "yes"
    assert rows[hidden]["full_name"] == rows[hidden]["phone"] == rows[hidden]["email"] == ""

    sign_in(client, "info-anon")
    box = client.get("/staff/complaints")
    assert box.status_code == 200 and hidden in box.text and "Arta Krasniqi" in box.text
    clean(box.text)
    page = client.get(f"/staff/complaints/{hidden}")
    assert page.status_code == 200 and "anonymous" in page.text
    clean(page.text)
    assert f"citizen no. {citizen_id}" not in page.text
    assert f"/staff/complaints/{hidden}/photos/" in page.text
    assert "citizen no." in client.get(f"/staff/complaints/{known}").text  # shown for others

    entries = audit_entries(client, "")
    assert {"complaints.transition", "complaints.reply", "complaints.note",
            "complaints.assign", "complaints.publish", "complaints.export",
            "complaints.list", "complaints.view"} <= {e.action for e in entries}
    for entry in entries:
        recorded = json.dumps([entry.detail, entry.before, entry.after, entry.object_id,
                               entry.item_references], ensure_ascii=False)
        clean(recorded)
        assert "citizen_id" not in recorded and "account_id" not in recorded
    shown = [e for e in entries if e.action in {"complaints.list", "complaints.view"}]
    # a view of an anonymous complaint shows no personal data, so it is not one
    assert all(hidden not in (e.item_references or []) for e in shown)
    assert any(known in (e.item_references or []) for e in shown)
    assert citizen_id and account_id  # they exist, and stayed internal


# --- the contract with real complaints ---------------------------------------------------------

def test_the_complaint_operations_keep_their_contract_on_real_complaints(
        db: Database, data_dir: Path) -> None:
    """Schemathesis with the path pinned to existing complaints (the general
    run only meets 404s): random bodies reach the rules, which answer 422
    with their code (or 409 for a state conflict), never 500; schema-valid
    input is 422 only for a rule the schema cannot say (e.g. a rejection
    without a reason), never for `validation_error`."""
    from collections import Counter

    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from schemathesis.checks import positive_data_acceptance

    def rules_are_named(ctx: Any, response: Any, case: Any) -> bool | None:
        if response.status_code == 422:
            assert json.loads(response.content)["code"] in RULE_CODES, response.text
        return None

    runtime = make_runtime(db, login_delay_seconds=0.0, data_dir=data_dir)
    app = create_app(runtime=runtime, run_sender=False)
    make_staff(db, "schema-admin", "admin")
    references = [make_complaint(db, photos=1, media_dir=Path(runtime.settings.media_dir)),
                  make_complaint(db, anonymous=True, category="water"),
                  open311_complaint(db)]
    voice_id = make_voice(db, complaint=references[0],
                          media_dir=Path(runtime.settings.media_dir))
    with db.read_session() as session:
        photo_ids = list(session.scalars(select(ComplaintPhoto.id)))
    headers = {"Authorization": f"Bearer {StaffClient(app).token_for('schema-admin')}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    everything = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    operations = [op for op in everything if op.path.startswith("/api/v1/complaints")]
    assert len(operations) == 9
    seen: Counter[tuple[str, int]] = Counter()
    for operation in operations:
        def pinned(case: schemathesis.Case, reference: str, photo: int) -> schemathesis.Case:
            if "reference" in case.path_parameters:
                case.path_parameters["reference"] = reference
            if "photo_id" in case.path_parameters:
                case.path_parameters["photo_id"] = photo
            if "voice_id" in case.path_parameters:
                case.path_parameters["voice_id"] = voice_id
            return case

        strategy = st.builds(pinned, operation.as_strategy(), st.sampled_from(references),
                             st.sampled_from(photo_ids))

        @given(case=strategy)
        @settings(max_examples=40, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            response = case.call_and_validate(
                headers=headers, excluded_checks=[positive_data_acceptance],
                additional_checks=[rules_are_named])
            seen[(case.operation.label, response.status_code)] += 1

        check()

    for operation in operations:
        codes = {code for label, code in seen if label == operation.label}
        assert codes and 500 not in codes, operation.label
        assert any(200 <= code < 300 for code in codes), (operation.label, codes)
