"""What staff see of complaints: the shapes the API returns and the pages
render, the box's filters and queries, one complaint with its photos and
history, and the audit of which senders were shown (references only)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Select, case, exists, func, select
from sqlalchemy.orm import Session

from bot.models import (
    ChannelAccount,
    Citizen,
    Complaint,
    ComplaintEvent,
    ComplaintKind,
    ComplaintPhoto,
    ComplaintStatus,
    PhotoStatus,
    VoiceMessage,
    VoiceStatus,
)
from bot.models.complaints import CLOSED
from bot.models.staff import StaffUser
from bot.profile import Profile
from bot.refusals import NotFound
from bot.services import complaints as service
from bot.services import voice
from bot.staff import audit
from bot.staff.permissions import Capability, scoped, shows_personal
from bot.staff.query import PageWindow, check_choice, chunks, matching, one, paginate, sorted_by
from bot.staff.voice import VoiceOut, stored_voice, voice_out

REFERENCE = r"^C-[0-9]{4}-[0-9]{4,10}$"
SORTS = {"created_at": Complaint.created_at, "updated_at": Complaint.updated_at,
         "reference": Complaint.reference}
# Dates before or after these are treated as these (no timezone arithmetic
# overflows at year 1 or 9999).
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9000, 12, 31)


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
    voice_messages: list[VoiceOut] = Field(
        description="Recordings the citizen sent instead of typing the description")
    events: list[EventOut]


class ComplaintFilters(BaseModel):
    """The box's filters, for the API's query and the page's form alike.
    `category`, `department` and `settlement` take the profile's codes (see
    the schema's enums); the dates are days in the municipality's time zone."""

    kind: ComplaintKind | None = None
    category: str | None = Field(None, max_length=32)
    department: str | None = Field(None, max_length=32)
    settlement: str | None = Field(None, max_length=32,
                                   description="A settlement code or `abroad`")
    status: ComplaintStatus | None = None
    created_from: date | None = Field(None, description="Created on or after this day (local)")
    created_to: date | None = Field(None, description="Created on or before this day (local)")
    has_photo: bool | None = Field(None, description="With at least one stored photo")
    published: bool | None = Field(None, description="Approved for Open311")
    closed: bool | None = Field(None, description="false: open or in progress; true: "
                                                  "resolved, rejected or duplicate")
    source: Literal["chat", "open311"] | None = Field(
        None, description="Sent from the chat, or filed by an Open311 client")


# --- one complaint --------------------------------------------------------------

def find_complaint(session: Session, staff: StaffUser, reference: str) -> Complaint:
    """A complaint the officer may see; another department's is not found."""
    return one(session, scoped(select(Complaint).where(Complaint.reference == reference),
                               staff, Capability.complaints, Complaint.department),
               f"no complaint {reference}")


def stored_photo(session: Session, staff: StaffUser, reference: str,
                 photo_id: int) -> tuple[Path, str]:
    """The file and media type of a stored photo of a complaint the officer
    may see; pending, rejected or failed ones, and anyone else's, are not found."""
    complaint = find_complaint(session, staff, reference)
    photo = session.get(ComplaintPhoto, photo_id)
    if (photo is None or photo.complaint_id != complaint.id
            or photo.status is not PhotoStatus.stored or not photo.path
            or not Path(photo.path).is_file()):
        raise NotFound("not_found", f"no stored photo {photo_id} of {reference}")
    return Path(photo.path), photo.mime_type or "application/octet-stream"


def stored_voice_message(session: Session, staff: StaffUser, reference: str,
                         voice_id: int) -> tuple[Path, str]:
    """The file and media type of a stored voice message of a complaint the
    officer may see; anything else is not found."""
    complaint = find_complaint(session, staff, reference)
    return stored_voice(voice.attached(session, complaint_id=complaint.id), voice_id, reference)


def next_states(complaint: Complaint) -> list[ComplaintStatus]:
    """The states the complaint may move to, in the states' own order."""
    order = list(ComplaintStatus)
    return sorted(service.ALLOWED[complaint.status], key=order.index)


def public_draft(complaint: Complaint) -> dict[str, Any]:
    """What the publish form starts from: the public copy once published,
    before that the citizen's own description and location."""
    published = complaint.published
    return {"description": complaint.public_description if published
            else complaint.description,
            "latitude": complaint.public_latitude if published else complaint.latitude,
            "longitude": complaint.public_longitude if published else complaint.longitude,
            "address": complaint.public_address if published else complaint.address}


# --- the box --------------------------------------------------------------------

def check_filters(profile: Profile, filters: ComplaintFilters) -> None:
    """Unknown profile codes are `invalid_filter`, not an empty box."""
    check_choice("category", filters.category, profile.category_codes())
    check_choice("department", filters.department, profile.department_codes())
    check_choice("settlement", filters.settlement, profile.settlement_codes())


def day_start(profile: Profile, day: date) -> datetime:
    """Midnight of a (clamped) local day."""
    day = min(max(day, FIRST_DAY), LAST_DAY)
    return datetime.combine(day, time.min, tzinfo=profile.tz)


def complaints_query(profile: Profile, staff: StaffUser,
                     filters: ComplaintFilters) -> Select[Any]:
    """The complaints the officer may see that match the filters (unordered)."""
    check_filters(profile, filters)
    stmt = scoped(select(Complaint), staff, Capability.complaints, Complaint.department)
    stmt = matching(stmt, (Complaint.kind, filters.kind), (Complaint.category, filters.category),
                    (Complaint.department, filters.department),
                    (Complaint.settlement, filters.settlement),
                    (Complaint.status, filters.status))
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
    if filters.closed is not None:
        closed = Complaint.status.in_(list(CLOSED))
        stmt = stmt.where(closed if filters.closed else ~closed)
    if filters.source is not None:
        stmt = stmt.where(Complaint.source == filters.source)
    return stmt


def box_order() -> list[Any]:
    """Open and in progress first, then newest first."""
    closed_last = case((Complaint.status.in_(list(CLOSED)), 1), else_=0)
    return [closed_last, Complaint.created_at.desc(), Complaint.id.desc()]


def list_complaints(session: Session, profile: Profile, staff: StaffUser,
                    filters: ComplaintFilters,
                    page: PageWindow) -> tuple[list[Complaint], int]:
    """One page of the box (sorted by `page.sort`, else the box's order) and the total."""
    stmt = sorted_by(complaints_query(profile, staff, filters), page.sort, SORTS,
                     default=box_order())
    return paginate(session, stmt, page)


# --- rows as staff see them -------------------------------------------------------

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


def _stored_counts(session: Session, ids: Sequence[int], owner: Any,
                   stored: Any) -> dict[int, int]:
    counts: dict[int, int] = {}
    for part in chunks(ids):
        for complaint_id, count in session.execute(
                select(owner, func.count()).where(owner.in_(part), stored).group_by(owner)):
            counts[complaint_id] = int(count)
    return counts


def photo_counts(session: Session, ids: Sequence[int]) -> dict[int, int]:
    """Complaint id → how many of its photos are stored."""
    return _stored_counts(session, ids, ComplaintPhoto.complaint_id,
                          ComplaintPhoto.status == PhotoStatus.stored)


def voice_counts(session: Session, ids: Sequence[int]) -> dict[int, int]:
    """Complaint id → how many of its voice messages are stored."""
    return _stored_counts(session, ids, VoiceMessage.complaint_id,
                          VoiceMessage.status == VoiceStatus.stored)


def references_of(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """Complaint id → reference (for the originals of duplicates)."""
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
    """The rows with what they need loaded in chunks (photos, senders, originals)."""
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
        voice_messages=[voice_out(v, f"/api/v1/complaints/{complaint.reference}")
                        for v in voice.attached(session, complaint_id=complaint.id)],
        events=[event_out(e) for e in events])


def audit_shown(session: Session, staff: StaffUser, action: str,
                shown: Sequence[ComplaintOut], ip: str | None,
                detail: str | None = None) -> None:
    """Record which complaints' senders were shown (references only); a
    view that showed no sender is not a view of personal data."""
    audit.record_shown(session, staff, action, "complaint",
                       [c.reference for c in shown if c.sender is not None], ip, detail)


# --- views: what is shown, and its audit -------------------------------------------

def view_box(session: Session, profile: Profile, staff: StaffUser, filters: ComplaintFilters,
             page: PageWindow, *, ip: str | None,
             via: str | None = None) -> tuple[list[ComplaintOut], int]:
    """One page of the box as the officer may see it, and the total; the
    senders shown are audited (`via` names where, e.g. "staff page")."""
    rows, total = list_complaints(session, profile, staff, filters, page)
    items = list_out(session, rows, shows_personal(staff))
    audit_shown(session, staff, "complaints.list", items, ip, detail=via)
    return items, total


def view_complaint(session: Session, staff: StaffUser, reference: str, *, ip: str | None,
                   via: str | None = None) -> tuple[Complaint, ComplaintDetail]:
    """One complaint with its photos, location and history (internal notes
    included); its sender, when shown, is audited."""
    found = find_complaint(session, staff, reference)
    detail = detail_out(session, found, shows_personal(staff))
    audit_shown(session, staff, "complaints.view", [detail], ip, detail=via)
    return found, detail


# --- the map ----------------------------------------------------------------------

MAP_MAX = 5_000  # markers on one map; more is a filter to narrow, not a map to read
CARD_TEXT = 140


class MarkerOut(BaseModel):
    """One complaint on the staff map: where, its state, and the short card
    (no sender, ever: the map is for places)."""

    reference: str
    latitude: float
    longitude: float
    status: ComplaintStatus
    kind: ComplaintKind
    category: str
    created_at: datetime
    description: str
    outside: bool = Field(description="Outside the municipality's extent (the profile's)")


def map_markers(session: Session, profile: Profile, staff: StaffUser,
                filters: ComplaintFilters) -> tuple[list[MarkerOut], int, int]:
    """The complaints with a location that match the box's filters, as the
    officer may see them (department scoping as in the box), newest first:
    the markers (at most MAP_MAX), how many matched with a location, and how
    many matched without one. A stored location that is not a place on Earth
    (hand-edited data) is counted as none rather than breaking the map."""
    located = complaints_query(profile, staff, filters).where(
        Complaint.latitude.is_not(None), Complaint.longitude.is_not(None),
        Complaint.latitude.between(-90, 90), Complaint.longitude.between(-180, 180))
    located_total = int(session.scalar(
        select(func.count()).select_from(located.subquery())) or 0)
    all_total = int(session.scalar(select(func.count()).select_from(
        complaints_query(profile, staff, filters).subquery())) or 0)
    rows = session.scalars(located.order_by(Complaint.created_at.desc(), Complaint.id.desc())
                           .limit(MAP_MAX)).all()
    markers = []
    for c in rows:
        lat, lon = float(c.latitude or 0), float(c.longitude or 0)
        if not (math.isfinite(lat) and math.isfinite(lon)):
            continue
        text = " ".join(c.description.split())
        markers.append(MarkerOut(
            reference=c.reference, latitude=lat, longitude=lon, status=c.status, kind=c.kind,
            category=c.category, created_at=c.created_at,
            description=text if len(text) <= CARD_TEXT else text[:CARD_TEXT - 1] + "…",
            outside=not profile.inside(lat, lon)))
    return markers, located_total, all_total - located_total
