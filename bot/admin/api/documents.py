"""Requests for public documents for staff (SPEC §3.3, §3.7): the routes of
the queue by due date, each request with its history and files, state
changes (the citizen is told), forwarding to a department, internal notes,
uploads delivered through the bot, a CSV export and the year's summary — and
the request bodies beside them.

The work (department scoping, the personal-data rule, the audit, the rules)
is in `bot.staff.documents`; the staff pages call the same use-cases.
Invalid input is 422, a change the request's state does not allow is 409,
another department's request is 404 (so references cannot be probed)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Path, Query, Request, UploadFile
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from bot.admin.common import CSV, ONE_ERRORS, READ_ERRORS, WRITE_ERRORS, Page, PageParams, problems
from bot.admin.deps import RuntimeDep, SessionDep, client_ip, require
from bot.admin.export import XLSX_TYPE, csv_response, xlsx_response
from bot.admin.files import file_download, read_upload
from bot.admin.paging import page_params
from bot.db import utcnow
from bot.models import DocumentStatus
from bot.models.staff import StaffUser
from bot.services import deadlines
from bot.services import documents as service
from bot.staff.documents import actions, export, views
from bot.staff.permissions import Capability, shows_personal

router = APIRouter(prefix="/document-requests", tags=["documents"])
Reader = Annotated[StaffUser, Depends(require(Capability.documents))]
Writer = Annotated[StaffUser, Depends(require(Capability.documents, write=True))]
UPLOAD_ERRORS = problems(401, 403, 404, 413, 422)
ReferencePath = Annotated[str, Path(pattern=views.REFERENCE, max_length=views.REFERENCE_MAX,
                                    description="The reference, e.g. D-2026-0007")]
Filters = Annotated[views.RequestFilters, Query()]
FileIdPath = Annotated[int, Path(ge=1, le=2**31 - 1)]
RequestPage = page_params(*views.SORTS)


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


class ForwardIn(BaseModel):
    department: str = Field(min_length=1, max_length=32,
                            description="A department code of the profile")


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=actions.NOTE_MAX,
                      description="Never shown to the citizen")


@router.get("", response_model=Page[views.RequestOut], responses=READ_ERRORS)
def requests(staff: Reader, session: SessionDep, runtime: RuntimeDep, request: Request,
             filters: Filters,
             page: Annotated[PageParams, Depends(RequestPage)]) -> Page[views.RequestOut]:
    """The queue: undecided first, by due date; descriptions and names only where allowed."""
    items, total = views.queue(session, runtime.profile, staff, filters, page, now=utcnow(),
                               ip=client_ip(request))
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get(".csv", response_class=Response, responses={**CSV, **READ_ERRORS})
def requests_csv(staff: Reader, session: SessionDep, runtime: RuntimeDep, request: Request,
                 filters: Filters) -> Response:
    """The requests matching the filters as CSV (Excel-safe); every export is audited."""
    now = utcnow()
    body = export.export_csv(session, runtime.profile, staff, filters, now=now,
                             ip=client_ip(request))
    return csv_response(body, f"document-requests-{now:%Y%m%d-%H%M}.csv")


@router.get(".xlsx", response_class=Response, responses={
    200: {"description": "An Excel workbook",
          "content": {XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}}}},
    **READ_ERRORS})
def requests_xlsx(staff: Reader, session: SessionDep, runtime: RuntimeDep, request: Request,
                  filters: Filters) -> Response:
    """The same rows and columns as the CSV, as an XLSX workbook (times in
    the municipality's zone); every export is audited."""
    now = utcnow()
    body = export.export(session, runtime.profile, staff, filters, "xlsx", now=now,
                         ip=client_ip(request))
    return xlsx_response(body, f"document-requests-{now:%Y%m%d-%H%M}.xlsx")


@router.get("/summary", response_model=views.SummaryOut, responses=READ_ERRORS)
def year_summary(staff: Reader, session: SessionDep, runtime: RuntimeDep,
                 year: Annotated[int | None, Query(ge=2000, le=2100)] = None) -> views.SummaryOut:
    """A year's requests (by registration) and how they ended; this year by default."""
    return views.summary(session, runtime.profile, staff, year, utcnow())


@router.get("/{reference}", response_model=views.RequestDetail, responses=ONE_ERRORS)
def request_detail(reference: ReferencePath, staff: Reader, session: SessionDep,
                   request: Request) -> views.RequestDetail:
    """One request with its history (internal notes included) and files."""
    return views.show_request(session, staff, reference, now=utcnow(), ip=client_ip(request))


@router.post("/{reference}/transition", response_model=views.RequestDetail, responses=WRITE_ERRORS)
def transition(reference: ReferencePath, body: TransitionIn, staff: Writer,
               session: SessionDep, runtime: RuntimeDep, request: Request) -> views.RequestDetail:
    """Change the state; the citizen is told in their language. Input that
    breaks a rule (a refusal or extension without reason, an extension
    without days, forwarding without institution) is 422 with its code; a
    change the state does not allow (from a decided request, a second
    extension) is 409."""
    now = utcnow()
    found = actions.act_transition(
        session, runtime.profile, runtime.catalogs, runtime.engine.files, staff,
        client_ip(request), reference=reference, status=body.status, reason=body.reason,
        extension_days=body.extension_days, forwarded_to=body.forwarded_to,
        deliver_files=body.deliver_files, now=now)
    return views.detail_out(found, shows_personal(staff), now)


@router.post("/{reference}/forward", response_model=views.RequestDetail,
             responses=WRITE_ERRORS)
def forward(reference: ReferencePath, body: ForwardIn, staff: Writer, session: SessionDep,
            runtime: RuntimeDep, request: Request) -> views.RequestDetail:
    """Forward the request within the municipality to the department that
    holds the document: from then on only that department's officers (with
    the info office and admin; the mayor's office and viewers read) see and
    act on it — the department the citizen guessed gives its officers
    nothing. The state and the deadline do not change. An unknown department
    is 422 `unknown_department`; a decided request 409 `request_decided`; a
    department officer passing it on 403 `forward_not_allowed`. Forwarding
    to another institution is the `forwarded` state (`forwarded_to`)."""
    now = utcnow()
    found = actions.act_forward(session, runtime.profile, runtime.catalogs, staff,
                                client_ip(request), reference=reference,
                                department=body.department, now=now)
    return views.detail_out(found, shows_personal(staff), now)


@router.post("/{reference}/notes", status_code=201, response_model=views.EventOut,
             responses=ONE_ERRORS)
def add_note(reference: ReferencePath, body: NoteIn, staff: Writer, session: SessionDep,
             request: Request) -> views.EventOut:
    """An internal note in the request's history (never shown to the citizen)."""
    event = actions.act_note(session, staff, client_ip(request), reference=reference,
                             text=body.text, now=utcnow())
    return views.event_out(event)


@router.post("/{reference}/files", status_code=201, response_model=views.FileOut,
             responses=UPLOAD_ERRORS)
def upload(reference: ReferencePath, staff: Writer, session: SessionDep,
           runtime: RuntimeDep, request: Request,
           file: Annotated[UploadFile, File(description="PDF, JPEG, PNG, DOCX, XLSX "
                                                        "or ODT; at most 20 MB")]
           ) -> views.FileOut:
    """Upload a document for the citizen; it is sent with a grant (`deliver_files`).
    The content decides what a file is, not its name: anything but PDF, JPEG,
    PNG, DOCX, XLSX or ODT (or an empty file) is 422 `not_a_document`; over
    20 MB is 413."""
    found = actions.act_upload(session, runtime.engine.files, staff, client_ip(request),
                               reference=reference, name=file.filename,
                               data=read_upload(file), now=utcnow())
    return views.file_out(found)


@router.get("/{reference}/files/{file_id}", response_class=FileResponse, responses={
    200: {"description": "The uploaded file, as it was uploaded",
          "content": {"application/octet-stream": {"schema": {"type": "string",
                                                              "format": "binary"}}}},
    **ONE_ERRORS})
def download(reference: ReferencePath, file_id: FileIdPath, staff: Reader,
             session: SessionDep, request: Request) -> FileResponse:
    """Download a file uploaded for the request (another department's is 404)."""
    return file_download(views.stored_file(session, staff, reference, file_id,
                                           client_ip(request)))
