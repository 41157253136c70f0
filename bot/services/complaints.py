"""Complaints, suggestions and praise: registering them (from the chat or an
Open311 client), moving them through their states, answering the citizen in
their language, the follow-up four weeks after `resolved`, and approval for
the public Open311 endpoints."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.i18n import Catalogs, Translate
from bot.messages import Button, Reply
from bot.models import (
    ChannelAccount,
    Citizen,
    Complaint,
    ComplaintEvent,
    ComplaintKind,
    ComplaintPhoto,
    ComplaintStatus,
    next_reference,
)
from bot.models.complaints import CLOSED
from bot.models.staff import Role
from bot.outbox.queue import Purpose
from bot.profile import Named, Profile
from bot.refusals import Conflict, Invalid
from bot.services.notify import alert_officers, tell_citizen

DESCRIPTION_MIN, DESCRIPTION_MAX = 10, 4000
ADDRESS_MIN, ADDRESS_MAX = 3, 300
PHOTOS_MAX = 5
REPLY_MAX = 4000
FOLLOWUP_AFTER = timedelta(days=28)
S = ComplaintStatus
# Which state may follow which. A closed complaint may only be reopened.
ALLOWED: dict[ComplaintStatus, frozenset[ComplaintStatus]] = {
    S.open: frozenset({S.in_progress, S.resolved, S.rejected, S.duplicate}),
    S.in_progress: frozenset({S.open, S.resolved, S.rejected, S.duplicate}),
    S.resolved: frozenset({S.open}),
    S.rejected: frozenset({S.open}),
    S.duplicate: frozenset({S.open}),
}


@dataclass(frozen=True)
class PhotoRef:
    """A photo as the flow collected it: where the platform keeps it."""

    channel: str
    file_id: str | None = None
    url: str | None = None


def category(profile: Profile, code: str) -> Named | None:
    return next((c for c in profile.complaint_categories if c.code == code), None)


def department_of(profile: Profile, category_code: str) -> str:
    found = category(profile, category_code)
    return str(found.extra["department"]) if found else "info_office"


def valid_location(latitude: float | None, longitude: float | None) -> bool:
    """Both numbers, finite and on the globe (a forged update can send anything)."""
    if latitude is None or longitude is None:
        return False
    return (math.isfinite(latitude) and math.isfinite(longitude)
            and -90 <= latitude <= 90 and -180 <= longitude <= 180)


def _event(session: Session, complaint: Complaint, *, by: str, action: str, now: datetime,
           text: str | None = None, status_from: str | None = None,
           status_to: str | None = None, internal: bool = False) -> ComplaintEvent:
    event = ComplaintEvent(complaint_id=complaint.id, at=now, by=by, action=action, text=text,
                           status_from=status_from, status_to=status_to, internal=internal)
    session.add(event)
    complaint.updated_at = now
    return event


def _alert_department(session: Session, profile: Profile, catalogs: Catalogs,
                      complaint: Complaint) -> None:
    """The department's officers (and the Office for Information, which
    watches the whole box) hear of a new complaint in their own chat."""
    def message(t: object) -> Reply:
        assert callable(t)
        return Reply(t("complaints.alert_new", reference=complaint.reference,
                       kind=t(f"complaints.kind.{complaint.kind.value}")))

    alert_officers(session, profile, catalogs, roles=(Role.department,),
                   department=complaint.department, message=message)
    alert_officers(session, profile, catalogs, roles=(Role.info_office,), message=message)


def register(session: Session, profile: Profile, catalogs: Catalogs, *, citizen: Citizen,
             account: ChannelAccount, kind: ComplaintKind, category_code: str,
             settlement: str | None, description: str, photos: list[PhotoRef],
             latitude: float | None, longitude: float | None, address: str | None,
             anonymous: bool, now: datetime) -> Complaint:
    """The citizen confirmed: one transaction makes the complaint, its
    pending photos (the worker fetches them) and the first history line."""
    complaint = Complaint(
        reference=next_reference(session, "C", now, profile.tz),
        kind=kind, category=category_code, department=department_of(profile, category_code),
        settlement=settlement, description=description, latitude=latitude,
        longitude=longitude, address=address, anonymous=anonymous, source="chat",
        citizen_id=citizen.id, account_id=account.id, status=S.open, created_at=now,
        updated_at=now)
    session.add(complaint)
    session.flush()
    for position, photo in enumerate(photos[:PHOTOS_MAX], start=1):
        session.add(ComplaintPhoto(complaint_id=complaint.id, position=position,
                                   channel=photo.channel, file_id=photo.file_id,
                                   url=photo.url, next_attempt_at=now, created_at=now))
    _event(session, complaint, by="citizen", action="created", status_to=S.open, now=now)
    _alert_department(session, profile, catalogs, complaint)
    return complaint


def register_open311(session: Session, profile: Profile, catalogs: Catalogs, *,
                     client: str, category_code: str, description: str,
                     latitude: float | None, longitude: float | None, address: str | None,
                     contact_name: str | None, contact_email: str | None,
                     contact_phone: str | None, now: datetime) -> Complaint:
    """A report filed by a civic-tech tool; nobody to answer in a chat."""
    complaint = Complaint(
        reference=next_reference(session, "C", now, profile.tz),
        kind=ComplaintKind.complaint, category=category_code,
        department=department_of(profile, category_code), settlement=None,
        description=description, latitude=latitude, longitude=longitude, address=address,
        anonymous=False, source="open311", open311_client=client, contact_name=contact_name,
        contact_email=contact_email, contact_phone=contact_phone, status=S.open,
        created_at=now, updated_at=now)
    session.add(complaint)
    session.flush()
    _event(session, complaint, by=f"open311:{client}", action="created", status_to=S.open,
           now=now)
    _alert_department(session, profile, catalogs, complaint)
    return complaint


def by_reference(session: Session, reference: str) -> Complaint | None:
    return session.scalar(select(Complaint).where(Complaint.reference == reference))


# --- telling the citizen -------------------------------------------------------

def tell_about(session: Session, profile: Profile, catalogs: Catalogs, complaint: Complaint,
               key: str, *, now: datetime, buttons: list[tuple[str, str]] | None = None,
               dedupe_key: str | None = None, sms_form: bool = False,
               **params: object) -> bool:
    """One message about this complaint, in the citizen's language; `buttons`
    are (label key, payload) pairs. False when nobody can be told (Open311
    reports, erased citizens). With `sms_form` (a change of state), a citizen
    reached by SMS is asked to call or visit, with the reference."""
    def message(t: Translate, locale: str) -> Reply:
        rows = [[Button(t(label), payload) for label, payload in buttons or []]]
        return Reply(t(key, reference=complaint.reference, **params).strip(),
                     [row for row in rows if row])

    def by_sms(t: Translate, locale: str) -> Reply:
        return Reply(t("sms.complaint_changed", municipality=profile.municipality_name(locale),
                       reference=complaint.reference,
                       phone=profile.localized_contact("phone", locale)))

    return tell_citizen(session, profile, catalogs, citizen_id=complaint.citizen_id,
                        account_id=complaint.account_id, message=message, now=now,
                        dedupe_key=dedupe_key, purpose=Purpose.complaint_update,
                        sms=by_sms if sms_form else None)


# --- staff actions -------------------------------------------------------------

def transition(session: Session, profile: Profile, catalogs: Catalogs, complaint: Complaint,
               to: ComplaintStatus, *, by: str, now: datetime, text: str | None = None,
               duplicate_of: str | None = None) -> None:
    """Change the state if the rules allow it, then tell the citizen (with the
    officer's words, when given)."""
    text = (text or "").strip()[:REPLY_MAX] or None
    if to not in ALLOWED[complaint.status]:
        raise Conflict("transition_not_allowed",
                       f"a complaint that is {complaint.status.value} cannot become {to.value}")
    if to is S.rejected and not text:
        raise Invalid("reason_required", "a rejection must say why")
    original: Complaint | None = None
    if to is S.duplicate:
        original = by_reference(session, (duplicate_of or "").strip().upper())
        if original is None or original.id == complaint.id:
            raise Invalid("original_required",
                          "a duplicate names its original by an existing reference "
                          "other than its own")
    before = complaint.status
    complaint.status = to
    complaint.duplicate_of_id = original.id if original else None
    complaint.closed_at = now if to in CLOSED else None
    if to is S.resolved:
        complaint.followup_sent_at = complaint.followup_answered_at = None
    recorded = text if original is None else (
        f"{original.reference}: {text}" if text else original.reference)
    _event(session, complaint, by=by, action="status", status_from=before.value,
           status_to=to.value, now=now, text=recorded)
    tell_about(session, profile, catalogs, complaint, changed_key(complaint.kind, to),
               now=now, text=text or "", original=original.reference if original else "",
               sms_form=True)


def changed_key(kind: ComplaintKind, to: ComplaintStatus) -> str:
    """A state change in the words of its kind: a suggestion or praise is not
    called a complaint."""
    if kind is ComplaintKind.complaint:
        return f"complaints.changed.{to.value}"
    return f"complaints.changed_{kind.value}.{to.value}"


def reply(session: Session, profile: Profile, catalogs: Catalogs, complaint: Complaint,
          text: str, *, by: str, now: datetime) -> bool:
    """A message from the department to the citizen; returns whether anyone
    could be told (Open311 reports have no chat)."""
    text = text.strip()[:REPLY_MAX]
    if not text:
        raise Invalid("text_required", "a reply needs text")
    _event(session, complaint, by=by, action="reply", text=text, now=now)
    return tell_about(session, profile, catalogs, complaint, "complaints.reply", now=now,
                      text=text)


def note(session: Session, complaint: Complaint, text: str, *, by: str,
         now: datetime) -> ComplaintEvent:
    text = text.strip()[:REPLY_MAX]
    if not text:
        raise Invalid("text_required", "a note needs text")
    return _event(session, complaint, by=by, action="note", text=text, internal=True, now=now)


def assign(session: Session, profile: Profile, catalogs: Catalogs, complaint: Complaint,
           department: str, *, by: str, now: datetime) -> None:
    if profile.department(department) is None:
        raise Invalid("unknown_department", f"no department {department!r}")
    if department == complaint.department:
        return
    before = complaint.department
    complaint.department = department
    _event(session, complaint, by=by, action="assigned", text=f"{before} → {department}",
           internal=True, now=now)
    _alert_department(session, profile, catalogs, complaint)


def publish(session: Session, complaint: Complaint, *, by: str, now: datetime,
            description: str | None = None, latitude: float | None = None,
            longitude: float | None = None, address: str | None = None,
            keep_location: bool = True) -> None:
    """Approve for the public Open311 endpoints, with the description and
    location as the officer wants them shown (by default the citizen's)."""
    public_text = (description if description is not None else complaint.description).strip()
    if not public_text:
        raise Invalid("text_required", "a published complaint needs a description")
    if (latitude is None) != (longitude is None) or (
            latitude is not None and not valid_location(latitude, longitude)):
        raise Invalid("invalid_location", "give both latitude and longitude, "
                      "within -90..90 and -180..180")
    complaint.public_description = public_text[:DESCRIPTION_MAX]
    if latitude is not None:
        complaint.public_latitude, complaint.public_longitude = latitude, longitude
    elif keep_location:
        complaint.public_latitude = complaint.latitude
        complaint.public_longitude = complaint.longitude
    else:
        complaint.public_latitude = complaint.public_longitude = None
    complaint.public_address = (address.strip()[:ADDRESS_MAX] if address is not None
                                else complaint.address if keep_location else None)
    was = complaint.published
    complaint.published = True
    complaint.published_at = complaint.published_at if was else now
    _event(session, complaint, by=by, action="published", internal=True, now=now)


def unpublish(session: Session, complaint: Complaint, *, by: str, now: datetime) -> None:
    if not complaint.published:
        return
    complaint.published = False
    complaint.published_at = None
    _event(session, complaint, by=by, action="unpublished", internal=True, now=now)


# --- the follow-up -------------------------------------------------------------

def send_followups(session: Session, profile: Profile, catalogs: Catalogs,
                   now: datetime) -> int:
    """Four weeks after `resolved`, ask once whether it really is — about a
    complaint only: a suggestion or praise has no problem to be solved."""
    due = session.scalars(select(Complaint).where(
        Complaint.status == S.resolved, Complaint.kind == ComplaintKind.complaint,
        Complaint.followup_sent_at.is_(None),
        Complaint.closed_at <= now - FOLLOWUP_AFTER)).all()
    asked = 0
    for complaint in due:
        complaint.followup_sent_at = now
        if tell_about(session, profile, catalogs, complaint, "complaints.followup", now=now,
                      buttons=[("complaints.followup_yes", f"cmp:solved:{complaint.reference}"),
                               ("complaints.followup_no", f"cmp:unsolved:{complaint.reference}")],
                      dedupe_key=f"complaint-followup:{complaint.id}:"
                                 f"{complaint.closed_at:%Y%m%d%H%M%S}"):
            _event(session, complaint, by="system", action="followup", internal=True,
                   text="asked whether it is really solved", now=now)
            asked += 1
    return asked


def followup_answer(session: Session, profile: Profile, catalogs: Catalogs,
                    complaint: Complaint, solved: bool, *, now: datetime) -> bool:
    """The citizen's answer; "no" reopens. False when it no longer applies
    (answered already, or staff changed the state meanwhile)."""
    if (complaint.status is not S.resolved or complaint.followup_sent_at is None
            or complaint.followup_answered_at is not None):
        return False
    complaint.followup_answered_at = now
    if solved:
        _event(session, complaint, by="citizen", action="followup",
               text="the citizen confirmed it is solved", now=now)
        return True
    complaint.status = S.open
    complaint.closed_at = None
    _event(session, complaint, by="citizen", action="status", status_from=S.resolved.value,
           status_to=S.open.value, text="the citizen says it is not solved", now=now)
    _alert_department(session, profile, catalogs, complaint)
    return True
