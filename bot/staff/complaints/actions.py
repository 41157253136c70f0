"""What staff do with a complaint: change its state, reply to the citizen
(in their language), add an internal note, assign it to another department,
publish it for Open311 (with the public copy) or withdraw it. Each change is
audited with its before and after — never with anything about the sender.
The service's rules refuse what cannot be done: invalid input is `Invalid`
(422), a conflict with the complaint's state `Conflict` (409)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import utcnow
from bot.i18n import Catalogs
from bot.models import Complaint, ComplaintEvent, ComplaintStatus
from bot.models.staff import StaffUser
from bot.profile import Profile
from bot.refusals import Conflict
from bot.services import complaints as service
from bot.staff import audit
from bot.staff.complaints.views import find_complaint
from bot.staff.text import clean, tidy


@dataclass(frozen=True)
class PublicCopy:
    """What Open311 shows of a published complaint; None means "the
    citizen's", and `keep_location=False` with no coordinates means none."""

    description: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = None
    keep_location: bool = True


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


def _last_event(session: Session, complaint: Complaint, action: str) -> ComplaintEvent:
    event = session.scalars(select(ComplaintEvent).where(
        ComplaintEvent.complaint_id == complaint.id, ComplaintEvent.action == action)
        .order_by(ComplaintEvent.id.desc()).limit(1)).first()
    assert event is not None
    return event


def transition(session: Session, profile: Profile, catalogs: Catalogs, staff: StaffUser,
               ip: str | None, *, reference: str, to: ComplaintStatus, text: str | None,
               duplicate_of: str | None, now: datetime | None = None) -> Complaint:
    """Change the state and tell the citizen. Refused: `transition_not_allowed`
    (409: a closed complaint can only be reopened), `reason_required` (422: a
    rejection says why), `original_required` (422: a duplicate names an
    existing original)."""
    complaint = find_complaint(session, staff, reference)
    before = snapshot(session, complaint)
    body = tidy(text)
    service.transition(session, profile, catalogs, complaint, to, by=staff.username,
                       now=now or utcnow(), text=body or None,
                       duplicate_of=clean(duplicate_of) or None)
    after = snapshot(session, complaint)
    if body:
        after["text"] = body[:service.REPLY_MAX]
    audit.record(session, staff, "complaints.transition", object_type="complaint",
                 object_id=reference, before=before, after=after, ip=ip)
    return complaint


def reply(session: Session, profile: Profile, catalogs: Catalogs, staff: StaffUser,
          ip: str | None, *, reference: str, text: str,
          now: datetime | None = None) -> tuple[ComplaintEvent, bool]:
    """A message to the citizen, kept in the history; whether anyone could be
    told (Open311 reports and erased citizens have no chat)."""
    complaint = find_complaint(session, staff, reference)
    delivered = service.reply(session, profile, catalogs, complaint, tidy(text),
                              by=staff.username, now=now or utcnow())
    event = _last_event(session, complaint, "reply")
    audit.record(session, staff, "complaints.reply", object_type="complaint",
                 object_id=reference, before=None,
                 after={"event": event.id, "text": event.text, "delivered": delivered}, ip=ip)
    return event, delivered


def note(session: Session, staff: StaffUser, ip: str | None, *, reference: str, text: str,
         now: datetime | None = None) -> ComplaintEvent:
    """An internal note in the history, never shown to the citizen."""
    complaint = find_complaint(session, staff, reference)
    service.note(session, complaint, tidy(text), by=staff.username, now=now or utcnow())
    event = _last_event(session, complaint, "note")
    audit.record(session, staff, "complaints.note", object_type="complaint",
                 object_id=reference, before=None, after={"event": event.id,
                                                         "text": event.text}, ip=ip)
    return event


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


def update(session: Session, profile: Profile, catalogs: Catalogs, staff: StaffUser,
           ip: str | None, *, reference: str, department: str | None = None,
           published: bool | None = None, public: PublicCopy | None = None,
           now: datetime | None = None) -> Complaint:
    """Assign, publish (with its public copy) or unpublish; each change is its
    own audit entry. Public fields alone edit an already published copy
    (`not_published`, 409, before it is). Refused by the service:
    `unknown_department`, `invalid_location`, `text_required` (422)."""
    complaint = find_complaint(session, staff, reference)
    now = now or utcnow()
    if department is not None and department != complaint.department:
        before = complaint.department
        service.assign(session, profile, catalogs, complaint, department,
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
            raise Conflict("not_published", "only a published complaint has a public "
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
    return complaint
