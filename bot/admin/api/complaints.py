"""Complaints, suggestions and praise for staff (SPEC §3.4, §3.7): the box
with filters, each complaint with its photos, location and history, state
changes and replies (the citizen is told in their language), internal notes,
assignment to another department, approval for the public Open311 endpoints,
and a CSV export.

Department officers see and act only on their own department's complaints;
another department's complaint (and its photos) is 404 for them, so
references cannot be probed. Who sent a complaint is shown only to roles that
see citizens' personal data — department officers for their own department's
complaints (`shows_personal`, as for documents) — and never for an
anonymous one: then no answer, page, export or audit entry says anything
about the sender — the links to the citizen are used only to deliver
replies. Every answer that shows a sender is audited, and every write is
audited with its before and after. The functions under "actions" are shared
with the staff pages."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path as FilePath
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import Select, case, exists, func, select
from sqlalchemy.orm import Session

from bot.admin.api.documents import shows_personal
from bot.admin.api.reception import clean
from bot.admin.common import Page, PageParams, Problem, problems
from bot.admin.deps import RuntimeDep, SessionDep, client_ip, require
from bot.admin.export import csv_response
from bot.admin.paging import page_params
from bot.db import utcnow
from bot.models import (
    ChannelAccount,
    Citizen,
    Complaint,
    ComplaintEvent,
    ComplaintKind,
    ComplaintPhoto,
    ComplaintStatus,
    PhotoStatus,
)
from bot.models.complaints import CLOSED
from bot.models.staff import StaffUser
from bot.profile import ABROAD, Profile
from bot.runtime import Runtime
from bot.services import complaints as service
from bot.staff import audit
from bot.staff.export import Column, write_csv
from bot.staff.permissions import Capability, department_scoped
from bot.staff.query import check_choice, paginate, sorted_by

router = APIRouter(prefix="/complaints", tags=["complaints"])
Reader = Annotated[StaffUser, Depends(require(Capability.complaints))]
Writer = Annotated[StaffUser, Depends(require(Capability.complaints, write=True))]
READ_ERRORS = problems(401, 403, 422)
ONE_ERRORS = problems(401, 403, 404, 422)
WRITE_ERRORS = problems(401, 403, 404, 409, 422)
REFERENCE = r"^C-[0-9]{4}-[0-9]{4,10}$"
EXPORT_MAX = 20_000
CHUNK = 500  # ids per IN (…) when loading what a page of rows needs
# Dates before or after these are treated as these (no timezone arithmetic
# overflows at year 1 or 9999).
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9000, 12, 31)
PHOTO_TYPES = ("image/jpeg", "image/png")
ReferencePath = Annotated[str, Path(pattern=REFERENCE, max_length=16,
                                    description="The reference, e.g. C-2026-0123")]
PhotoIdPath = Annotated[int, Path(ge=1, le=2**31 - 1, description="The photo's id")]
T = TypeVar("T")


# --- shapes ---------------------------------------------------------------------

class SenderOut(BaseModel):
    """Who sent a complaint: a chat citizen (`citizen_id`, `language`,
    `channel`) or an Open311 client's contact (`email`). Never a chat id."""

    citizen_id: int | None = None
    full_name: str | None = None
    phone: str | None = None
    email: str | None = None
    language: str | None = None
    channel: str | None = None
    erased: bool = Field(False, description="The citizen erased their data (/forget)")


class ComplaintOut(BaseModel):
    reference: str
    kind: ComplaintKind
    category: str
    department: str
    settlement: str | None = Field(description="A settlement code, `abroad`, or none")
    status: ComplaintStatus
    description: str
    latitude: float | None
    longitude: float | None
    address: str | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    photo_count: int = Field(description="Photos stored and viewable")
    anonymous: bool = Field(description="Nothing about the sender is shown anywhere")
    source: str = Field(description="`chat` or `open311`")
    open311_client: str | None
    published: bool = Field(description="Approved for the public Open311 endpoints")
    duplicate_of: str | None = Field(description="The original's reference, for `duplicate`")
    sender: SenderOut | None = Field(
        None, description="Only for roles that see personal data, never for anonymous ones")


class PhotoOut(BaseModel):
    id: int
    position: int
    status: PhotoStatus
    mime_type: str | None
    size: int | None
    width: int | None
    height: int | None
    error: str | None
    url: str | None = Field(description="Where a stored photo is served (signed-in staff)")


class EventOut(BaseModel):
    at: datetime
    by: str
    action: str = Field(description="created, status, reply, note, assigned, published, "
                                    "unpublished or followup")
    status_from: str | None
    status_to: str | None
    text: str | None
    internal: bool = Field(description="Never shown to the citizen")


class ReplyOut(EventOut):
    delivered: bool = Field(description="False when there is no chat to tell (Open311 "
                                        "reports, erased citizens)")


class ComplaintDetail(ComplaintOut):
    map_url: str | None = Field(description="The location on OpenStreetMap")
    followup_sent_at: datetime | None
    followup_answered_at: datetime | None
    published_at: datetime | None
    public_description: str | None
    public_latitude: float | None
    public_longitude: float | None
    public_address: str | None
    photos: list[PhotoOut]
    events: list[EventOut]


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


# --- helpers ------------------------------------------------------------------------

def tidy(text: str | None) -> str:
    """An officer's text without control characters (line breaks kept) or
    lone surrogates, which no database stores."""
    return "".join(ch for ch in text or "" if unicodedata.category(ch) not in {"Cc", "Cs"}
                   or ch in "\t\n\r").strip()


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def scoped(stmt: Select[Any], staff: StaffUser) -> Select[Any]:
    if department_scoped(staff.role, Capability.complaints):
        return stmt.where(Complaint.department == staff.department)
    return stmt


def find_complaint(session: Session, staff: StaffUser, reference: str) -> Complaint:
    found = session.scalar(scoped(select(Complaint).where(Complaint.reference == reference),
                                  staff))
    if found is None:
        raise Problem(404, "not_found", f"no complaint {reference}")
    return found


def map_url(latitude: float | None, longitude: float | None) -> str | None:
    if latitude is None or longitude is None:
        return None

    def coord(value: float) -> str:
        return f"{value:.6f}".rstrip("0").rstrip(".")

    lat, lon = coord(latitude), coord(longitude)
    return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=18/{lat}/{lon}"


def photo_url(complaint: Complaint, photo: ComplaintPhoto) -> str | None:
    if photo.status is not PhotoStatus.stored:
        return None
    return f"/api/v1/complaints/{complaint.reference}/photos/{photo.id}"


def photo_counts(session: Session, ids: Sequence[int]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for part in chunks(ids):
        for complaint_id, count in session.execute(
                select(ComplaintPhoto.complaint_id, func.count())
                .where(ComplaintPhoto.complaint_id.in_(part),
                       ComplaintPhoto.status == PhotoStatus.stored)
                .group_by(ComplaintPhoto.complaint_id)):
            counts[complaint_id] = int(count)
    return counts


def references_of(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = sorted({i for i in ids if i is not None})
    found: dict[int, str] = {}
    for part in chunks(wanted):
        for complaint_id, reference in session.execute(
                select(Complaint.id, Complaint.reference).where(Complaint.id.in_(part))):
            found[complaint_id] = reference
    return found


def senders(session: Session, complaints: Sequence[Complaint],
            personal: bool) -> dict[int, SenderOut]:
    """Complaint id → who sent it, only where it may be shown: for roles that
    see personal data, and never for an anonymous complaint."""
    if not personal:
        return {}
    shown = [c for c in complaints if not c.anonymous]
    citizen_ids = sorted({c.citizen_id for c in shown if c.citizen_id is not None})
    account_ids = sorted({c.account_id for c in shown if c.account_id is not None})
    citizens: dict[int, Citizen] = {}
    accounts: dict[int, ChannelAccount] = {}
    for part in chunks(citizen_ids):
        citizens.update((c.id, c) for c in session.scalars(
            select(Citizen).where(Citizen.id.in_(part))))
    for part in chunks(account_ids):
        accounts.update((a.id, a) for a in session.scalars(
            select(ChannelAccount).where(ChannelAccount.id.in_(part))))
    result: dict[int, SenderOut] = {}
    for complaint in shown:
        if complaint.source != "chat":
            result[complaint.id] = SenderOut(full_name=complaint.contact_name,
                                             email=complaint.contact_email,
                                             phone=complaint.contact_phone)
            continue
        citizen = citizens.get(complaint.citizen_id or 0)
        if citizen is None:
            continue
        account = accounts.get(complaint.account_id or 0)
        result[complaint.id] = SenderOut(
            citizen_id=citizen.id, full_name=citizen.full_name, phone=citizen.phone,
            language=citizen.language, channel=account.channel if account else None,
            erased=citizen.erased_at is not None)
    return result


def complaint_out(complaint: Complaint, *, photo_count: int, sender: SenderOut | None,
                  duplicate_of: str | None) -> ComplaintOut:
    return ComplaintOut(
        reference=complaint.reference, kind=complaint.kind, category=complaint.category,
        department=complaint.department, settlement=complaint.settlement,
        status=complaint.status, description=complaint.description,
        latitude=complaint.latitude, longitude=complaint.longitude, address=complaint.address,
        created_at=complaint.created_at, updated_at=complaint.updated_at,
        closed_at=complaint.closed_at, photo_count=photo_count,
        anonymous=complaint.anonymous, source=complaint.source,
        open311_client=complaint.open311_client, published=complaint.published,
        duplicate_of=duplicate_of, sender=None if complaint.anonymous else sender)


def list_out(session: Session, complaints: Sequence[Complaint],
             personal: bool) -> list[ComplaintOut]:
    ids = [c.id for c in complaints]
    counts = photo_counts(session, ids)
    who = senders(session, complaints, personal)
    originals = references_of(session, (c.duplicate_of_id for c in complaints))
    return [complaint_out(c, photo_count=counts.get(c.id, 0), sender=who.get(c.id),
                          duplicate_of=originals.get(c.duplicate_of_id or 0))
            for c in complaints]


def event_out(event: ComplaintEvent) -> EventOut:
    return EventOut(at=event.at, by=event.by, action=event.action,
                    status_from=event.status_from, status_to=event.status_to,
                    text=event.text, internal=event.internal)


def detail_out(session: Session, complaint: Complaint, personal: bool) -> ComplaintDetail:
    """Photos and history are read afresh: the service adds events without
    touching the loaded collections."""
    photos = session.scalars(select(ComplaintPhoto).where(
        ComplaintPhoto.complaint_id == complaint.id).order_by(ComplaintPhoto.position,
                                                              ComplaintPhoto.id)).all()
    events = session.scalars(select(ComplaintEvent).where(
        ComplaintEvent.complaint_id == complaint.id).order_by(ComplaintEvent.id)).all()
    base = list_out(session, [complaint], personal)[0]
    return ComplaintDetail(
        **base.model_dump(),
        map_url=map_url(complaint.latitude, complaint.longitude),
        followup_sent_at=complaint.followup_sent_at,
        followup_answered_at=complaint.followup_answered_at,
        published_at=complaint.published_at, public_description=complaint.public_description,
        public_latitude=complaint.public_latitude, public_longitude=complaint.public_longitude,
        public_address=complaint.public_address,
        photos=[PhotoOut(id=p.id, position=p.position, status=p.status,
                         mime_type=p.mime_type, size=p.size, width=p.width, height=p.height,
                         error=p.error, url=photo_url(complaint, p)) for p in photos],
        events=[event_out(e) for e in events])


def audit_shown(session: Session, staff: StaffUser, action: str,
                shown: Sequence[ComplaintOut], ip: str | None,
                detail: str | None = None) -> None:
    """Record which complaints' senders were shown (references only)."""
    references = [c.reference for c in shown if c.sender is not None]
    if not references:
        return
    text = "references " + ",".join(references)
    audit.record(session, staff, action, object_type="complaint",
                 object_id=references[0] if len(references) == 1 else None,
                 detail=f"{detail}: {text}" if detail else text, ip=ip)


def snapshot(session: Session, complaint: Complaint) -> dict[str, Any]:
    """What a write may change; nothing about the sender."""
    original = session.get(Complaint, complaint.duplicate_of_id) if (
        complaint.duplicate_of_id) else None
    return {"status": complaint.status.value, "department": complaint.department,
            "duplicate_of": original.reference if original else None,
            "published": complaint.published}


def public_snapshot(complaint: Complaint) -> dict[str, Any]:
    return {"published": complaint.published,
            "public_description": complaint.public_description,
            "public_latitude": complaint.public_latitude,
            "public_longitude": complaint.public_longitude,
            "public_address": complaint.public_address}


def category_codes(profile: Profile) -> list[str]:
    return [c.code for c in profile.complaint_categories]


def department_codes(profile: Profile) -> list[str]:
    return [d.code for d in profile.departments]


def settlement_codes(profile: Profile) -> list[str]:
    return [*(s.code for s in profile.settlements), ABROAD]


def day_start(profile: Profile, day: date) -> datetime:
    """Midnight of a (clamped) local day."""
    day = min(max(day, FIRST_DAY), LAST_DAY)
    return datetime.combine(day, time.min, tzinfo=profile.tz)


# --- queries shared with the staff pages ---------------------------------------------

@dataclass
class ComplaintFilters:
    """`category`, `department` and `settlement` take the profile's codes (see
    the schema's enums); the dates are days in the municipality's time zone."""

    kind: ComplaintKind | None = None
    category: str | None = None
    department: str | None = None
    settlement: str | None = None
    status: ComplaintStatus | None = None
    created_from: date | None = None
    created_to: date | None = None
    has_photo: bool | None = None
    published: bool | None = None


def complaint_filters(
    kind: ComplaintKind | None = None,
    category: Annotated[str | None, Query(max_length=32)] = None,
    department: Annotated[str | None, Query(max_length=32)] = None,
    settlement: Annotated[str | None, Query(max_length=32, description="A settlement code "
                                                                       "or `abroad`")] = None,
    status: ComplaintStatus | None = None,
    created_from: Annotated[date | None, Query(description="Created on or after this day "
                                                           "(local)")] = None,
    created_to: Annotated[date | None, Query(description="Created on or before this day "
                                                         "(local)")] = None,
    has_photo: Annotated[bool | None, Query(description="With at least one stored photo")
                         ] = None,
    published: Annotated[bool | None, Query(description="Approved for Open311")] = None,
) -> ComplaintFilters:
    return ComplaintFilters(kind, category, department, settlement, status, created_from,
                            created_to, has_photo, published)


ComplaintPage = page_params("created_at", "updated_at", "reference")


def complaints_query(profile: Profile, staff: StaffUser,
                     filters: ComplaintFilters) -> Select[Any]:
    check_choice("category", filters.category, category_codes(profile))
    check_choice("department", filters.department, department_codes(profile))
    check_choice("settlement", filters.settlement, settlement_codes(profile))
    stmt = scoped(select(Complaint), staff)
    if filters.kind:
        stmt = stmt.where(Complaint.kind == filters.kind)
    if filters.category:
        stmt = stmt.where(Complaint.category == filters.category)
    if filters.department:
        stmt = stmt.where(Complaint.department == filters.department)
    if filters.settlement:
        stmt = stmt.where(Complaint.settlement == filters.settlement)
    if filters.status:
        stmt = stmt.where(Complaint.status == filters.status)
    if filters.created_from:
        stmt = stmt.where(Complaint.created_at >= day_start(profile, filters.created_from))
    if filters.created_to:
        end = day_start(profile, filters.created_to) + timedelta(days=1)
        stmt = stmt.where(Complaint.created_at < end)
    if filters.has_photo is not None:
        stored = exists().where(ComplaintPhoto.complaint_id == Complaint.id,
                                ComplaintPhoto.status == PhotoStatus.stored)
        stmt = stmt.where(stored if filters.has_photo else ~stored)
    if filters.published is not None:
        stmt = stmt.where(Complaint.published.is_(filters.published))
    return stmt


def box_order() -> list[Any]:
    """Open and in progress first, then newest first."""
    closed_last = case((Complaint.status.in_(list(CLOSED)), 1), else_=0)
    return [closed_last, Complaint.created_at.desc(), Complaint.id.desc()]


def list_complaints(session: Session, profile: Profile, staff: StaffUser,
                    filters: ComplaintFilters,
                    page: PageParams) -> tuple[list[Complaint], int]:
    stmt = sorted_by(complaints_query(profile, staff, filters), page.sort,
                     {"created_at": Complaint.created_at, "updated_at": Complaint.updated_at,
                      "reference": Complaint.reference}, default=box_order())
    return paginate(session, stmt, page)


EXPORT_COLUMNS = [
    Column("reference"), Column("kind"), Column("category"), Column("department"),
    Column("settlement"), Column("status"), Column("created_at"), Column("closed_at"),
    Column("description"), Column("latitude"), Column("longitude"), Column("address"),
    Column("photos"), Column("anonymous"), Column("source"), Column("published"),
    Column("duplicate_of"),
    Column("full_name", personal=True), Column("phone", personal=True),
    Column("email", personal=True),
]


def export_complaints(session: Session, runtime: Runtime, staff: StaffUser,
                      filters: ComplaintFilters, ip: str | None) -> Response:
    """Times in the municipality's zone; sender columns only where allowed,
    and empty for anonymous complaints."""
    now, tz = utcnow(), runtime.profile.tz
    stmt = complaints_query(runtime.profile, staff, filters).order_by(*box_order())
    rows = list(session.scalars(stmt.limit(EXPORT_MAX)).all())
    personal = shows_personal(staff)
    counts = photo_counts(session, [c.id for c in rows])
    who = senders(session, rows, personal)
    originals = references_of(session, (c.duplicate_of_id for c in rows))

    def row(c: Complaint) -> tuple[Any, ...]:
        sender = None if c.anonymous else who.get(c.id)
        return (c.reference, c.kind.value, c.category, c.department, c.settlement,
                c.status.value, c.created_at.astimezone(tz),
                c.closed_at.astimezone(tz) if c.closed_at else None, c.description,
                c.latitude, c.longitude, c.address, counts.get(c.id, 0), c.anonymous,
                c.source, c.published, originals.get(c.duplicate_of_id or 0),
                sender.full_name if sender else None, sender.phone if sender else None,
                sender.email if sender else None)

    body = write_csv(EXPORT_COLUMNS, [row(c) for c in rows], personal=personal)
    shown = {k: (v.isoformat() if isinstance(v, date) else v)
             for k, v in vars(filters).items() if v is not None}
    audit.record(session, staff, "complaints.export", object_type="complaint",
                 detail=f"csv, {len(rows)} rows, personal={'yes' if personal else 'no'}, "
                        f"filters {shown}", ip=ip)
    return csv_response(body, f"complaints-{now:%Y%m%d-%H%M}.csv")


def photo_response(session: Session, staff: StaffUser, reference: str,
                   photo_id: int) -> FileResponse:
    """A stored photo of a complaint the officer may see; anything else is 404."""
    complaint = find_complaint(session, staff, reference)
    photo = session.get(ComplaintPhoto, photo_id)
    if (photo is None or photo.complaint_id != complaint.id
            or photo.status is not PhotoStatus.stored or not photo.path
            or not FilePath(photo.path).is_file()):
        raise Problem(404, "not_found", f"no stored photo {photo_id} of {reference}")
    return FileResponse(photo.path, media_type=photo.mime_type or "application/octet-stream",
                        headers={"Cache-Control": "private, no-store"})


# --- actions: a change and its audit entry, for the API and the pages ----------------

def _refused(err: service.TransitionRefused) -> Problem:
    return Problem(409, err.code, str(err))


def _last_event(session: Session, complaint: Complaint, action: str) -> ComplaintEvent:
    event = session.scalars(select(ComplaintEvent).where(
        ComplaintEvent.complaint_id == complaint.id, ComplaintEvent.action == action)
        .order_by(ComplaintEvent.id.desc()).limit(1)).first()
    assert event is not None
    return event


def act_transition(session: Session, runtime: Runtime, staff: StaffUser, ip: str | None, *,
                   reference: str, to: ComplaintStatus, text: str | None,
                   duplicate_of: str | None) -> Complaint:
    """Every rule broken is a 409 with the service's stable code."""
    complaint = find_complaint(session, staff, reference)
    before = snapshot(session, complaint)
    body = tidy(text)
    try:
        service.transition(session, runtime.profile, runtime.catalogs, complaint, to,
                           by=staff.username, now=utcnow(), text=body or None,
                           duplicate_of=clean(duplicate_of) or None)
    except service.TransitionRefused as err:
        raise _refused(err) from err
    after = snapshot(session, complaint)
    if body:
        after["text"] = body[:service.REPLY_MAX]
    audit.record(session, staff, "complaints.transition", object_type="complaint",
                 object_id=reference, before=before, after=after, ip=ip)
    return complaint


def act_reply(session: Session, runtime: Runtime, staff: StaffUser, ip: str | None, *,
              reference: str, text: str) -> tuple[ComplaintEvent, bool]:
    complaint = find_complaint(session, staff, reference)
    try:
        delivered = service.reply(session, runtime.profile, runtime.catalogs, complaint,
                                  tidy(text), by=staff.username, now=utcnow())
    except service.TransitionRefused as err:
        raise _refused(err) from err
    event = _last_event(session, complaint, "reply")
    audit.record(session, staff, "complaints.reply", object_type="complaint",
                 object_id=reference, before=None,
                 after={"event": event.id, "text": event.text, "delivered": delivered}, ip=ip)
    return event, delivered


def act_note(session: Session, staff: StaffUser, ip: str | None, *, reference: str,
             text: str) -> ComplaintEvent:
    complaint = find_complaint(session, staff, reference)
    try:
        service.note(session, complaint, tidy(text), by=staff.username, now=utcnow())
    except service.TransitionRefused as err:
        raise _refused(err) from err
    event = _last_event(session, complaint, "note")
    audit.record(session, staff, "complaints.note", object_type="complaint",
                 object_id=reference, before=None, after={"event": event.id,
                                                         "text": event.text}, ip=ip)
    return event


@dataclass(frozen=True)
class PublicCopy:
    """What Open311 shows of a published complaint; None means "the
    citizen's", and `keep_location=False` with no coordinates means none."""

    description: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = None
    keep_location: bool = True


def _merged(complaint: Complaint, copy: PublicCopy) -> PublicCopy:
    """The copy to publish, cleaned: what is not given stays as it is public
    now (the service's defaults, the citizen's own, apply on first publishing)."""
    description = tidy(copy.description) if copy.description is not None else None
    address = clean(copy.address) if copy.address is not None else None
    latitude, longitude, keep = copy.latitude, copy.longitude, copy.keep_location
    if complaint.published:
        description = complaint.public_description if description is None else description
        if keep and latitude is None and longitude is None:
            latitude, longitude, keep = complaint.public_latitude, complaint.public_longitude, False
            address = complaint.public_address if address is None else address
        elif keep and address is None:
            address = complaint.public_address
    return PublicCopy(description, latitude, longitude, address, keep)


def act_update(session: Session, runtime: Runtime, staff: StaffUser, ip: str | None, *,
               reference: str, department: str | None = None, published: bool | None = None,
               public: PublicCopy | None = None) -> Complaint:
    """Assign, publish (with its public copy) or unpublish; each change is its
    own audit entry. Public fields alone edit an already published copy."""
    complaint = find_complaint(session, staff, reference)
    now = utcnow()
    try:
        if department is not None and department != complaint.department:
            before = complaint.department
            service.assign(session, runtime.profile, runtime.catalogs, complaint, department,
                           by=staff.username, now=now)
            audit.record(session, staff, "complaints.assign", object_type="complaint",
                         object_id=reference, before={"department": before},
                         after={"department": complaint.department}, ip=ip)
        if published is False:
            if complaint.published:
                before_public = public_snapshot(complaint)
                service.unpublish(session, complaint, by=staff.username, now=now)
                audit.record(session, staff, "complaints.unpublish", object_type="complaint",
                             object_id=reference, before=before_public,
                             after={"published": False}, ip=ip)
        elif published is True or public is not None:
            if published is None and not complaint.published:
                raise Problem(409, "not_published", "only a published complaint has a public "
                              "copy to edit; publish it with `published: true`")
            copy = _merged(complaint, public or PublicCopy())
            before_public = public_snapshot(complaint)
            service.publish(session, complaint, by=staff.username, now=now,
                            description=copy.description, latitude=copy.latitude,
                            longitude=copy.longitude, address=copy.address,
                            keep_location=copy.keep_location)
            audit.record(session, staff, "complaints.publish", object_type="complaint",
                         object_id=reference, before=before_public,
                         after=public_snapshot(complaint), ip=ip)
    except service.TransitionRefused as err:
        raise _refused(err) from err
    return complaint


# --- routes --------------------------------------------------------------------------

@router.get("", response_model=Page[ComplaintOut], responses=READ_ERRORS)
def complaints(staff: Reader, session: SessionDep, runtime: RuntimeDep, request: Request,
               filters: Annotated[ComplaintFilters, Depends(complaint_filters)],
               page: Annotated[PageParams, Depends(ComplaintPage)]) -> Page[ComplaintOut]:
    """The box: open and in progress first, newest first; senders only where allowed."""
    rows, total = list_complaints(session, runtime.profile, staff, filters, page)
    items = list_out(session, rows, shows_personal(staff))
    audit_shown(session, staff, "complaints.list", items, client_ip(request))
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get(".csv", response_class=Response, responses={
    200: {"description": "CSV, UTF-8 with BOM", "content": {"text/csv": {
        "schema": {"type": "string"}}}}, **READ_ERRORS})
def complaints_csv(staff: Reader, session: SessionDep, runtime: RuntimeDep, request: Request,
                   filters: Annotated[ComplaintFilters, Depends(complaint_filters)]) -> Response:
    """The complaints matching the filters as CSV (Excel-safe); every export is audited."""
    return export_complaints(session, runtime, staff, filters, client_ip(request))


@router.get("/{reference}", response_model=ComplaintDetail, responses=ONE_ERRORS)
def complaint_detail(reference: ReferencePath, staff: Reader, session: SessionDep,
                     request: Request) -> ComplaintDetail:
    """One complaint with its photos, location and history (internal notes included)."""
    found = find_complaint(session, staff, reference)
    detail = detail_out(session, found, shows_personal(staff))
    audit_shown(session, staff, "complaints.view", [detail], client_ip(request))
    return detail


@router.get("/{reference}/photos/{photo_id}", response_class=FileResponse, responses={
    200: {"description": "The stored photo (EXIF removed)",
          "content": {kind: {"schema": {"type": "string", "format": "binary"}}
                      for kind in PHOTO_TYPES}}, **ONE_ERRORS})
def complaint_photo(reference: ReferencePath, photo_id: PhotoIdPath, staff: Reader,
                    session: SessionDep) -> FileResponse:
    """A stored photo of the complaint; pending, rejected or failed ones are 404."""
    return photo_response(session, staff, reference, photo_id)


@router.post("/{reference}/transition", response_model=ComplaintDetail,
             responses=WRITE_ERRORS)
def transition(reference: ReferencePath, body: TransitionIn, staff: Writer,
               session: SessionDep, runtime: RuntimeDep, request: Request) -> ComplaintDetail:
    """Change the state; the citizen is told in their language, with the text.
    A rule broken is 409 with its code: `transition_not_allowed` (a closed
    complaint can only be reopened), `reason_required` (a rejection says why),
    `original_required` (a duplicate names an existing original)."""
    found = act_transition(session, runtime, staff, client_ip(request), reference=reference,
                           to=body.to, text=body.text, duplicate_of=body.duplicate_of)
    return detail_out(session, found, shows_personal(staff))


@router.post("/{reference}/reply", status_code=201, response_model=ReplyOut,
             responses=WRITE_ERRORS)
def reply(reference: ReferencePath, body: TextIn, staff: Writer, session: SessionDep,
          runtime: RuntimeDep, request: Request) -> ReplyOut:
    """A message to the citizen in the chat, kept in the history (`text_required`
    409 when it is blank)."""
    event, delivered = act_reply(session, runtime, staff, client_ip(request),
                                 reference=reference, text=body.text)
    return ReplyOut(**event_out(event).model_dump(), delivered=delivered)


@router.post("/{reference}/notes", status_code=201, response_model=EventOut,
             responses=WRITE_ERRORS)
def add_note(reference: ReferencePath, body: TextIn, staff: Writer, session: SessionDep,
             request: Request) -> EventOut:
    """An internal note in the history (never shown to the citizen)."""
    return event_out(act_note(session, staff, client_ip(request), reference=reference,
                              text=body.text))


@router.patch("/{reference}", response_model=ComplaintDetail, responses=WRITE_ERRORS)
def update(reference: ReferencePath, body: ComplaintPatch, staff: Writer, session: SessionDep,
           runtime: RuntimeDep, request: Request) -> ComplaintDetail:
    """Assign to a department (`unknown_department` 409), publish for Open311
    or withdraw it (`invalid_location`, `text_required`, `not_published` 409).
    A department officer who assigns a complaint elsewhere no longer sees it."""
    given = body.model_fields_set
    public_fields = {"public_description", "public_latitude", "public_longitude",
                     "public_address"} & given
    public = PublicCopy(
        description=body.public_description, latitude=body.public_latitude,
        longitude=body.public_longitude, address=body.public_address,
        keep_location=not ({"public_latitude", "public_longitude"} & given
                           and body.public_latitude is None and body.public_longitude is None)
    ) if public_fields else None
    found = act_update(session, runtime, staff, client_ip(request), reference=reference,
                       department=body.department, published=body.published, public=public)
    return detail_out(session, found, shows_personal(staff))
