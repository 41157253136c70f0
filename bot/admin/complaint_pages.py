"""Staff pages of complaints, suggestions and praise at /staff/complaints:
the box with filters, each complaint with its photos (served only to a
signed-in officer who may see the complaint), location, history, state
changes, replies, notes, assignment and approval for Open311. They call the
same actions as the API (bot.admin.api.complaints), so audit, rules and
anonymity are the same on both."""

from __future__ import annotations

import math
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from bot.admin.api import complaints as api
from bot.admin.api.documents import shows_personal
from bot.admin.common import PageParams, Problem
from bot.admin.deps import RuntimeDep, SessionDep, client_ip
from bot.admin.pages import check_csrf, page_role, render, settlement_labels
from bot.models import ComplaintKind, ComplaintStatus
from bot.models.staff import StaffUser
from bot.runtime import Runtime
from bot.services import complaints as service
from bot.staff.permissions import Capability, can_write, department_scoped

router = APIRouter(prefix="/staff/complaints", include_in_schema=False)
HOME = "/staff/complaints"
DONE = ("transition", "reply", "reply_kept", "note", "assign", "publish", "unpublish")
FILTERS = ("kind", "category", "department", "settlement", "status", "created_from",
           "created_to", "has_photo", "published")
Csrf = Annotated[str, Form(max_length=200)]
Text = Annotated[str, Form(max_length=service.REPLY_MAX)]


Reader = Annotated[StaffUser, Depends(page_role(Capability.complaints))]
Writer = Annotated[StaffUser, Depends(page_role(Capability.complaints, write=True))]


def _labels(runtime: Runtime, locale: str) -> dict[str, Any]:
    """Names of the profile's codes in the officer's language."""
    profile = runtime.profile
    settlements = settlement_labels(runtime, locale)
    return {"departments": {d.code: d.label(locale) for d in profile.departments},
            "categories": {c.code: c.label(locale) for c in profile.complaint_categories},
            "settlements": settlements}


def _filters(runtime: Runtime,
             params: dict[str, str]) -> tuple[api.ComplaintFilters, str | None]:
    """The box's filters; an empty field means "any"."""
    profile = runtime.profile
    bad = api.ComplaintFilters(), "staff.complaints.bad_filter"
    try:
        kind = ComplaintKind(params["kind"]) if params.get("kind") else None
        status = ComplaintStatus(params["status"]) if params.get("status") else None
        start = date.fromisoformat(params["created_from"]) if params.get(
            "created_from") else None
        end = date.fromisoformat(params["created_to"]) if params.get("created_to") else None
    except ValueError:
        return bad
    yes_no = {"yes": True, "no": False}
    choices = {"category": api.category_codes(profile),
               "department": api.department_codes(profile),
               "settlement": api.settlement_codes(profile)}
    picked = {name: params.get(name) or None for name in choices}
    if any(value is not None and value not in choices[name] for name, value in picked.items()):
        return bad
    return api.ComplaintFilters(
        kind=kind, category=picked["category"], department=picked["department"],
        settlement=picked["settlement"], status=status, created_from=start, created_to=end,
        has_photo=yes_no.get(params.get("has_photo", "")),
        published=yes_no.get(params.get("published", ""))), None


def _csv_link(filters: api.ComplaintFilters) -> str:
    query = {}
    for name, value in vars(filters).items():
        if value is None:
            continue
        if isinstance(value, bool):
            query[name] = str(value).lower()
        elif isinstance(value, date):
            query[name] = value.isoformat()
        else:
            query[name] = str(getattr(value, "value", value))
    return "/api/v1/complaints.csv" + (f"?{urlencode(query)}" if query else "")


@router.get("", response_class=HTMLResponse)
def box_page(request: Request, runtime: RuntimeDep, staff: Reader, session: SessionDep,
             offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> HTMLResponse:
    params = {k: v for k, v in request.query_params.items() if k in FILTERS}
    filters, error = _filters(runtime, params)
    page = PageParams(limit=25, offset=offset)
    rows, total = api.list_complaints(session, runtime.profile, staff, filters, page)
    personal = shows_personal(staff)
    items = api.list_out(session, rows, personal)
    api.audit_shown(session, staff, "complaints.list", items, client_ip(request),
                    detail="staff page")
    query = {k: v for k, v in request.query_params.items() if k not in {"offset", "done"}}
    prev_offset = max(0, offset - page.limit) if offset else None
    next_offset = offset + page.limit if offset + page.limit < total else None
    done = request.query_params.get("done")
    return render(
        request, runtime, "complaints.html", staff, rows=items, total=total,
        personal=personal, error=error, params=params,
        kinds=[k.value for k in ComplaintKind], statuses=[s.value for s in ComplaintStatus],
        scoped=department_scoped(staff.role, Capability.complaints),
        done=done if done in DONE else None, csv_link=_csv_link(filters),
        prev_link=None if prev_offset is None else "?" + urlencode({**query,
                                                                     "offset": prev_offset}),
        next_link=None if next_offset is None else "?" + urlencode({**query,
                                                                     "offset": next_offset}),
        **_labels(runtime, staff.language),
    )


@router.get("/{reference}", response_class=HTMLResponse)
def complaint_page(reference: api.ReferencePath, request: Request, runtime: RuntimeDep,
                   staff: Reader, session: SessionDep) -> HTMLResponse:
    found = api.find_complaint(session, staff, reference)
    personal = shows_personal(staff)
    detail = api.detail_out(session, found, personal)
    api.audit_shown(session, staff, "complaints.view", [detail], client_ip(request),
                    detail="staff page")
    order = list(ComplaintStatus)
    allowed = sorted(service.ALLOWED[found.status], key=order.index)
    done = request.query_params.get("done")
    published = found.published
    return render(
        request, runtime, "complaints_detail.html", staff, c=detail, personal=personal,
        can_write=can_write(staff.role, Capability.complaints),
        allowed=[s.value for s in allowed], done=done if done in DONE else None,
        reply_max=service.REPLY_MAX,
        public={"description": found.public_description if published else found.description,
                "latitude": found.public_latitude if published else found.latitude,
                "longitude": found.public_longitude if published else found.longitude,
                "address": found.public_address if published else found.address},
        **_labels(runtime, staff.language),
    )


@router.get("/{reference}/photos/{photo_id}")
def photo(reference: api.ReferencePath, photo_id: api.PhotoIdPath, staff: Reader,
          session: SessionDep) -> FileResponse:
    """The photo for the <img> of the complaint's page (the session cookie signs in)."""
    return api.photo_response(session, staff, reference, photo_id)


def _back(reference: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"{HOME}/{reference}?done={done}", status_code=303)


@router.post("/{reference}/transition")
def transition(reference: api.ReferencePath, request: Request, runtime: RuntimeDep,
               staff: Writer, session: SessionDep, to: Annotated[ComplaintStatus, Form()],
               csrf_token: Csrf = "", text: Text = "",
               duplicate_of: Annotated[str, Form(max_length=32)] = "") -> Response:
    check_csrf(request, runtime, csrf_token)
    api.act_transition(session, runtime, staff, client_ip(request), reference=reference,
                       to=to, text=text or None, duplicate_of=duplicate_of or None)
    return _back(reference, "transition")


@router.post("/{reference}/reply")
def reply(reference: api.ReferencePath, request: Request, runtime: RuntimeDep, staff: Writer,
          session: SessionDep, text: Annotated[str, Form(min_length=1,
                                                         max_length=service.REPLY_MAX)],
          csrf_token: Csrf = "") -> Response:
    check_csrf(request, runtime, csrf_token)
    _, delivered = api.act_reply(session, runtime, staff, client_ip(request),
                                 reference=reference, text=text)
    return _back(reference, "reply" if delivered else "reply_kept")


@router.post("/{reference}/notes")
def note(reference: api.ReferencePath, request: Request, runtime: RuntimeDep, staff: Writer,
         session: SessionDep, text: Annotated[str, Form(min_length=1,
                                                        max_length=service.REPLY_MAX)],
         csrf_token: Csrf = "") -> Response:
    check_csrf(request, runtime, csrf_token)
    api.act_note(session, staff, client_ip(request), reference=reference, text=text)
    return _back(reference, "note")


@router.post("/{reference}/assign")
def assign(reference: api.ReferencePath, request: Request, runtime: RuntimeDep, staff: Writer,
           session: SessionDep, department: Annotated[str, Form(max_length=32)],
           csrf_token: Csrf = "") -> Response:
    """An officer who sends a complaint to another department no longer sees
    it, so they go back to the box."""
    check_csrf(request, runtime, csrf_token)
    found = api.act_update(session, runtime, staff, client_ip(request), reference=reference,
                           department=department)
    if (department_scoped(staff.role, Capability.complaints)
            and found.department != staff.department):
        return RedirectResponse(f"{HOME}?done=assign", status_code=303)
    return _back(reference, "assign")


def _coordinate(value: str) -> float | None:
    if not value.strip():
        return None
    try:
        number = float(value.strip().replace(",", "."))
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise Problem(409, "invalid_location", "coordinates are decimal degrees, "
                      "e.g. 42.3697 and 21.3769")
    return number


@router.post("/{reference}/publish")
def publish(reference: api.ReferencePath, request: Request, runtime: RuntimeDep,
            staff: Writer, session: SessionDep, csrf_token: Csrf = "",
            public_description: Annotated[str, Form(
                max_length=service.DESCRIPTION_MAX)] = "",
            public_latitude: Annotated[str, Form(max_length=40)] = "",
            public_longitude: Annotated[str, Form(max_length=40)] = "",
            public_address: Annotated[str, Form(max_length=service.ADDRESS_MAX)] = ""
            ) -> Response:
    """The form shows exactly what will be public: an emptied location
    publishes none."""
    check_csrf(request, runtime, csrf_token)
    copy = api.PublicCopy(description=public_description,
                          latitude=_coordinate(public_latitude),
                          longitude=_coordinate(public_longitude),
                          address=public_address.strip() or None, keep_location=False)
    api.act_update(session, runtime, staff, client_ip(request), reference=reference,
                   published=True, public=copy)
    return _back(reference, "publish")


@router.post("/{reference}/unpublish")
def unpublish(reference: api.ReferencePath, request: Request, runtime: RuntimeDep,
              staff: Writer, session: SessionDep, csrf_token: Csrf = "") -> Response:
    check_csrf(request, runtime, csrf_token)
    api.act_update(session, runtime, staff, client_ip(request), reference=reference,
                   published=False)
    return _back(reference, "unpublish")
