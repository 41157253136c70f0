"""Complaints, suggestions and praise for staff (SPEC §3.4, §3.7), as JSON:
the box with filters, each complaint with its photos, location and history,
state changes and replies, internal notes, assignment to another department,
approval for the public Open311 endpoints, and a CSV export.

Routes and request bodies only: what is shown, who may see the sender, the
rules and the audit are the staff use-cases in `bot.staff.complaints`, which
the staff pages call too."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from bot.admin.common import CSV, ONE_ERRORS, READ_ERRORS, WRITE_ERRORS, Page, PageParams
from bot.admin.deps import RuntimeDep, SessionDep, client_ip, require
from bot.admin.export import csv_response
from bot.admin.paging import page_params
from bot.models import ComplaintStatus
from bot.models.staff import StaffUser
from bot.services import complaints as service
from bot.staff.complaints import actions, views
from bot.staff.complaints.export import export_csv
from bot.staff.permissions import Capability, shows_personal

router = APIRouter(prefix="/complaints", tags=["complaints"])
Reader = Annotated[StaffUser, Depends(require(Capability.complaints))]
Writer = Annotated[StaffUser, Depends(require(Capability.complaints, write=True))]
PHOTO_TYPES = ("image/jpeg", "image/png")
VOICE_TYPES = ("audio/ogg", "audio/mpeg", "audio/mp4", "audio/aac", "audio/amr", "audio/wav")
ReferencePath = Annotated[str, Path(pattern=views.REFERENCE, max_length=16,
                                    description="The reference, e.g. C-2026-0123")]
PhotoIdPath = Annotated[int, Path(ge=1, le=2**31 - 1, description="The photo's id")]
ComplaintPage = page_params(*views.SORTS)
Filters = Annotated[views.ComplaintFilters, Query()]


# --- request bodies ----------------------------------------------------------------

class TransitionIn(BaseModel):
    to: ComplaintStatus
    text: str | None = Field(None, max_length=service.REPLY_MAX,
                             description="Told to the citizen; required for `rejected`")
    duplicate_of: str | None = Field(None, max_length=32,
                                     description="With `duplicate`: the original's reference")


class TextIn(BaseModel):
    text: str = Field(min_length=1, max_length=service.REPLY_MAX)


class ComplaintPatch(BaseModel):
    """Only the fields given change. `published: true` approves the complaint
    for Open311 with the `public_*` copy: on first publishing what is not
    given is the citizen's own description and location, later it stays as
    it is public; an explicit `null` location publishes none (and no
    address). `false` withdraws it. `public_*` alone edit a published copy."""

    department: str | None = Field(None, max_length=32, description="A department code")
    published: bool | None = None
    public_description: str | None = Field(None, max_length=service.DESCRIPTION_MAX)
    public_latitude: float | None = Field(None, ge=-90, le=90)
    public_longitude: float | None = Field(None, ge=-180, le=180)
    public_address: str | None = Field(None, max_length=service.ADDRESS_MAX)

    def public_copy(self) -> actions.PublicCopy | None:
        """The public fields given, if any; `null` coordinates given mean no location."""
        given = self.model_fields_set
        if not {"public_description", "public_latitude", "public_longitude",
                "public_address"} & given:
            return None
        no_location = bool({"public_latitude", "public_longitude"} & given
                           and self.public_latitude is None and self.public_longitude is None)
        return actions.PublicCopy(
            description=self.public_description, latitude=self.public_latitude,
            longitude=self.public_longitude, address=self.public_address,
            keep_location=not no_location)


# --- routes --------------------------------------------------------------------------

@router.get("", response_model=Page[views.ComplaintOut], responses=READ_ERRORS)
def complaints(staff: Reader, session: SessionDep, runtime: RuntimeDep, request: Request,
               filters: Filters,
               page: Annotated[PageParams, Depends(ComplaintPage)]) -> Page[views.ComplaintOut]:
    """The box: open and in progress first, newest first; senders only where allowed."""
    items, total = views.view_box(session, runtime.profile, staff, filters, page,
                                  ip=client_ip(request))
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get(".csv", response_class=Response, responses={**CSV, **READ_ERRORS})
def complaints_csv(staff: Reader, session: SessionDep, runtime: RuntimeDep, request: Request,
                   filters: Filters) -> Response:
    """The complaints matching the filters as CSV (Excel-safe); every export is audited."""
    body, filename = export_csv(session, runtime.profile, staff, filters, client_ip(request))
    return csv_response(body, filename)


@router.get("/{reference}", response_model=views.ComplaintDetail, responses=ONE_ERRORS)
def complaint_detail(reference: ReferencePath, staff: Reader, session: SessionDep,
                     request: Request) -> views.ComplaintDetail:
    """One complaint with its photos, location and history (internal notes included)."""
    return views.view_complaint(session, staff, reference, ip=client_ip(request))[1]


@router.get("/{reference}/photos/{photo_id}", response_class=FileResponse, responses={
    200: {"description": "The stored photo (EXIF removed)",
          "content": {kind: {"schema": {"type": "string", "format": "binary"}}
                      for kind in PHOTO_TYPES}}, **ONE_ERRORS})
def complaint_photo(reference: ReferencePath, photo_id: PhotoIdPath, staff: Reader,
                    session: SessionDep) -> FileResponse:
    """A stored photo of the complaint; pending, rejected or failed ones are 404."""
    path, media_type = views.stored_photo(session, staff, reference, photo_id)
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "private, no-store"})


@router.get("/{reference}/voice/{voice_id}", response_class=FileResponse, responses={
    200: {"description": "The stored voice message, as the citizen's app recorded it",
          "content": {kind: {"schema": {"type": "string", "format": "binary"}}
                      for kind in VOICE_TYPES}}, **ONE_ERRORS})
def complaint_voice(reference: ReferencePath, voice_id: PhotoIdPath, staff: Reader,
                    session: SessionDep) -> FileResponse:
    """A stored voice message of the complaint; pending, refused or deleted ones are 404."""
    path, media_type = views.stored_voice_message(session, staff, reference, voice_id)
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "private, no-store"})


@router.post("/{reference}/transition", response_model=views.ComplaintDetail,
             responses=WRITE_ERRORS)
def transition(reference: ReferencePath, body: TransitionIn, staff: Writer,
               session: SessionDep, runtime: RuntimeDep, request: Request) -> views.ComplaintDetail:
    """Change the state; the citizen is told in their language, with the text.
    A rule broken is refused with its code: `transition_not_allowed` (409: a
    closed complaint can only be reopened), `reason_required` (422: a
    rejection says why), `original_required` (422: a duplicate names an
    existing original)."""
    found = actions.transition(session, runtime.profile, runtime.catalogs, staff,
                               client_ip(request), reference=reference, to=body.to,
                               text=body.text, duplicate_of=body.duplicate_of)
    return views.detail_out(session, found, shows_personal(staff))


@router.post("/{reference}/reply", status_code=201, response_model=views.ReplyOut,
             responses=WRITE_ERRORS)
def reply(reference: ReferencePath, body: TextIn, staff: Writer, session: SessionDep,
          runtime: RuntimeDep, request: Request) -> views.ReplyOut:
    """A message to the citizen in the chat, kept in the history (`text_required`
    422 when it is blank)."""
    event, delivered = actions.reply(session, runtime.profile, runtime.catalogs, staff,
                                     client_ip(request), reference=reference, text=body.text)
    return views.ReplyOut(**views.event_out(event).model_dump(), delivered=delivered)


@router.post("/{reference}/notes", status_code=201, response_model=views.EventOut,
             responses=WRITE_ERRORS)
def add_note(reference: ReferencePath, body: TextIn, staff: Writer, session: SessionDep,
             request: Request) -> views.EventOut:
    """An internal note in the history (never shown to the citizen)."""
    return views.event_out(actions.note(session, staff, client_ip(request), reference=reference,
                                        text=body.text))


@router.patch("/{reference}", response_model=views.ComplaintDetail, responses=WRITE_ERRORS)
def update(reference: ReferencePath, body: ComplaintPatch, staff: Writer, session: SessionDep,
           runtime: RuntimeDep, request: Request) -> views.ComplaintDetail:
    """Assign to a department (`unknown_department` 422), publish for Open311
    or withdraw it (`invalid_location`, `text_required` 422; `not_published`
    409: public fields alone edit only a published copy). A department
    officer who assigns a complaint elsewhere no longer sees it."""
    found = actions.update(session, runtime.profile, runtime.catalogs, staff,
                           client_ip(request), reference=reference, department=body.department,
                           published=body.published, public=body.public_copy())
    return views.detail_out(session, found, shows_personal(staff))
