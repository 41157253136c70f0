"""Requests for public documents for staff (SPEC §3.3, §3.7): the queue by
due date, each request with its history and files, state changes (the
citizen is told), internal notes, uploads delivered through the bot, a CSV
export and the year's summary.

Department officers see and act only on their own department's requests;
another department's request is 404 for them, so references cannot be
probed. Descriptions and names only for roles that may see personal data
(department officers: their own items); every answer that shows them is
audited, and every write is audited with its before and after. The
functions under "actions" are shared with the staff pages."""

from __future__ import annotations

import statistics
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Path, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import Select, case, select
from sqlalchemy.orm import Session

from bot.admin import files as stored
from bot.admin.api.reception import clean
from bot.admin.common import Page, PageParams, Problem, problems
from bot.admin.deps import RuntimeDep, SessionDep, client_ip, require
from bot.admin.export import csv_response
from bot.admin.paging import page_params
from bot.db import utcnow
from bot.messages import FileRef
from bot.models import DocumentEvent, DocumentFile, DocumentForm, DocumentRequest, DocumentStatus
from bot.models.documents import DECIDED
from bot.models.staff import StaffUser
from bot.profile import Profile
from bot.runtime import Runtime
from bot.services import deadlines
from bot.services import documents as service
from bot.staff import audit
from bot.staff.export import Column, write_csv
from bot.staff.permissions import Access, Capability, access, department_scoped
from bot.staff.query import check_choice, paginate, sorted_by

router = APIRouter(prefix="/document-requests", tags=["documents"])
Reader = Annotated[StaffUser, Depends(require(Capability.documents))]
Writer = Annotated[StaffUser, Depends(require(Capability.documents, write=True))]
READ_ERRORS = problems(401, 403, 422)
ONE_ERRORS = problems(401, 403, 404, 422)
WRITE_ERRORS = problems(401, 403, 404, 409, 422)
UPLOAD_ERRORS = problems(401, 403, 404, 409, 413, 422)
REFERENCE = r"^D-[0-9]{4}-[0-9]{4,10}$"
DUE_SOON_HOURS = 48
NOTE_MAX = 2000
EXPORT_MAX = 20_000
DELIVERABLE = frozenset({DocumentStatus.granted, DocumentStatus.partially_granted})
ReferencePath = Annotated[str, Path(pattern=REFERENCE, max_length=16,
                                    description="The reference, e.g. D-2026-0007")]


# --- shapes ---------------------------------------------------------------------

class RequestOut(BaseModel):
    reference: str
    status: DocumentStatus
    registered_at: datetime
    due_at: datetime
    overdue: bool = Field(description="Undecided and the deadline passed")
    due_soon: bool = Field(description="Undecided and due within 48 hours")
    department: str | None
    form: DocumentForm
    life_or_liberty: bool
    extended: bool
    forwarded_to: str | None
    decided_at: datetime | None
    description: str | None = Field(None, description="Only for roles that see personal data")
    full_name: str | None = Field(None, description="Only for roles that see personal data")
    citizen_erased: bool = Field(False, description="The citizen erased their data (/forget); "
                                                    "the request stays, without a name")


class EventOut(BaseModel):
    at: datetime
    by: str
    status_from: str | None
    status_to: str | None
    text: str | None
    internal: bool


class FileOut(BaseModel):
    id: int
    file_name: str
    mime_type: str
    size: int
    uploaded_by: str
    uploaded_at: datetime
    sent_at: datetime | None


class RequestDetail(RequestOut):
    events: list[EventOut]
    files: list[FileOut]


class TransitionIn(BaseModel):
    status: DocumentStatus
    reason: str | None = Field(None, max_length=service.REASON_MAX,
                               description="Required for `refused` and `extended`; told "
                                           "to the citizen")
    extension_days: int | None = Field(None, ge=1, le=deadlines.MAX_EXTENSION_DAYS,
                                       description="With `extended`: 1 to 15 days, once")
    forwarded_to: str | None = Field(None, max_length=300,
                                     description="With `forwarded`: the institution")
    deliver_files: bool = Field(False, description="With `granted`/`partially_granted`: send "
                                                   "the uploaded, not yet sent files")


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=NOTE_MAX, description="Never shown to the citizen")


class SummaryOut(BaseModel):
    year: int
    received: int
    granted: int
    partially_granted: int
    refused: int
    withdrawn: int
    forwarded: int
    overdue: int = Field(description="Undecided and past the deadline now")
    median_days_to_decision: float | None = Field(
        description="From registration to decision (forwarding included, withdrawals not)")


# --- helpers ------------------------------------------------------------------------

def shows_personal(staff: StaffUser) -> bool:
    """Department officers see personal data of their own department's items,
    which are the only ones they see here."""
    return access(staff.role, Capability.personal_data) >= Access.department


def scoped(stmt: Select[Any], staff: StaffUser) -> Select[Any]:
    if department_scoped(staff.role, Capability.documents):
        return stmt.where(DocumentRequest.department == staff.department)
    return stmt


def find_request(session: Session, staff: StaffUser, reference: str) -> DocumentRequest:
    found = session.scalar(scoped(select(DocumentRequest).where(
        DocumentRequest.reference == reference), staff))
    if found is None:
        raise Problem(404, "not_found", f"no document request {reference}")
    return found


def request_out(request: DocumentRequest, personal: bool, now: datetime) -> RequestOut:
    decided = request.decided
    return RequestOut(
        reference=request.reference, status=request.status,
        registered_at=request.registered_at, due_at=request.due_at,
        overdue=deadlines.is_overdue(request.due_at, now, decided=decided),
        due_soon=not decided and now <= request.due_at < now + timedelta(hours=DUE_SOON_HOURS),
        department=request.department, form=request.form,
        life_or_liberty=request.life_or_liberty, extended=request.extended,
        forwarded_to=request.forwarded_to, decided_at=request.decided_at,
        description=request.description if personal else None,
        full_name=request.full_name if personal else None,
        citizen_erased=request.account_id is None)


def file_out(file: DocumentFile) -> FileOut:
    return FileOut(id=file.id, file_name=file.file_name, mime_type=file.mime_type,
                   size=file.size, uploaded_by=file.uploaded_by,
                   uploaded_at=file.uploaded_at, sent_at=file.sent_at)


def detail_out(request: DocumentRequest, personal: bool, now: datetime) -> RequestDetail:
    return RequestDetail(
        **request_out(request, personal, now).model_dump(),
        events=[EventOut(at=e.at, by=e.by, status_from=e.status_from, status_to=e.status_to,
                         text=e.text, internal=e.internal) for e in request.events],
        files=[file_out(f) for f in request.files])


def audit_shown(session: Session, staff: StaffUser, action: str, references: Sequence[str],
                ip: str | None, detail: str | None = None) -> None:
    if not references:
        return
    text = "references " + ",".join(references)
    audit.record(session, staff, action, object_type="document_request",
                 object_id=references[0] if len(references) == 1 else None,
                 detail=f"{detail}: {text}" if detail else text, ip=ip)


def snapshot(request: DocumentRequest) -> dict[str, Any]:
    return {"status": request.status.value, "due_at": request.due_at.isoformat(),
            "extended": request.extended, "forwarded_to": request.forwarded_to}


def department_codes(profile: Profile) -> list[str]:
    return [d.code for d in profile.departments]


# --- queries shared with the staff pages ---------------------------------------------

@dataclass
class RequestFilters:
    """`department` takes the profile's codes (see the schema's enum)."""

    status: DocumentStatus | None = None
    department: str | None = None
    overdue: bool | None = None
    due_within_hours: int | None = None


def request_filters(
    status: DocumentStatus | None = None,
    department: Annotated[str | None, Query(max_length=32)] = None,
    overdue: Annotated[bool | None, Query(description="Undecided and past the deadline")
                       ] = None,
    due_within_hours: Annotated[int | None, Query(
        ge=1, le=720, description="Undecided and due within this many hours from now")] = None,
) -> RequestFilters:
    return RequestFilters(status, department, overdue, due_within_hours)


RequestPage = page_params("due_at", "registered_at", "reference")


def requests_query(profile: Profile, staff: StaffUser, filters: RequestFilters,
                   now: datetime) -> Select[Any]:
    check_choice("department", filters.department, department_codes(profile))
    undecided = DocumentRequest.status.not_in(list(DECIDED))
    stmt = scoped(select(DocumentRequest), staff)
    if filters.status:
        stmt = stmt.where(DocumentRequest.status == filters.status)
    if filters.department:
        stmt = stmt.where(DocumentRequest.department == filters.department)
    if filters.overdue is True:
        stmt = stmt.where(undecided, DocumentRequest.due_at < now)
    elif filters.overdue is False:
        stmt = stmt.where(~(undecided & (DocumentRequest.due_at < now)))
    if filters.due_within_hours:
        stmt = stmt.where(undecided, DocumentRequest.due_at >= now,
                          DocumentRequest.due_at < now + timedelta(
                              hours=filters.due_within_hours))
    return stmt


def queue_order() -> list[Any]:
    """Undecided first, then by due date."""
    decided_last = case((DocumentRequest.status.in_(list(DECIDED)), 1), else_=0)
    return [decided_last, DocumentRequest.due_at, DocumentRequest.id]


def list_requests(session: Session, profile: Profile, staff: StaffUser,
                  filters: RequestFilters, page: PageParams,
                  now: datetime) -> tuple[list[DocumentRequest], int]:
    stmt = sorted_by(requests_query(profile, staff, filters, now), page.sort,
                     {"due_at": DocumentRequest.due_at,
                      "registered_at": DocumentRequest.registered_at,
                      "reference": DocumentRequest.reference}, default=queue_order())
    return paginate(session, stmt, page)


def urgent_lists(session: Session, profile: Profile, staff: StaffUser,
                 now: datetime) -> tuple[list[DocumentRequest], list[DocumentRequest]]:
    """What is overdue, and what is due today (local), in the officer's scope."""
    local = now.astimezone(profile.tz)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    base = scoped(select(DocumentRequest), staff).where(
        DocumentRequest.status.not_in(list(DECIDED)))
    late = session.scalars(base.where(DocumentRequest.due_at < now)
                           .order_by(DocumentRequest.due_at)).all()
    today = session.scalars(base.where(DocumentRequest.due_at >= now,
                                       DocumentRequest.due_at < start + timedelta(days=1))
                            .order_by(DocumentRequest.due_at)).all()
    return list(late), list(today)


EXPORT_COLUMNS = [
    Column("reference"), Column("status"), Column("registered_at"), Column("due_at"),
    Column("overdue"), Column("department"), Column("form"), Column("life_or_liberty"),
    Column("extended"), Column("forwarded_to"), Column("decided_at"),
    Column("full_name", personal=True), Column("description", personal=True),
]


def export_requests(session: Session, runtime: Runtime, staff: StaffUser,
                    filters: RequestFilters, ip: str | None) -> Response:
    now = utcnow()
    stmt = requests_query(runtime.profile, staff, filters, now).order_by(*queue_order())
    rows = session.scalars(stmt.limit(EXPORT_MAX)).all()
    personal = shows_personal(staff)
    body = write_csv(EXPORT_COLUMNS, [
        (r.reference, r.status.value, r.registered_at, r.due_at,
         deadlines.is_overdue(r.due_at, now, decided=r.decided), r.department, r.form.value,
         r.life_or_liberty, r.extended, r.forwarded_to, r.decided_at, r.full_name,
         r.description) for r in rows], personal=personal)
    shown = {k: v for k, v in vars(filters).items() if v is not None}
    audit.record(session, staff, "documents.export", object_type="document_request",
                 detail=f"csv, {len(rows)} rows, personal={'yes' if personal else 'no'}, "
                        f"filters {shown}", ip=ip)
    return csv_response(body, f"document-requests-{now:%Y%m%d-%H%M}.csv")


def summary(session: Session, profile: Profile, staff: StaffUser, year: int,
            now: datetime) -> SummaryOut:
    """The requests registered in this (local) year, by where they stand now."""
    start = datetime(year, 1, 1, tzinfo=profile.tz)
    end = datetime(year + 1, 1, 1, tzinfo=profile.tz)
    rows = session.scalars(scoped(select(DocumentRequest), staff).where(
        DocumentRequest.registered_at >= start, DocumentRequest.registered_at < end)).all()
    counts = {s: sum(1 for r in rows if r.status is s) for s in DocumentStatus}
    days = [(r.decided_at - r.registered_at).total_seconds() / 86400 for r in rows
            if r.decided_at is not None and r.status is not DocumentStatus.withdrawn]
    return SummaryOut(
        year=year, received=len(rows), granted=counts[DocumentStatus.granted],
        partially_granted=counts[DocumentStatus.partially_granted],
        refused=counts[DocumentStatus.refused], withdrawn=counts[DocumentStatus.withdrawn],
        forwarded=counts[DocumentStatus.forwarded],
        overdue=sum(1 for r in rows if deadlines.is_overdue(r.due_at, now, decided=r.decided)),
        median_days_to_decision=round(statistics.median(days), 1) if days else None)


# --- actions: a change and its audit entry, for the API and the pages ----------------

def act_transition(session: Session, runtime: Runtime, staff: StaffUser, ip: str | None, *,
                   reference: str, status: DocumentStatus, reason: str | None,
                   extension_days: int | None, forwarded_to: str | None,
                   deliver_files: bool) -> DocumentRequest:
    """Every rule broken is a 409 with the service's stable code."""
    request = find_request(session, staff, reference)
    before = snapshot(request)
    now = utcnow()
    sending = [f for f in request.files if f.sent_at is None] if (
        deliver_files and status in DELIVERABLE) else []
    refs = [FileRef(path=f.path, file_name=f.file_name, mime_type=f.mime_type,
                    url=runtime.engine.files.link(str(f.id))) for f in sending]
    try:
        service.transition(session, runtime.profile, runtime.catalogs, request, status,
                           by=staff.username, now=now, reason=clean(reason) or None,
                           extension_days=extension_days,
                           forwarded_to=clean(forwarded_to) or None, files=refs or None)
    except service.TransitionRefused as err:
        raise Problem(409, err.code, str(err)) from err
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


def act_note(session: Session, staff: StaffUser, ip: str | None, *, reference: str,
             text: str) -> DocumentEvent:
    request = find_request(session, staff, reference)
    body = "".join(ch for ch in text if unicodedata.category(ch) not in {"Cc", "Cs"}
                   or ch in "\t\n\r").strip()
    if not body:
        raise Problem(409, "empty_note", "the note is empty")
    event = DocumentEvent(request_id=request.id, at=utcnow(), by=staff.username, text=body,
                          internal=True)
    session.add(event)
    session.flush()
    audit.record(session, staff, "documents.note", object_type="document_request",
                 object_id=reference, before=None, after={"note": event.id, "text": body},
                 ip=ip)
    return event


def read_upload(upload: UploadFile) -> bytes:
    data = upload.file.read(stored.MAX_BYTES + 1)
    if len(data) > stored.MAX_BYTES:
        raise Problem(413, "file_too_large", "a document may be at most 20 MB")
    if not data:
        raise Problem(409, "not_a_document", "the file is empty")
    return data


def act_upload(session: Session, runtime: Runtime, staff: StaffUser, ip: str | None, *,
               reference: str, name: str | None, data: bytes) -> DocumentFile:
    request = find_request(session, staff, reference)
    kind = stored.sniff(data)
    if kind is None:
        raise Problem(409, "not_a_document",
                      "only PDF, JPEG, PNG, DOCX, XLSX and ODT documents can be sent")
    path = stored.store(runtime.settings, request.reference, data, kind)
    file = DocumentFile(request_id=request.id, path=str(path),
                        file_name=stored.clean_name(name, kind), mime_type=stored.MIME[kind],
                        size=len(data), uploaded_by=staff.username, uploaded_at=utcnow())
    session.add(file)
    session.flush()
    audit.record(session, staff, "documents.file", object_type="document_request",
                 object_id=reference, before=None,
                 after={"file": file.id, "file_name": file.file_name,
                        "mime_type": file.mime_type, "size": file.size}, ip=ip)
    return file


# --- routes --------------------------------------------------------------------------

@router.get("", response_model=Page[RequestOut], responses=READ_ERRORS)
def requests(staff: Reader, session: SessionDep, runtime: RuntimeDep, request: Request,
             filters: Annotated[RequestFilters, Depends(request_filters)],
             page: Annotated[PageParams, Depends(RequestPage)]) -> Page[RequestOut]:
    """The queue: undecided first, by due date; descriptions and names only where allowed."""
    now = utcnow()
    rows, total = list_requests(session, runtime.profile, staff, filters, page, now)
    personal = shows_personal(staff)
    if personal:
        audit_shown(session, staff, "documents.list", [r.reference for r in rows],
                    client_ip(request))
    return Page(items=[request_out(r, personal, now) for r in rows], total=total,
                limit=page.limit, offset=page.offset)


@router.get(".csv", response_class=Response, responses={
    200: {"description": "CSV, UTF-8 with BOM", "content": {"text/csv": {
        "schema": {"type": "string"}}}}, **READ_ERRORS})
def requests_csv(staff: Reader, session: SessionDep, runtime: RuntimeDep, request: Request,
                 filters: Annotated[RequestFilters, Depends(request_filters)]) -> Response:
    """The requests matching the filters as CSV (Excel-safe); every export is audited."""
    return export_requests(session, runtime, staff, filters, client_ip(request))


@router.get("/summary", response_model=SummaryOut, responses=READ_ERRORS)
def year_summary(staff: Reader, session: SessionDep, runtime: RuntimeDep,
                 year: Annotated[int | None, Query(ge=2000, le=2100)] = None) -> SummaryOut:
    """A year's requests (by registration) and how they ended; this year by default."""
    now = utcnow()
    return summary(session, runtime.profile, staff,
                   year or now.astimezone(runtime.profile.tz).year, now)


@router.get("/{reference}", response_model=RequestDetail, responses=ONE_ERRORS)
def request_detail(reference: ReferencePath, staff: Reader, session: SessionDep,
                   request: Request) -> RequestDetail:
    """One request with its history (internal notes included) and files."""
    found = find_request(session, staff, reference)
    personal = shows_personal(staff)
    if personal:
        audit_shown(session, staff, "documents.view", [found.reference], client_ip(request))
    return detail_out(found, personal, utcnow())


@router.post("/{reference}/transition", response_model=RequestDetail, responses=WRITE_ERRORS)
def transition(reference: ReferencePath, body: TransitionIn, staff: Writer,
               session: SessionDep, runtime: RuntimeDep, request: Request) -> RequestDetail:
    """Change the state; the citizen is told in their language. A rule broken
    (not allowed from this state, refusal or extension without reason, second
    extension, forwarding without institution) is 409 with its code."""
    found = act_transition(session, runtime, staff, client_ip(request), reference=reference,
                           status=body.status, reason=body.reason,
                           extension_days=body.extension_days,
                           forwarded_to=body.forwarded_to, deliver_files=body.deliver_files)
    return detail_out(found, shows_personal(staff), utcnow())


@router.post("/{reference}/notes", status_code=201, response_model=EventOut,
             responses=WRITE_ERRORS)
def add_note(reference: ReferencePath, body: NoteIn, staff: Writer, session: SessionDep,
             request: Request) -> EventOut:
    """An internal note in the request's history (never shown to the citizen)."""
    event = act_note(session, staff, client_ip(request), reference=reference, text=body.text)
    return EventOut(at=event.at, by=event.by, status_from=None, status_to=None,
                    text=event.text, internal=True)


@router.post("/{reference}/files", status_code=201, response_model=FileOut,
             responses=UPLOAD_ERRORS)
def upload(reference: ReferencePath, staff: Writer, session: SessionDep,
                 runtime: RuntimeDep, request: Request,
                 file: Annotated[UploadFile, File(description="PDF, JPEG, PNG, DOCX, XLSX "
                                                              "or ODT; at most 20 MB")]
                 ) -> FileOut:
    """Upload a document for the citizen; it is sent with a grant (`deliver_files`).
    The content decides what a file is, not its name: anything but PDF, JPEG,
    PNG, DOCX, XLSX or ODT is 409 `not_a_document`; over 20 MB is 413."""
    data = read_upload(file)
    found = act_upload(session, runtime, staff, client_ip(request), reference=reference,
                       name=file.filename, data=data)
    return file_out(found)
