"""What staff do to a document request, each change with its audit entry
(before and after): a state change (the citizen is told, granted files go
with it), forwarding within the municipality to a department, an internal
note, an uploaded file. The API and the staff pages
both call these, so the rules and the audit are the same on both.

Invalid input (a refusal without reason, an empty note, a file that is not a
document) raises `Invalid`; a change the request's state does not allow
raises `Conflict`; a request the officer may not see is `NotFound`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.filestore import FileStore
from bot.i18n import Catalogs
from bot.messages import FileRef
from bot.models import DocumentEvent, DocumentFile, DocumentRequest, DocumentStatus
from bot.models.staff import StaffUser
from bot.profile import Profile
from bot.refusals import Forbidden, Invalid
from bot.services import documents as service
from bot.staff import audit
from bot.staff.documents import files as stored
from bot.staff.documents.views import find_request
from bot.staff.permissions import Capability, department_scoped
from bot.staff.text import clean, tidy

NOTE_MAX = 2000
DELIVERABLE = frozenset({DocumentStatus.granted, DocumentStatus.partially_granted})


def snapshot(request: DocumentRequest) -> dict[str, Any]:
    return {"status": request.status.value, "due_at": request.due_at.isoformat(),
            "extended": request.extended, "forwarded_to": request.forwarded_to}


def act_transition(session: Session, profile: Profile, catalogs: Catalogs, files: FileStore,
                   staff: StaffUser, ip: str | None, *, reference: str,
                   status: DocumentStatus, reason: str | None, extension_days: int | None,
                   forwarded_to: str | None, deliver_files: bool,
                   now: datetime) -> DocumentRequest:
    """Move the request to `status` if the rules allow it; with a grant and
    `deliver_files`, the uploaded files not yet sent go to the citizen (by
    path, and by signed link for channels that fetch by URL)."""
    request = find_request(session, staff, reference)
    before = snapshot(request)
    sending = [f for f in request.files if f.sent_at is None] if (
        deliver_files and status in DELIVERABLE) else []
    refs = [FileRef(path=f.path, file_name=f.file_name, mime_type=f.mime_type,
                    url=files.link(str(f.id))) for f in sending]
    service.transition(session, profile, catalogs, request, status, by=staff.username, now=now,
                       reason=clean(reason) or None, extension_days=extension_days,
                       forwarded_to=clean(forwarded_to) or None, files=refs or None)
    for file in sending:
        file.sent_at = now
    after: dict[str, Any] = snapshot(request)
    if reason and reason.strip():
        after["reason"] = clean(reason)
    if extension_days is not None and status is DocumentStatus.extended:
        after["extension_days"] = extension_days
    if sending:
        after["files_sent"] = [f.id for f in sending]
    audit.record(session, staff, "documents.transition", object_type="document_request",
                 object_id=reference, before=before, after=after, ip=ip)
    return request


def act_forward(session: Session, profile: Profile, catalogs: Catalogs, staff: StaffUser,
                ip: str | None, *, reference: str, department: str,
                now: datetime) -> DocumentRequest:
    """Forward the request within the municipality to a department (the info
    office's and admin's work: a department officer cannot pass on what was
    forwarded to them, `forward_not_allowed`). An unknown department is
    `Invalid` (`unknown_department`), a decided request `Conflict`."""
    request = find_request(session, staff, reference)
    if department_scoped(staff.role, Capability.documents):
        raise Forbidden("forward_not_allowed",
                        "only the Office for Information forwards requests to departments")
    before = request.forwarded_department
    service.forward_within(session, profile, catalogs, request, department,
                           by=staff.username, now=now)
    audit.record(session, staff, "documents.forward", object_type="document_request",
                 object_id=reference, before={"forwarded_department": before},
                 after={"forwarded_department": request.forwarded_department}, ip=ip)
    return request


def act_note(session: Session, staff: StaffUser, ip: str | None, *, reference: str,
             text: str, now: datetime) -> DocumentEvent:
    """An internal note in the request's history; the citizen never sees it."""
    request = find_request(session, staff, reference)
    body = tidy(text)
    if not body:
        raise Invalid("empty_note", "the note is empty")
    event = DocumentEvent(request_id=request.id, at=now, by=staff.username, text=body,
                          internal=True)
    session.add(event)
    session.flush()
    audit.record(session, staff, "documents.note", object_type="document_request",
                 object_id=reference, before=None, after={"note": event.id, "text": body},
                 ip=ip)
    return event


def act_upload(session: Session, files: FileStore, staff: StaffUser, ip: str | None, *,
               reference: str, name: str | None, data: bytes,
               now: datetime) -> DocumentFile:
    """Keep a document for the citizen (sent later, with a grant). The content
    decides what a file is, not its name; the web limits the size
    (`files.MAX_BYTES`) before reading it all."""
    request = find_request(session, staff, reference)
    if not data:
        raise Invalid("not_a_document", "the file is empty")
    kind = stored.sniff(data)
    if kind is None:
        raise Invalid("not_a_document",
                      "only PDF, JPEG, PNG, DOCX, XLSX and ODT documents can be sent")
    path = stored.store(files.media_dir, request.reference, data, kind)
    file = DocumentFile(request_id=request.id, path=str(path),
                        file_name=stored.clean_name(name, kind), mime_type=stored.MIME[kind],
                        size=len(data), uploaded_by=staff.username, uploaded_at=now)
    session.add(file)
    session.flush()
    audit.record(session, staff, "documents.file", object_type="document_request",
                 object_id=reference, before=None,
                 after={"file": file.id, "file_name": file.file_name,
                        "mime_type": file.mime_type, "size": file.size}, ip=ip)
    return file
