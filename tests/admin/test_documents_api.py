"""The staff side of requests for public documents through the admin API:
the queue, state changes with the legal rules, notes, uploads delivered
through the bot, signed file links, the CSV export and the year's summary —
each action with its audit entry, and who may see and do what."""

from __future__ import annotations

import csv
import dataclasses
import io
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import create_app
from bot.db import Database, utcnow
from bot.models import DocumentFile, DocumentRequest, DocumentStatus, OutboxMessage
from bot.models.staff import AuditEntry
from bot.profile import get_profile
from bot.staff.documents import files as stored
from tests.admin.conftest import StaffClient
from tests.factories import make_document_request, make_runtime

API = "/api/v1/document-requests"
PROFILE = get_profile()
PDF = b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


@pytest.fixture
def client(db: Database, data_dir: Path) -> Iterator[StaffClient]:
    """Uploads go to a temporary media directory."""
    runtime = make_runtime(db, login_delay_seconds=0.0, data_dir=data_dir)
    with StaffClient(create_app(runtime=runtime, run_sender=False)) as test_client:
        test_client.db = db
        yield test_client


def docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


def audit_entries(client: StaffClient, prefix: str = "documents.") -> list[AuditEntry]:
    with client.db.read_session() as session:
        return list(session.scalars(select(AuditEntry).where(
            AuditEntry.action.startswith(prefix)).order_by(AuditEntry.id)))


def actions(client: StaffClient) -> list[str]:
    return [e.action for e in audit_entries(client)]


def request_row(client: StaffClient, reference: str) -> DocumentRequest:
    with client.db.read_session() as session:
        found = session.scalar(select(DocumentRequest).where(
            DocumentRequest.reference == reference))
        assert found is not None
        return found


def outbox(client: StaffClient) -> list[OutboxMessage]:
    with client.db.read_session() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code and response.json()["detail"]


def ago(**delta: float) -> datetime:
    return utcnow() - timedelta(**delta)


# --- the queue ------------------------------------------------------------------------

def test_the_queue_is_by_due_date_with_overdue_and_due_soon(client: StaffClient) -> None:
    headers = client.as_role("info_office")
    late = make_document_request(client.db, registered_at=ago(days=20))
    soon = make_document_request(client.db, life_or_liberty=True, registered_at=ago(hours=10))
    later = make_document_request(client.db, department="agriculture")
    decided = make_document_request(client.db, registered_at=ago(days=30))
    client.post(f"{API}/{decided}/transition", headers=headers,
                json={"status": "granted"}).raise_for_status()

    body = client.get(API, headers=headers).json()
    assert [i["reference"] for i in body["items"]] == [late, soon, later, decided]
    first, second, third, fourth = body["items"]
    assert first["overdue"] and not first["due_soon"]
    assert second["due_soon"] and not second["overdue"] and second["life_or_liberty"]
    assert not third["overdue"] and not fourth["overdue"]
    assert first["full_name"] == "Arta Krasniqi" and first["description"]
    assert "documents.list" in actions(client)

    def refs(**params: Any) -> list[str]:
        response = client.get(API, headers=headers, params=params)
        assert response.status_code == 200, response.text
        return [i["reference"] for i in response.json()["items"]]

    assert refs(overdue=True) == [late]
    assert refs(due_within_hours=48) == [soon]
    assert refs(department="agriculture") == [later]
    assert refs(status="granted") == [decided]
    problem(client.get(API, headers=headers, params={"department": "nowhere"}), 422,
            "invalid_filter")
    assert client.get(API, headers=headers, params={"due_within_hours": 721}).status_code == 422


def test_a_viewer_sees_no_personal_data_and_cannot_act(client: StaffClient) -> None:
    reference = make_document_request(client.db)
    headers = client.as_role("viewer")
    item = client.get(API, headers=headers).json()["items"][0]
    assert item["full_name"] is None and item["description"] is None
    assert client.get(f"{API}/{reference}", headers=headers).json()["full_name"] is None
    problem(client.post(f"{API}/{reference}/transition", headers=headers,
                        json={"status": "in_progress"}), 403, "forbidden")
    problem(client.post(f"{API}/{reference}/notes", headers=headers, json={"text": "x"}), 403,
            "forbidden")
    problem(client.post(f"{API}/{reference}/files", headers=headers,
                        files={"file": ("a.pdf", PDF, "application/pdf")}), 403, "forbidden")
    assert request_row(client, reference).status is DocumentStatus.received
    assert actions(client) == []  # no personal data shown, nothing changed


def test_mayor_office_reads_but_cannot_act(client: StaffClient) -> None:
    reference = make_document_request(client.db)
    headers = client.as_role("mayor_office")
    assert client.get(f"{API}/{reference}", headers=headers).status_code == 200
    problem(client.post(f"{API}/{reference}/transition", headers=headers,
                        json={"status": "in_progress"}), 403, "forbidden")


def test_a_department_officer_sees_only_what_was_forwarded_to_them(
        client: StaffClient) -> None:
    own = make_document_request(client.db, department="agriculture")
    other = make_document_request(client.db, department="cadastre_urbanism")
    nobody = make_document_request(client.db, department=None)
    info = client.as_role("info_office")
    for reference, department in ((own, "agriculture"), (other, "cadastre_urbanism")):
        assert client.post(f"{API}/{reference}/forward", headers=info,
                           json={"department": department}).status_code == 200
    headers = client.as_role("department", "agriculture")
    listed = client.get(API, headers=headers).json()
    assert [i["reference"] for i in listed["items"]] == [own] and listed["total"] == 1
    assert listed["items"][0]["full_name"] == "Arta Krasniqi"  # own items: personal data
    assert listed["items"][0]["forwarded_department"] == "agriculture"
    assert client.get(f"{API}/{own}", headers=headers).status_code == 200
    for reference in (other, nobody):
        problem(client.get(f"{API}/{reference}", headers=headers), 404, "not_found")
        problem(client.post(f"{API}/{reference}/transition", headers=headers,
                            json={"status": "in_progress"}), 404, "not_found")
        problem(client.post(f"{API}/{reference}/notes", headers=headers,
                            json={"text": "probe"}), 404, "not_found")
        problem(client.post(f"{API}/{reference}/files", headers=headers,
                            files={"file": ("a.pdf", PDF, "application/pdf")}), 404,
                "not_found")
        assert request_row(client, reference).status is DocumentStatus.received
    moved = client.post(f"{API}/{own}/transition", headers=headers,
                        json={"status": "in_progress"})
    assert moved.status_code == 200 and moved.json()["status"] == "in_progress"
    exported = client.get(f"{API}.csv", headers=headers).content.decode("utf-8-sig")
    assert own in exported and other not in exported
    summary = client.get(f"{API}/summary", headers=headers).json()
    assert summary["received"] == 1


def test_the_citizens_guess_alone_gives_a_department_officer_nothing(
        client: StaffClient) -> None:
    """Security review, item 17: the department the citizen guessed is not a
    forwarding; its officers see and act on nothing until the info office
    forwards the request to them."""
    guessed = make_document_request(client.db, department="agriculture")
    officer = client.as_role("department", "agriculture")
    assert client.get(API, headers=officer).json()["total"] == 0
    problem(client.get(f"{API}/{guessed}", headers=officer), 404, "not_found")
    problem(client.post(f"{API}/{guessed}/transition", headers=officer,
                        json={"status": "refused", "reason": "no"}), 404, "not_found")
    problem(client.post(f"{API}/{guessed}/notes", headers=officer,
                        json={"text": "probe"}), 404, "not_found")
    assert client.get(f"{API}.csv", headers=officer).content.decode(
        "utf-8-sig").count("D-") == 0
    assert request_row(client, guessed).status is DocumentStatus.received

    info = client.as_role("info_office")
    forwarded = client.post(f"{API}/{guessed}/forward", headers=info,
                            json={"department": "agriculture"})
    assert forwarded.status_code == 200, forwarded.text
    assert forwarded.json()["forwarded_department"] == "agriculture"
    assert forwarded.json()["status"] == "received"  # still the municipality's to decide
    assert client.get(f"{API}/{guessed}", headers=officer).status_code == 200
    granted = client.post(f"{API}/{guessed}/transition", headers=officer,
                          json={"status": "granted"})
    assert granted.status_code == 200 and granted.json()["status"] == "granted"
    entry = next(e for e in audit_entries(client) if e.action == "documents.forward")
    assert entry.object_id == guessed and entry.username == "info-office-x"
    assert entry.before == {"forwarded_department": None}
    assert entry.after == {"forwarded_department": "agriculture"}


def test_forwarding_within_names_a_known_department(client: StaffClient) -> None:
    reference = make_document_request(client.db)
    info = client.as_role("info_office")
    problem(client.post(f"{API}/{reference}/forward", headers=info,
                        json={"department": "ministry_of_magic"}), 422, "unknown_department")
    assert request_row(client, reference).forwarded_department is None
    # a department officer cannot pass on what was forwarded to them, nor
    # the mayor's office or a viewer forward at all
    assert client.post(f"{API}/{reference}/forward", headers=info,
                       json={"department": "agriculture"}).status_code == 200
    officer = client.as_role("department", "agriculture")
    problem(client.post(f"{API}/{reference}/forward", headers=officer,
                        json={"department": "assembly"}), 403, "forward_not_allowed")
    for role in ("mayor_office", "viewer"):
        problem(client.post(f"{API}/{reference}/forward", headers=client.as_role(role),
                            json={"department": "assembly"}), 403, "forbidden")
    assert request_row(client, reference).forwarded_department == "agriculture"
    # a decided request is forwarded nowhere
    client.post(f"{API}/{reference}/transition", headers=info,
                json={"status": "refused", "reason": "Not held by the municipality."})
    problem(client.post(f"{API}/{reference}/forward", headers=info,
                        json={"department": "assembly"}), 409, "request_decided")


def test_forwarding_outside_keeps_the_institution_and_tells_the_citizen(
        client: StaffClient) -> None:
    """The law's forwarding: to the institution that holds the document, in
    free text; the request is decided and the citizen told where it went."""
    reference = make_document_request(client.db)
    info = client.as_role("info_office")
    moved = client.post(f"{API}/{reference}/transition", headers=info,
                        json={"status": "forwarded",
                              "forwarded_to": "Kosovo Cadastral Agency"})
    assert moved.status_code == 200
    assert moved.json()["forwarded_to"] == "Kosovo Cadastral Agency"
    assert moved.json()["forwarded_department"] is None
    assert "Kosovo Cadastral Agency" in outbox(client)[-1].body["text"]


# --- state changes ----------------------------------------------------------------------

def test_a_transition_tells_the_citizen_and_is_audited(client: StaffClient) -> None:
    reference = make_document_request(client.db)
    headers = client.as_role("info_office")
    before = len(outbox(client))
    response = client.post(f"{API}/{reference}/transition", headers=headers,
                           json={"status": "refused", "reason": "It is a classified plan"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "refused" and body["decided_at"]
    assert body["events"][-1]["status_to"] == "refused"
    assert body["events"][-1]["text"] == "It is a classified plan"
    assert len(outbox(client)) == before + 1
    entry = audit_entries(client)[-1]
    assert entry.action == "documents.transition" and entry.object_id == reference
    assert entry.before and entry.before["status"] == "received"
    assert entry.after and entry.after["status"] == "refused"
    assert entry.after["reason"] == "It is a classified plan"


def test_rules_broken_are_422_or_409_and_change_nothing(client: StaffClient) -> None:
    headers = client.as_role("admin")
    granted = make_document_request(client.db)
    client.post(f"{API}/{granted}/transition", headers=headers,
                json={"status": "granted"}).raise_for_status()
    count = len(audit_entries(client, "documents.transition"))
    problem(client.post(f"{API}/{granted}/transition", headers=headers,
                        json={"status": "in_progress"}), 409, "transition_not_allowed")
    assert request_row(client, granted).status is DocumentStatus.granted

    fresh = make_document_request(client.db)
    problem(client.post(f"{API}/{fresh}/transition", headers=headers,
                        json={"status": "refused"}), 422, "reason_required")
    problem(client.post(f"{API}/{fresh}/transition", headers=headers,
                        json={"status": "refused", "reason": "   "}), 422, "reason_required")
    problem(client.post(f"{API}/{fresh}/transition", headers=headers,
                        json={"status": "forwarded"}), 422, "institution_required")
    problem(client.post(f"{API}/{fresh}/transition", headers=headers,
                        json={"status": "extended", "reason": "Archive search"}), 422,
            "invalid_extension")
    rejected = client.post(f"{API}/{fresh}/transition", headers=headers,
                           json={"status": "extended", "reason": "Archive", "extension_days": 16})
    problem(rejected, 422, "validation_error")
    row = request_row(client, fresh)
    assert row.status is DocumentStatus.received and not row.extended
    due = row.due_at

    extended = client.post(f"{API}/{fresh}/transition", headers=headers,
                           json={"status": "extended", "reason": "Archive search",
                                 "extension_days": 10})
    assert extended.status_code == 200 and extended.json()["extended"]
    assert request_row(client, fresh).due_at > due
    client.post(f"{API}/{fresh}/transition", headers=headers,
                json={"status": "in_progress"}).raise_for_status()
    problem(client.post(f"{API}/{fresh}/transition", headers=headers,
                        json={"status": "extended", "reason": "Again",
                              "extension_days": 3}), 409, "already_extended")
    assert request_row(client, fresh).status is DocumentStatus.in_progress
    assert len(audit_entries(client, "documents.transition")) == count + 2
    problem(client.post(f"{API}/D-2026-9999/transition", headers=headers,
                        json={"status": "granted"}), 404, "not_found")


def test_forwarding_names_the_institution(client: StaffClient) -> None:
    reference = make_document_request(client.db)
    headers = client.as_role("admin")
    response = client.post(f"{API}/{reference}/transition", headers=headers,
                           json={"status": "forwarded",
                                 "forwarded_to": "Ministry of Environment"})
    assert response.status_code == 200
    assert response.json()["forwarded_to"] == "Ministry of Environment"


def test_an_internal_note_is_history_and_audited(client: StaffClient) -> None:
    reference = make_document_request(client.db)
    headers = client.as_role("info_office")
    before = len(outbox(client))
    response = client.post(f"{API}/{reference}/notes", headers=headers,
                           json={"text": "Asked the archive on Monday"})
    assert response.status_code == 201 and response.json()["internal"]
    detail = client.get(f"{API}/{reference}", headers=headers).json()
    assert detail["events"][-1]["text"] == "Asked the archive on Monday"
    assert detail["events"][-1]["internal"] is True
    assert len(outbox(client)) == before  # the citizen is not told
    note = audit_entries(client, "documents.note")[0]
    assert note.object_id == reference and note.after
    assert note.after["text"] == "Asked the archive on Monday"
    assert actions(client)[-1] == "documents.view"
    assert client.post(f"{API}/{reference}/notes", headers=headers,
                       json={"text": "x" * 2001}).status_code == 422


# --- files --------------------------------------------------------------------------------

def test_upload_checks_the_content_and_size(client: StaffClient,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    reference = make_document_request(client.db)
    headers = client.as_role("info_office")
    problem(client.post(f"{API}/{reference}/files", headers=headers,
                        files={"file": ("plan.pdf", b"MZ\x90\x00 not a pdf",
                                        "application/pdf")}), 422, "not_a_document")
    problem(client.post(f"{API}/{reference}/files", headers=headers,
                        files={"file": ("plan.docx", b"PK\x03\x04garbage",
                                        "application/octet-stream")}), 422, "not_a_document")
    monkeypatch.setattr(stored, "MAX_BYTES", 100)
    problem(client.post(f"{API}/{reference}/files", headers=headers,
                        files={"file": ("big.pdf", PDF + b"0" * 200, "application/pdf")}), 413,
            "file_too_large")
    monkeypatch.undo()
    assert actions(client) == []

    made = client.post(f"{API}/{reference}/files", headers=headers,
                       files={"file": ("../../Odluka.exe", docx(), "application/x-msdownload")})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["file_name"] == "Odluka.exe.docx"
    assert body["mime_type"].endswith("wordprocessingml.document") and body["sent_at"] is None
    with client.db.read_session() as session:
        row = session.scalars(select(DocumentFile)).one()
        path = Path(row.path)
    settings = client.app.state.runtime.settings  # type: ignore[attr-defined]
    assert path.parent == (settings.media_dir / "documents" / reference).resolve()
    assert path.read_bytes() == docx() and "Odluka" not in path.name
    entry = audit_entries(client, "documents.file")[0]
    assert entry.object_id == reference and entry.after and entry.after["size"] == len(docx())


def test_granting_with_files_sends_them_through_the_bot(client: StaffClient) -> None:
    reference = make_document_request(client.db)
    headers = client.as_role("info_office")
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    runtime.settings.public_url = "https://bot.klokot.example/"
    runtime.engine.files = dataclasses.replace(runtime.engine.files,
                                               public_url=runtime.settings.public_url)
    uploaded = client.post(f"{API}/{reference}/files", headers=headers,
                           files={"file": ("decision.pdf", PDF, "application/pdf")})
    assert uploaded.status_code == 201
    before = len(outbox(client))
    granted = client.post(f"{API}/{reference}/transition", headers=headers,
                          json={"status": "granted", "deliver_files": True})
    assert granted.status_code == 200, granted.text
    assert granted.json()["files"][0]["sent_at"]
    sent = outbox(client)[before:]
    with_file = [m for m in sent if m.body.get("file")]
    assert len(sent) == 2 and len(with_file) == 1
    file = with_file[0].body["file"]
    with client.db.read_session() as session:
        row = session.scalars(select(DocumentFile)).one()
        assert file["path"] == row.path and row.sent_at is not None
    assert file["file_name"] == "decision.pdf" and file["mime_type"] == "application/pdf"
    assert file["url"].startswith("https://bot.klokot.example/files/")
    entry = audit_entries(client, "documents.transition")[-1]
    assert entry.after and entry.after["files_sent"] == [row.id]

    # the signed link works without signing in; forged or expired ones find nothing
    link = file["url"].removeprefix("https://bot.klokot.example")
    fetched = client.get(link)
    assert fetched.status_code == 200 and fetched.content == PDF
    token = link.removeprefix("/files/")
    file_id, expires, signature = token.split(".")
    assert client.get(f"/files/{file_id}.{int(expires) + 1}.{signature}").status_code == 404
    assert client.get(f"/files/{file_id}.{expires}.{'0' * 64}").status_code == 404
    expired = runtime.engine.files.sign(str(row.id), now=utcnow() - timedelta(days=8))
    assert client.get(f"/files/{expired}").status_code == 404
    assert client.get("/files/nonsense").status_code == 404


def test_without_public_url_the_file_goes_by_path_only(client: StaffClient) -> None:
    reference = make_document_request(client.db)
    headers = client.as_role("admin")
    client.post(f"{API}/{reference}/files", headers=headers,
                files={"file": ("map.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20,
                                "image/png")}).raise_for_status()
    client.post(f"{API}/{reference}/transition", headers=headers,
                json={"status": "partially_granted", "reason": "One page is withheld",
                      "deliver_files": True}).raise_for_status()
    file = next(m.body["file"] for m in outbox(client) if m.body.get("file"))
    assert file["path"].endswith(".png") and file["url"] is None


# --- export and summary ---------------------------------------------------------------------

def test_the_csv_export_is_excel_safe_and_audited(client: StaffClient) -> None:
    make_document_request(client.db, description="=HYPERLINK(\"http://evil\")")
    headers = client.as_role("info_office")
    response = client.get(f"{API}.csv", headers=headers)
    assert response.status_code == 200 and response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][0] == "reference" and "description" in rows[0]
    assert rows[1][rows[0].index("description")].startswith("'=")
    assert actions(client) == ["documents.export"]
    viewer = client.as_role("viewer")
    plain = client.get(f"{API}.csv", headers=viewer).content.decode("utf-8-sig")
    assert "description" not in plain and "full_name" not in plain


def test_the_summary_counts_the_year(client: StaffClient) -> None:
    headers = client.as_role("admin")
    year = utcnow().astimezone(PROFILE.tz).year
    start = datetime(year, 1, 2, 10, tzinfo=PROFILE.tz)
    refs = [make_document_request(client.db, registered_at=start) for _ in range(5)]
    make_document_request(client.db, registered_at=datetime(year - 1, 6, 1, tzinfo=PROFILE.tz))
    for reference, body in zip(refs, [{"status": "granted"},
                                      {"status": "refused", "reason": "Private data"},
                                      {"status": "withdrawn"},
                                      {"status": "forwarded", "forwarded_to": "Ministry"}],
                               strict=False):
        client.post(f"{API}/{reference}/transition", headers=headers,
                    json=body).raise_for_status()
    summary = client.get(f"{API}/summary", headers=headers, params={"year": year}).json()
    assert summary["year"] == year and summary["received"] == 5
    assert (summary["granted"], summary["refused"], summary["withdrawn"],
            summary["forwarded"], summary["partially_granted"]) == (1, 1, 1, 1, 0)
    is_overdue = utcnow() > request_row(client, refs[4]).due_at
    assert summary["overdue"] == (1 if is_overdue else 0)
    assert summary["median_days_to_decision"] is not None
    assert summary["median_days_to_decision"] > 0
    last = client.get(f"{API}/summary", headers=headers, params={"year": year - 1}).json()
    assert last["received"] == 1 and last["median_days_to_decision"] is None
    assert client.get(f"{API}/summary", headers=headers,
                      params={"year": 1999}).status_code == 422


def test_a_granted_document_s_link_answers_410_after_its_citizen_erased_their_data(
        client: StaffClient) -> None:
    """The document stays as the record of the request; the link sent to the
    citizen stops working with /forget (security review, item 7)."""
    from bot.models import Citizen
    from bot.services import data_rights

    reference = make_document_request(client.db)
    headers = client.as_role("info_office")
    uploaded = client.post(f"{API}/{reference}/files", headers=headers,
                           files={"file": ("decision.pdf", PDF, "application/pdf")})
    assert uploaded.status_code == 201
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    link = "/files/" + runtime.engine.files.sign(str(uploaded.json()["id"]))
    assert client.get(link).status_code == 200
    with client.db.session() as session:
        request = session.scalar(select(DocumentRequest).where(
            DocumentRequest.reference == reference))
        assert request is not None
        citizen = session.get(Citizen, request.citizen_id)
        assert citizen is not None
        data_rights.erase(session, citizen, now=utcnow())
    gone = client.get(link)
    assert gone.status_code == 410 and gone.json()["code"] == "gone"
    with client.db.read_session() as session:  # kept as the municipality's record
        assert len(session.scalars(select(DocumentFile)).all()) == 1
