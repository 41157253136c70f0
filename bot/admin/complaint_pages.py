"""Staff pages of complaints, suggestions and praise at /staff/complaints:
the box with filters, each complaint with its photos (served only to a
signed-in officer who may see the complaint), location, history, state
changes, replies, notes, assignment and approval for Open311. Parse the form,
call the staff use-cases in `bot.staff.complaints` (as the API does, so audit,
rules and anonymity are the same on both), render."""

from __future__ import annotations

import math
from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from bot.admin import rendering
from bot.admin.deps import RuntimeDep, SessionDep, client_ip
from bot.models import ComplaintKind, ComplaintStatus
from bot.models.staff import StaffUser
from bot.refusals import Invalid
from bot.services import complaints as service
from bot.staff.complaints import actions, views
from bot.staff.permissions import Capability, can_write, department_scoped, shows_personal
from bot.staff.query import PageWindow

router = APIRouter(prefix="/staff/complaints", include_in_schema=False)
HOME = "/staff/complaints"
VIA = "staff page"
DONE = ("transition", "reply", "reply_kept", "note", "assign", "publish", "unpublish")
FILTERS = tuple(views.ComplaintFilters.model_fields)
Csrf = Annotated[str, Form(max_length=200)]
Text = Annotated[str, Form(max_length=service.REPLY_MAX)]
Message = Annotated[str, Form(min_length=1, max_length=service.REPLY_MAX)]
ReferencePath = Annotated[str, Path(pattern=views.REFERENCE, max_length=16)]
PhotoIdPath = Annotated[int, Path(ge=1, le=2**31 - 1)]

Reader = Annotated[StaffUser, Depends(rendering.page_role(Capability.complaints))]
Writer = Annotated[StaffUser, Depends(rendering.page_role(Capability.complaints, write=True))]


def _csv_link(filters: views.ComplaintFilters) -> str:
    query = {}
    for name, value in filters:
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
    filters, error = rendering.page_filters(
        views.ComplaintFilters, params, runtime.profile, views.check_filters,
        message="staff.complaints.bad_filter")
    page = PageWindow(limit=25, offset=offset)
    items, total = views.view_box(session, runtime.profile, staff, filters, page,
                                  ip=client_ip(request), via=VIA)
    done = request.query_params.get("done")
    return rendering.render(
        request, runtime, "complaints.html", staff, rows=items, total=total,
        personal=shows_personal(staff), error=error, params=params,
        kinds=[k.value for k in ComplaintKind], statuses=[s.value for s in ComplaintStatus],
        scoped=department_scoped(staff.role, Capability.complaints),
        done=done if done in DONE else None, csv_link=_csv_link(filters),
        map_link=f"{HOME}/map" + (f"?{urlencode(params)}" if params else ""),
        **rendering.pager_links(request, offset, page.limit, total),
        **rendering.profile_labels(runtime, staff.language),
    )


@router.get("/map", response_class=HTMLResponse)
def map_page(request: Request, runtime: RuntimeDep, staff: Reader,
             session: SessionDep) -> HTMLResponse:
    """Every complaint with a location that matches the box's filters, as a
    marker coloured by state (clustered where dense); a marker's card links
    to the complaint. The markers travel in the page as JSON; the tiles come
    from the configured tile host, and without them the markers still show."""
    params = {k: v for k, v in request.query_params.items() if k in FILTERS}
    filters, error = rendering.page_filters(
        views.ComplaintFilters, params, runtime.profile, views.check_filters,
        message="staff.complaints.bad_filter")
    markers, located, unlocated = views.map_markers(session, runtime.profile, staff, filters)
    labels = rendering.profile_labels(runtime, staff.language)
    t = runtime.catalogs.translator(staff.language)
    settings = runtime.settings
    bounds = runtime.profile.map_bounds
    data = {
        "tiles": settings.map_tile_url or None,
        "attribution": settings.map_tile_attribution,
        "bounds": [[bounds[0], bounds[1]], [bounds[2], bounds[3]]] if bounds else None,
        "open": t("staff.complaints.map.open"),
        "outside": t("staff.complaints.map.outside"),
        "markers": [{
            "ref": m.reference, "lat": m.latitude, "lon": m.longitude,
            "status": m.status.value, "outside": m.outside,
            "status_label": t(f"staff.complaints.status.{m.status.value}"),
            "kind": t(f"staff.complaints.kind.{m.kind.value}"),
            "category": labels["categories"].get(m.category, m.category),
            "created": rendering.local_stamp(m.created_at, runtime, staff.language),
            "text": m.description, "url": f"{HOME}/{m.reference}"} for m in markers],
    }
    query = urlencode(params)
    return rendering.render(
        request, runtime, "complaints_map.html", staff, data=data, params=params,
        error=error, located=located, unlocated=unlocated, shown=len(markers),
        outside=[m for m in markers if m.outside], capped=located > len(markers),
        kinds=[k.value for k in ComplaintKind], statuses=[s.value for s in ComplaintStatus],
        scoped=department_scoped(staff.role, Capability.complaints),
        list_link=HOME + (f"?{query}" if query else ""), **labels,
    )


@router.get("/{reference}", response_class=HTMLResponse)
def complaint_page(reference: ReferencePath, request: Request, runtime: RuntimeDep,
                   staff: Reader, session: SessionDep) -> HTMLResponse:
    found, detail = views.view_complaint(session, staff, reference, ip=client_ip(request), via=VIA)
    done = request.query_params.get("done")
    return rendering.render(
        request, runtime, "complaints_detail.html", staff, c=detail,
        personal=shows_personal(staff), can_write=can_write(staff.role, Capability.complaints),
        allowed=[s.value for s in views.next_states(found)], done=done if done in DONE else None,
        reply_max=service.REPLY_MAX, public=views.public_draft(found),
        **rendering.profile_labels(runtime, staff.language),
    )


@router.get("/{reference}/photos/{photo_id}")
def photo(reference: ReferencePath, photo_id: PhotoIdPath, staff: Reader,
          session: SessionDep) -> FileResponse:
    """The photo for the <img> of the complaint's page (the session cookie signs in)."""
    path, media_type = views.stored_photo(session, staff, reference, photo_id)
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "private, no-store"})


@router.get("/{reference}/voice/{voice_id}")
def voice_message(reference: ReferencePath, voice_id: PhotoIdPath, staff: Reader,
                  session: SessionDep, download: Annotated[bool, Query()] = False
                  ) -> FileResponse:
    """The recording for the <audio> of the complaint's page, or (`download`)
    as a file to keep (the session cookie signs in)."""
    path, media_type = views.stored_voice_message(session, staff, reference, voice_id)
    return FileResponse(path, media_type=media_type,
                        filename=f"{reference}-voice-{voice_id}{path.suffix}" if download
                        else None, headers={"Cache-Control": "private, no-store"})


def _back(reference: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"{HOME}/{reference}?done={done}", status_code=303)


@router.post("/{reference}/transition")
def transition(reference: ReferencePath, request: Request, runtime: RuntimeDep,
               staff: Writer, session: SessionDep, to: Annotated[ComplaintStatus, Form()],
               csrf_token: Csrf = "", text: Text = "",
               duplicate_of: Annotated[str, Form(max_length=32)] = "") -> Response:
    rendering.check_csrf(request, runtime, csrf_token)
    actions.transition(session, runtime.profile, runtime.catalogs, staff, client_ip(request),
                       reference=reference, to=to, text=text or None,
                       duplicate_of=duplicate_of or None)
    return _back(reference, "transition")


@router.post("/{reference}/reply")
def reply(reference: ReferencePath, request: Request, runtime: RuntimeDep, staff: Writer,
          session: SessionDep, text: Message, csrf_token: Csrf = "") -> Response:
    rendering.check_csrf(request, runtime, csrf_token)
    _, delivered = actions.reply(session, runtime.profile, runtime.catalogs, staff,
                                 client_ip(request), reference=reference, text=text)
    return _back(reference, "reply" if delivered else "reply_kept")


@router.post("/{reference}/notes")
def note(reference: ReferencePath, request: Request, runtime: RuntimeDep, staff: Writer,
         session: SessionDep, text: Message, csrf_token: Csrf = "") -> Response:
    rendering.check_csrf(request, runtime, csrf_token)
    actions.note(session, staff, client_ip(request), reference=reference, text=text)
    return _back(reference, "note")


@router.post("/{reference}/assign")
def assign(reference: ReferencePath, request: Request, runtime: RuntimeDep, staff: Writer,
           session: SessionDep, department: Annotated[str, Form(max_length=32)],
           csrf_token: Csrf = "") -> Response:
    """An officer who sends a complaint to another department no longer sees
    it, so they go back to the box."""
    rendering.check_csrf(request, runtime, csrf_token)
    found = actions.update(session, runtime.profile, runtime.catalogs, staff,
                           client_ip(request), reference=reference, department=department)
    if (department_scoped(staff.role, Capability.complaints)
            and found.department != staff.department):
        return RedirectResponse(f"{HOME}?done=assign", status_code=303)
    return _back(reference, "assign")


def _coordinate(value: str) -> float | None:
    """A latitude or longitude as typed (a decimal comma is fine); empty is none."""
    if not value.strip():
        return None
    try:
        number = float(value.strip().replace(",", "."))
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise Invalid("invalid_location", "coordinates are decimal degrees, "
                      "e.g. 42.3697 and 21.3769")
    return number


@router.post("/{reference}/publish")
def publish(reference: ReferencePath, request: Request, runtime: RuntimeDep,
            staff: Writer, session: SessionDep, csrf_token: Csrf = "",
            public_description: Annotated[str, Form(
                max_length=service.DESCRIPTION_MAX)] = "",
            public_latitude: Annotated[str, Form(max_length=40)] = "",
            public_longitude: Annotated[str, Form(max_length=40)] = "",
            public_address: Annotated[str, Form(max_length=service.ADDRESS_MAX)] = ""
            ) -> Response:
    """The form shows exactly what will be public: an emptied location
    publishes none."""
    rendering.check_csrf(request, runtime, csrf_token)
    copy = actions.PublicCopy(description=public_description,
                              latitude=_coordinate(public_latitude),
                              longitude=_coordinate(public_longitude),
                              address=public_address.strip() or None, keep_location=False)
    actions.update(session, runtime.profile, runtime.catalogs, staff, client_ip(request),
                   reference=reference, published=True, public=copy)
    return _back(reference, "publish")


@router.post("/{reference}/unpublish")
def unpublish(reference: ReferencePath, request: Request, runtime: RuntimeDep,
              staff: Writer, session: SessionDep, csrf_token: Csrf = "") -> Response:
    rendering.check_csrf(request, runtime, csrf_token)
    actions.update(session, runtime.profile, runtime.catalogs, staff, client_ip(request),
                   reference=reference, published=False)
    return _back(reference, "unpublish")
