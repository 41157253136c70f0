"""Staff pages of document requests at /staff/documents: the queue (what is
overdue and due today on top, overdue and due-soon rows highlighted), each
request with its history, notes, state changes and uploads, and the year's
summary. They call the same use-cases as the API (`bot.staff.documents`),
so audit and rules are the same on both."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from bot.admin import rendering
from bot.admin.deps import RuntimeDep, SessionDep, client_ip
from bot.admin.files import file_download, read_upload
from bot.db import utcnow
from bot.models import DocumentStatus
from bot.models.documents import DECIDED
from bot.models.staff import StaffUser
from bot.refusals import Invalid
from bot.runtime import Runtime
from bot.services import deadlines
from bot.services import documents as service
from bot.staff.documents import actions, views
from bot.staff.documents.views import RequestFilters
from bot.staff.permissions import Capability, can_write, department_scoped, shows_personal
from bot.staff.query import PageWindow

router = APIRouter(prefix="/staff/documents", include_in_schema=False)
HOME = "/staff/documents"
DONE = ("transition", "forward", "note", "file")
FILTERS = ("status", "department", "overdue", "due_within_hours", "registered_from",
           "registered_to")
Csrf = Annotated[str, Form(max_length=200)]
Reference = Annotated[str, Path(pattern=views.REFERENCE, max_length=views.REFERENCE_MAX)]


Reader = Annotated[StaffUser, Depends(rendering.page_role(Capability.documents))]
Writer = Annotated[StaffUser, Depends(rendering.page_role(Capability.documents, write=True))]


def _filters(runtime: Runtime, params: dict[str, str]) -> tuple[RequestFilters, str | None]:
    """The queue's filters; a bad one shows the whole queue and says so."""
    try:
        return views.filters_of(runtime.profile, params), None
    except Invalid:
        return RequestFilters(), "staff.documents.bad_filter"


def _csv_link(filters: RequestFilters, kind: str = "csv") -> str:
    """The API's CSV (or XLSX) of what the page shows."""
    query = {k: v for k, v in {
        "status": filters.status.value if filters.status else None,
        "department": filters.department,
        "overdue": None if filters.overdue is None else str(filters.overdue).lower(),
        "due_within_hours": filters.due_within_hours,
        "registered_from": filters.registered_from, "registered_to": filters.registered_to,
    }.items() if v is not None}
    return f"/api/v1/document-requests.{kind}" + (f"?{urlencode(query)}" if query else "")


@router.get("", response_class=HTMLResponse)
def queue_page(request: Request, runtime: RuntimeDep, staff: Reader, session: SessionDep,
               offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> HTMLResponse:
    profile, now = runtime.profile, utcnow()
    params = {k: v for k, v in request.query_params.items() if k in FILTERS}
    filters, error = _filters(runtime, params)
    page = PageWindow(limit=25, offset=offset)
    rows, total = views.queue(session, profile, staff, filters, page, now=now,
                              ip=client_ip(request), detail="staff page")
    late, today = views.urgent_lists(session, profile, staff, now)
    return rendering.render(
        request, runtime, "documents.html", staff,
        rows=rows, total=total,
        late=[views.request_out(r, False, now) for r in late],
        today=[views.request_out(r, False, now) for r in today],
        personal=shows_personal(staff), error=error, params=params,
        statuses=[s.value for s in DocumentStatus],
        **rendering.profile_labels(runtime, staff.language),
        scoped=department_scoped(staff.role, Capability.documents),
        csv_link=_csv_link(filters), xlsx_link=_csv_link(filters, "xlsx"),
        **rendering.pager_links(request, offset, page.limit, total),
    )


@router.get("/summary", response_class=HTMLResponse)
def summary_page(request: Request, runtime: RuntimeDep, staff: Reader, session: SessionDep,
                 year: Annotated[int | None, Query(ge=2000, le=2100)] = None) -> HTMLResponse:
    summary = views.summary(session, runtime.profile, staff, year, utcnow())
    return rendering.render(request, runtime, "documents_summary.html", staff, s=summary,
                            prev_year=summary.year - 1, next_year=summary.year + 1)


@router.get("/{reference}/files/{file_id}")
def download(reference: Reference, file_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
             request: Request, staff: Reader, session: SessionDep) -> FileResponse:
    """An uploaded file, for the officer who may see the request (the session
    cookie signs in)."""
    return file_download(views.stored_file(session, staff, reference, file_id,
                                           client_ip(request)))


@router.get("/{reference}", response_class=HTMLResponse)
def request_page(reference: Reference, request: Request, runtime: RuntimeDep,
                 staff: Reader, session: SessionDep) -> HTMLResponse:
    found = views.show_request(session, staff, reference, now=utcnow(), ip=client_ip(request))
    done = request.query_params.get("done")
    return rendering.render(request, runtime, "documents_request.html", staff,
                            r=found, personal=shows_personal(staff),
                            can_write=can_write(staff.role, Capability.documents),
                            can_forward=_can_forward(staff) and found.status not in DECIDED,
                            allowed=[s.value for s in views.allowed_next(found.status)],
                            can_extend=not found.extended, max_days=deadlines.MAX_EXTENSION_DAYS,
                            unsent=sum(1 for f in found.files if f.sent_at is None),
                            **rendering.profile_labels(runtime, staff.language),
                            done=done if done in DONE else None)


def _can_forward(staff: StaffUser) -> bool:
    """Forwarding to a department is the info office's (and admin's) work."""
    return (can_write(staff.role, Capability.documents)
            and not department_scoped(staff.role, Capability.documents))


def _back(reference: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"{HOME}/{reference}?done={done}", status_code=303)


@router.post("/{reference}/transition")
def transition(reference: Reference, request: Request, runtime: RuntimeDep,
               staff: Writer, session: SessionDep,
               status: Annotated[DocumentStatus, Form()], csrf_token: Csrf = "",
               reason: Annotated[str, Form(max_length=service.REASON_MAX)] = "",
               extension_days: Annotated[int | None, Form(
                   ge=1, le=deadlines.MAX_EXTENSION_DAYS)] = None,
               forwarded_to: Annotated[str, Form(max_length=300)] = "",
               deliver_files: Annotated[bool, Form()] = False) -> Response:
    rendering.check_csrf(request, runtime, csrf_token)
    actions.act_transition(session, runtime.profile, runtime.catalogs, runtime.engine.files,
                           staff, client_ip(request), reference=reference, status=status,
                           reason=reason or None, extension_days=extension_days,
                           forwarded_to=forwarded_to or None, deliver_files=deliver_files,
                           now=utcnow())
    return _back(reference, "transition")


@router.post("/{reference}/forward")
def forward(reference: Reference, request: Request, runtime: RuntimeDep, staff: Writer,
            session: SessionDep, department: Annotated[str, Form(max_length=32)],
            csrf_token: Csrf = "") -> Response:
    rendering.check_csrf(request, runtime, csrf_token)
    actions.act_forward(session, runtime.profile, runtime.catalogs, staff, client_ip(request),
                        reference=reference, department=department, now=utcnow())
    return _back(reference, "forward")


@router.post("/{reference}/notes")
def note(reference: Reference, request: Request, runtime: RuntimeDep, staff: Writer,
         session: SessionDep,
         text: Annotated[str, Form(min_length=1, max_length=actions.NOTE_MAX)],
         csrf_token: Csrf = "") -> Response:
    rendering.check_csrf(request, runtime, csrf_token)
    actions.act_note(session, staff, client_ip(request), reference=reference, text=text,
                     now=utcnow())
    return _back(reference, "note")


@router.post("/{reference}/files")
def upload(reference: Reference, request: Request, runtime: RuntimeDep, staff: Writer,
           session: SessionDep, file: Annotated[UploadFile, File()],
           csrf_token: Csrf = "") -> Response:
    rendering.check_csrf(request, runtime, csrf_token)
    data = read_upload(file)
    actions.act_upload(session, runtime.engine.files, staff, client_ip(request),
                       reference=reference, name=file.filename, data=data, now=utcnow())
    return _back(reference, "file")
