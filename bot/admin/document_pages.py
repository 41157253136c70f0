"""Staff pages of document requests at /staff/documents: the queue (what is
overdue and due today on top, overdue and due-soon rows highlighted), each
request with its history, notes, state changes and uploads, and the year's
summary. They call the same actions as the API (bot.admin.api.documents),
so audit and rules are the same on both."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bot.admin.api import documents as api
from bot.admin.common import PageParams
from bot.admin.deps import RuntimeDep, SessionDep, client_ip
from bot.admin.pages import check_csrf, page_role, render
from bot.db import utcnow
from bot.models import DocumentStatus
from bot.models.staff import StaffUser
from bot.runtime import Runtime
from bot.services import deadlines
from bot.services import documents as service
from bot.staff.permissions import Capability, can_write, department_scoped

router = APIRouter(prefix="/staff/documents", include_in_schema=False)
HOME = "/staff/documents"
DONE = ("transition", "note", "file")
Csrf = Annotated[str, Form(max_length=200)]


Reader = Annotated[StaffUser, Depends(page_role(Capability.documents))]
Writer = Annotated[StaffUser, Depends(page_role(Capability.documents, write=True))]


def _departments(runtime: Runtime, locale: str) -> dict[str, str]:
    return {d.code: d.label(locale) for d in runtime.profile.departments}


def _filters(runtime: Runtime, params: dict[str, str]) -> tuple[api.RequestFilters, str | None]:
    """The queue's filters; an empty field means "any"."""
    try:
        status = DocumentStatus(params["status"]) if params.get("status") else None
        hours = int(params["due_within_hours"]) if params.get("due_within_hours") else None
    except ValueError:
        return api.RequestFilters(), "staff.documents.bad_filter"
    overdue = {"yes": True, "no": False}.get(params.get("overdue", ""))
    department = params.get("department") or None
    if (department is not None and department not in api.department_codes(runtime.profile)) or (
            hours is not None and not 1 <= hours <= 720):
        return api.RequestFilters(), "staff.documents.bad_filter"
    return api.RequestFilters(status, department, overdue, hours), None


@router.get("", response_class=HTMLResponse)
def queue_page(request: Request, runtime: RuntimeDep, staff: Reader, session: SessionDep,
               offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> HTMLResponse:
    profile, now = runtime.profile, utcnow()
    params = {k: v for k, v in request.query_params.items()
              if k in {"status", "department", "overdue", "due_within_hours"}}
    filters, error = _filters(runtime, params)
    page = PageParams(limit=25, offset=offset)
    rows, total = api.list_requests(session, profile, staff, filters, page, now)
    late, today = api.urgent_lists(session, profile, staff, now)
    personal = api.shows_personal(staff)
    if personal:
        api.audit_shown(session, staff, "documents.list", [r.reference for r in rows],
                        client_ip(request), detail="staff page")
    query = {k: v for k, v in request.query_params.items() if k not in {"offset", "done"}}
    prev_offset = max(0, offset - page.limit) if offset else None
    next_offset = offset + page.limit if offset + page.limit < total else None
    csv_query = {k: v for k, v in {
        "status": filters.status.value if filters.status else None,
        "department": filters.department,
        "overdue": None if filters.overdue is None else str(filters.overdue).lower(),
        "due_within_hours": filters.due_within_hours}.items() if v is not None}
    return render(
        request, runtime, "documents.html", staff,
        rows=[api.request_out(r, personal, now) for r in rows], total=total,
        late=[api.request_out(r, False, now) for r in late],
        today=[api.request_out(r, False, now) for r in today],
        personal=personal, error=error, params=params,
        statuses=[s.value for s in DocumentStatus],
        departments=_departments(runtime, staff.language),
        scoped=department_scoped(staff.role, Capability.documents),
        csv_link="/api/v1/document-requests.csv" + (f"?{urlencode(csv_query)}"
                                                    if csv_query else ""),
        prev_link=None if prev_offset is None else "?" + urlencode({**query,
                                                                     "offset": prev_offset}),
        next_link=None if next_offset is None else "?" + urlencode({**query,
                                                                     "offset": next_offset}),
    )


@router.get("/summary", response_class=HTMLResponse)
def summary_page(request: Request, runtime: RuntimeDep, staff: Reader, session: SessionDep,
                 year: Annotated[int | None, Query(ge=2000, le=2100)] = None) -> HTMLResponse:
    now = utcnow()
    year = year or now.astimezone(runtime.profile.tz).year
    return render(request, runtime, "documents_summary.html", staff,
                  s=api.summary(session, runtime.profile, staff, year, now),
                  prev_year=year - 1, next_year=year + 1)


@router.get("/{reference}", response_class=HTMLResponse)
def request_page(reference: api.ReferencePath, request: Request, runtime: RuntimeDep,
                 staff: Reader, session: SessionDep) -> HTMLResponse:
    found = api.find_request(session, staff, reference)
    personal = api.shows_personal(staff)
    if personal:
        api.audit_shown(session, staff, "documents.view", [found.reference],
                        client_ip(request))
    done = request.query_params.get("done")
    allowed = sorted(service.ALLOWED.get(found.status, frozenset()),
                     key=lambda s: list(DocumentStatus).index(s))
    return render(request, runtime, "documents_request.html", staff,
                  r=api.detail_out(found, personal, utcnow()), personal=personal,
                  can_write=can_write(staff.role, Capability.documents),
                  allowed=[s.value for s in allowed],
                  can_extend=not found.extended, max_days=deadlines.MAX_EXTENSION_DAYS,
                  unsent=sum(1 for f in found.files if f.sent_at is None),
                  departments=_departments(runtime, staff.language),
                  done=done if done in DONE else None)


def _back(reference: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"{HOME}/{reference}?done={done}", status_code=303)


@router.post("/{reference}/transition")
def transition(reference: api.ReferencePath, request: Request, runtime: RuntimeDep,
               staff: Writer, session: SessionDep,
               status: Annotated[DocumentStatus, Form()], csrf_token: Csrf = "",
               reason: Annotated[str, Form(max_length=service.REASON_MAX)] = "",
               extension_days: Annotated[int | None, Form(
                   ge=1, le=deadlines.MAX_EXTENSION_DAYS)] = None,
               forwarded_to: Annotated[str, Form(max_length=300)] = "",
               deliver_files: Annotated[bool, Form()] = False) -> Response:
    check_csrf(request, runtime, csrf_token)
    api.act_transition(session, runtime, staff, client_ip(request), reference=reference,
                       status=status, reason=reason or None, extension_days=extension_days,
                       forwarded_to=forwarded_to or None, deliver_files=deliver_files)
    return _back(reference, "transition")


@router.post("/{reference}/notes")
def note(reference: api.ReferencePath, request: Request, runtime: RuntimeDep, staff: Writer,
         session: SessionDep, text: Annotated[str, Form(min_length=1, max_length=api.NOTE_MAX)],
         csrf_token: Csrf = "") -> Response:
    check_csrf(request, runtime, csrf_token)
    api.act_note(session, staff, client_ip(request), reference=reference, text=text)
    return _back(reference, "note")


@router.post("/{reference}/files")
def upload(reference: api.ReferencePath, request: Request, runtime: RuntimeDep, staff: Writer,
           session: SessionDep, file: Annotated[UploadFile, File()],
           csrf_token: Csrf = "") -> Response:
    check_csrf(request, runtime, csrf_token)
    data = api.read_upload(file)
    api.act_upload(session, runtime, staff, client_ip(request), reference=reference,
                   name=file.filename, data=data)
    return _back(reference, "file")
