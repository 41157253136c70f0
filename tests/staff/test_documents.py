"""The staff use-cases of document requests without HTTP: the queue scoped
to a department officer's own requests, names and descriptions only for
roles that may see them (and then audited), a state change with its audit
entry and the granted file sent by a signed link, invalid input refused as
`Invalid` and a change the state does not allow as `Conflict`, the page's
filters from a form, and the CSV without personal columns for a viewer."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import Database, utcnow
from bot.filestore import FileStore
from bot.i18n import Catalogs
from bot.models import DocumentRequest, DocumentStatus, OutboxMessage
from bot.profile import get_profile
from bot.refusals import Conflict, Invalid, NotFound
from bot.staff.documents import actions, export, views
from bot.staff.documents.views import RequestFilters
from bot.staff.query import PageWindow
from tests.factories import (
    audit_log,
    load_staff,
    make_citizen,
    make_document_request,
    make_staff,
)

PROFILE = get_profile()
CATALOGS = Catalogs(PROFILE.enabled_locales)
PDF = b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def status_of(db: Database, reference: str) -> DocumentStatus:
    with db.read_session() as session:
        found = session.scalar(select(DocumentRequest.status).where(
            DocumentRequest.reference == reference))
        assert found is not None
        return found


def test_a_department_officer_sees_and_finds_only_their_own(db: Database) -> None:
    own = make_document_request(db, department=None)
    other = make_document_request(db, department="agriculture")  # a guess, not forwarded
    staff_id = make_staff(db, "dep1", "department", "agriculture")
    info_id = make_staff(db, "info1", "info_office")
    now = utcnow()
    with db.session() as session:
        actions.act_forward(session, PROFILE, CATALOGS, load_staff(session, info_id), None,
                            reference=own, department="agriculture", now=now)
    with db.session() as session:
        staff = load_staff(session, staff_id)
        rows, total = views.queue(session, PROFILE, staff, RequestFilters(), PageWindow(),
                                  now=now, ip="203.0.113.9")
        assert [r.reference for r in rows] == [own] and total == 1
        assert rows[0].full_name == "Arta Krasniqi"  # their own items: personal data
        assert views.show_request(session, staff, own, now=now, ip=None).reference == own
        with pytest.raises(NotFound):
            views.show_request(session, staff, other, now=now, ip=None)
        with pytest.raises(NotFound):
            actions.act_note(session, staff, None, reference=other, text="probe", now=now)
        assert views.summary(session, PROFILE, staff, None, now).received == 1
    forwarded, listed, viewed = audit_log(db, "documents.")
    assert forwarded.action == "documents.forward" and forwarded.username == "info1"
    assert listed.action == "documents.list" and listed.detail == "1 shown"
    assert listed.item_references == [own]
    assert listed.ip == "203.0.113.9"
    assert viewed.action == "documents.view" and viewed.object_id == own


def test_a_viewer_gets_no_names_and_nothing_is_audited(db: Database) -> None:
    reference = make_document_request(db, full_name="Marko Jovanović")
    staff_id = make_staff(db, "viewer1", "viewer")
    now = utcnow()
    with db.session() as session:
        staff = load_staff(session, staff_id)
        rows, _ = views.queue(session, PROFILE, staff, RequestFilters(), PageWindow(), now=now,
                              ip=None)
        detail = views.show_request(session, staff, reference, now=now, ip=None)
        body = export.export_csv(session, PROFILE, staff, RequestFilters(), now=now, ip=None)
    assert rows[0].full_name is None and rows[0].description is None
    assert detail.full_name is None and detail.description is None
    header = next(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert "full_name" not in header and "description" not in header
    # the export, not views
    assert [e.action for e in audit_log(db, "documents.")] == ["documents.export"]
    assert audit_log(db, "documents.")[0].detail == "csv, 1 rows, personal=no, filters {}"


def test_a_grant_sends_the_uploaded_file_and_is_audited(db: Database, tmp_path: Path) -> None:
    reference = make_document_request(db)
    staff_id = make_staff(db, "info1", "info_office")
    files = FileStore(tmp_path / "media", "https://bot.klokot.example", "secret-0123456789")
    now = utcnow()
    with db.session() as session:
        staff = load_staff(session, staff_id)
        stored = actions.act_upload(session, files, staff, None, reference=reference,
                                    name="C:\\scans\\decision.PDF", data=PDF, now=now)
        assert stored.file_name == "decision.pdf" and stored.mime_type == "application/pdf"
        assert Path(stored.path).parent == (tmp_path / "media" / "documents" / reference
                                            ).resolve()
        request = actions.act_transition(
            session, PROFILE, CATALOGS, files, staff, "203.0.113.9", reference=reference,
            status=DocumentStatus.granted, reason=None, extension_days=None,
            forwarded_to=None, deliver_files=True, now=now)
        assert request.status is DocumentStatus.granted and request.decided_at == now
        file_id = stored.id
    with db.read_session() as session:
        bodies = [m.body for m in session.scalars(select(OutboxMessage))]
    sent = [b["file"] for b in bodies if b.get("file")]
    assert len(sent) == 1 and sent[0]["url"].startswith("https://bot.klokot.example/files/")
    assert files.signed_name(sent[0]["url"].rsplit("/", 1)[1]) == str(file_id)
    upload, change = audit_log(db, "documents.")
    assert upload.action == "documents.file" and upload.after
    assert upload.after["size"] == len(PDF)
    assert change.action == "documents.transition" and change.object_id == reference
    assert change.before and change.before["status"] == "received"
    assert change.after and change.after["status"] == "granted"
    assert change.after["files_sent"] == [file_id] and change.ip == "203.0.113.9"


def test_invalid_input_is_invalid_and_changes_nothing(db: Database, tmp_path: Path) -> None:
    reference = make_document_request(db)
    staff_id = make_staff(db, "info1", "info_office")
    files = FileStore(tmp_path / "media", None, "secret-0123456789")
    now = utcnow()
    with db.session() as session:
        staff = load_staff(session, staff_id)
        for status, extra, code in (
                (DocumentStatus.refused, {"reason": " \x00 "}, "reason_required"),
                (DocumentStatus.forwarded, {"forwarded_to": "  "}, "institution_required"),
                (DocumentStatus.extended, {"reason": "Archive"}, "invalid_extension")):
            arguments = {"reason": None, "extension_days": None, "forwarded_to": None, **extra}
            with pytest.raises(Invalid) as refused:
                actions.act_transition(session, PROFILE, CATALOGS, files, staff, None,
                                       reference=reference, status=status,
                                       deliver_files=False, now=now,
                                       **arguments)  # type: ignore[arg-type]
            assert refused.value.code == code and refused.value.status == 422
        with pytest.raises(Invalid) as empty_note:
            actions.act_note(session, staff, None, reference=reference, text="\x00 \x07",
                             now=now)
        assert empty_note.value.code == "empty_note"
        for data in (b"", b"MZ\x90\x00 not a document", b"PK\x03\x04garbage"):
            with pytest.raises(Invalid) as not_document:
                actions.act_upload(session, files, staff, None, reference=reference,
                                   name="plan.pdf", data=data, now=now)
            assert not_document.value.code == "not_a_document"
    assert status_of(db, reference) is DocumentStatus.received
    assert audit_log(db, "documents.") == [] and not (tmp_path / "media").exists()


def test_a_change_the_state_does_not_allow_is_a_conflict(db: Database) -> None:
    decided = make_document_request(db)
    extended = make_document_request(db)
    staff_id = make_staff(db, "info1", "info_office")
    files = FileStore(Path("unused"), None, "secret-0123456789")
    now = utcnow()

    def move(session: Session, reference: str, status: DocumentStatus,
             **extra: object) -> DocumentRequest:
        arguments: dict[str, object] = {"reason": None, "extension_days": None,
                                        "forwarded_to": None, **extra}
        return actions.act_transition(session, PROFILE, CATALOGS, files,
                                      load_staff(session, staff_id), None, reference=reference,
                                      status=status, deliver_files=False, now=now,
                                      **arguments)  # type: ignore[arg-type]

    with db.session() as session:
        move(session, decided, DocumentStatus.withdrawn)
        move(session, extended, DocumentStatus.extended, reason="Archive", extension_days=5)
        move(session, extended, DocumentStatus.in_progress)
    with db.session() as session:
        with pytest.raises(Conflict) as not_allowed:
            move(session, decided, DocumentStatus.in_progress)
        assert not_allowed.value.code == "transition_not_allowed"
        with pytest.raises(Conflict) as twice:
            move(session, extended, DocumentStatus.extended, reason="Again", extension_days=3)
        assert twice.value.code == "already_extended" and twice.value.status == 409
    assert status_of(db, decided) is DocumentStatus.withdrawn
    assert status_of(db, extended) is DocumentStatus.in_progress
    assert [e.action for e in audit_log(db, "documents.")] == ["documents.transition"] * 3


def test_the_filters_from_a_form() -> None:
    assert views.filters_of(PROFILE, {"status": "", "department": "", "overdue": "",
                                      "due_within_hours": ""}) == RequestFilters()
    assert views.filters_of(PROFILE, {"overdue": "perhaps"}).overdue is None
    chosen = views.filters_of(PROFILE, {"status": "granted", "department": "agriculture",
                                        "overdue": "no", "due_within_hours": "48"})
    assert chosen == RequestFilters(status=DocumentStatus.granted, department="agriculture",
                                    overdue=False, due_within_hours=48)
    for values in ({"status": "lost"}, {"department": "nowhere"},
                   {"due_within_hours": "721"}, {"due_within_hours": "soon"}):
        with pytest.raises(Invalid) as refused:
            views.filters_of(PROFILE, values)
        assert refused.value.code == "invalid_filter"


def test_forwarding_tells_that_departments_officers_in_their_chat(db: Database) -> None:
    """The department's linked officers hear of a request forwarded to them,
    in their own language; the department the citizen guessed hears nothing."""
    from bot.models import ChannelAccount
    from bot.models.staff import StaffUser

    reference = make_document_request(db, department="assembly")
    officers = {"dep1": make_staff(db, "dep1", "department", "agriculture", language="sq"),
                "dep2": make_staff(db, "dep2", "department", "assembly")}
    info_id = make_staff(db, "info1", "info_office")
    for username, external_id in (("dep1", "701"), ("dep2", "702")):
        make_citizen(db, external_id=external_id)
        with db.session() as session:
            account = session.scalars(select(ChannelAccount).where(
                ChannelAccount.external_id == external_id)).one()
            staff = session.get(StaffUser, officers[username])
            assert staff is not None
            staff.chat_account_id = account.id
    with db.session() as session:
        actions.act_forward(session, PROFILE, CATALOGS, load_staff(session, info_id), None,
                            reference=reference, department="agriculture", now=utcnow())
        due = session.scalars(select(DocumentRequest.due_at)).one()
    with db.read_session() as session:
        sent = session.scalars(select(OutboxMessage)).all()
    assert [m.chat_id for m in sent] == ["701"]
    assert sent[0].body["text"] == CATALOGS.gettext(
        "sq", "documents.alert_forwarded", reference=reference,
        due=f"{due.astimezone(PROFILE.tz):%Y-%m-%d}")
