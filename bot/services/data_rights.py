"""The citizen's rights over their data (Law No. 06/L-082, SPEC §3.8):
`/mydata` — everything stored about them, as a readable summary and a JSON
file; `/forget` — erase the person and keep their submissions without
anything that identifies them; and the retention job that deletes raw
inbound updates, sent message texts, old complaint photos and voice messages.

Erasure runs in two steps. At once, in the transaction of the citizen's
confirmation: the citizen's personal columns, accounts' identifiers,
conversation, and the personal columns of every submission are cleared and
the queued messages to them are skipped — except the one that says it is
done. Then `finish_erasures` (a timer) blanks the outbox rows of erased
accounts as soon as that last message has left."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import String, cast, delete, literal, select, update
from sqlalchemy.orm import Session

from bot.models import (
    Booking,
    BookingStatus,
    ChannelAccount,
    Citizen,
    Complaint,
    ComplaintPhoto,
    Conversation,
    DocumentRequest,
    InboundUpdate,
    LinkCode,
    NoticeAnswer,
    OutboxMessage,
    OutboxStatus,
    PhotoStatus,
    StaffUser,
    Subscription,
    Survey,
    SurveyResponse,
    UrgentRequest,
    VoiceStatus,
)
from bot.models.complaints import CLOSED
from bot.models.sms import SmsKeywordReply, SmsSubscription
from bot.profile import Profile
from bot.services import voice

ERASED_CHAT = "erased"
UPCOMING_BOOKINGS = (BookingStatus.booked,)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _accounts(session: Session, citizen: Citizen) -> list[ChannelAccount]:
    return list(session.scalars(select(ChannelAccount).where(
        ChannelAccount.citizen_id == citizen.id).order_by(ChannelAccount.id)))


def export(session: Session, profile: Profile, citizen: Citizen,
           now: datetime) -> dict[str, Any]:
    """Everything stored about this citizen, as plain data (SPEC §3.8)."""
    accounts = _accounts(session, citizen)
    account_ids = [a.id for a in accounts]
    conversations = list(session.scalars(select(Conversation).where(
        Conversation.account_id.in_(account_ids))))
    bookings = session.scalars(select(Booking).where(
        Booking.citizen_id == citizen.id).order_by(Booking.id)).all()
    urgent = session.scalars(select(UrgentRequest).where(
        UrgentRequest.citizen_id == citizen.id).order_by(UrgentRequest.id)).all()
    documents = session.scalars(select(DocumentRequest).where(
        DocumentRequest.citizen_id == citizen.id).order_by(DocumentRequest.id)).all()
    complaints = session.scalars(select(Complaint).where(
        Complaint.citizen_id == citizen.id).order_by(Complaint.id)).all()
    received = session.scalars(select(InboundUpdate).where(
        InboundUpdate.account_id.in_(account_ids)).order_by(InboundUpdate.id)).all()
    sent = session.scalars(select(OutboxMessage).where(
        OutboxMessage.account_id.in_(account_ids)).order_by(OutboxMessage.id)).all()
    topics = session.scalars(select(Subscription.topic).where(
        Subscription.citizen_id == citizen.id).order_by(Subscription.topic)).all()
    survey_answers = session.execute(
        select(SurveyResponse, Survey.slug).join(Survey, Survey.id == SurveyResponse.survey_id)
        .where(SurveyResponse.citizen_id == citizen.id).order_by(SurveyResponse.id)).all()
    sms_consents = session.execute(
        select(ChannelAccount, SmsSubscription)
        .join(SmsSubscription, SmsSubscription.account_id == ChannelAccount.id)
        .where(ChannelAccount.id.in_(account_ids)).order_by(ChannelAccount.id)).tuples().all()
    answers = session.scalars(select(NoticeAnswer).where(
        NoticeAnswer.citizen_id == citizen.id).order_by(NoticeAnswer.id)).all()
    return {
        "about": f"Everything the {profile.municipality_name('en')} chat bot stores about you",
        "generated_at": _iso(now),
        "retention_days": profile.retention_days,
        "citizen": {
            "language": citizen.language, "full_name": citizen.full_name,
            "phone": citizen.phone, "settlement": citizen.settlement,
            "country": citizen.country,
            "privacy_acknowledged_at": _iso(citizen.privacy_acknowledged_at),
            "first_seen_at": _iso(citizen.created_at), "last_seen_at": _iso(citizen.last_seen_at),
        },
        "accounts": [{
            "channel": a.channel, "user_id": a.external_id, "display_name": a.display_name,
            "app_language": a.platform_language, "first_seen_at": _iso(a.first_seen_at),
            "last_message_at": _iso(a.last_inbound_at), "blocked_at": _iso(a.blocked_at),
        } for a in accounts],
        "sms": [{
            "number": a.external_id, "source": c.source.value, "registered_by": c.registered_by,
            "consented_at": _iso(c.consented_at), "stopped_at": _iso(c.stopped_at),
        } for a, c in sms_consents],
        "conversation": [{"state": c.state, "data": c.data} for c in conversations],
        "notice_topics": list(topics),
        # Answers to anonymous surveys are not linked to anyone, so not here.
        "survey_responses": [{"survey": slug, "completed_at": _iso(r.completed_at),
                              "answers": r.answers} for r, slug in survey_answers],
        "notice_answers": [{"notice": a.notice_id, "kind": a.kind, "text": a.text,
                            "at": _iso(a.created_at)} for a in answers],
        "reception_bookings": [{
            "reference": b.reference, "starts_at": _iso(b.starts_at), "topic": b.topic,
            "full_name": b.full_name, "phone": b.phone, "settlement": b.settlement,
            "status": b.status.value, "created_at": _iso(b.created_at),
        } for b in bookings],
        "urgent_requests": [{
            "reference": u.reference, "topic": u.topic, "full_name": u.full_name,
            "phone": u.phone, "status": u.status.value, "created_at": _iso(u.created_at),
        } for u in urgent],
        "document_requests": [{
            "reference": d.reference, "description": d.description,
            "department": d.department, "form": d.form.value, "full_name": d.full_name,
            "status": d.status.value, "registered_at": _iso(d.registered_at),
            "due_at": _iso(d.due_at),
            "history": [{"at": _iso(e.at), "state": e.status_to, "text": e.text}
                        for e in d.events if not e.internal],
        } for d in documents],
        "complaints": [{
            "reference": c.reference, "kind": c.kind.value, "category": c.category,
            "settlement": c.settlement, "description": c.description,
            "latitude": c.latitude, "longitude": c.longitude, "address": c.address,
            "anonymous": c.anonymous, "status": c.status.value,
            "created_at": _iso(c.created_at),
            "photos": len([p for p in c.photos if p.status is PhotoStatus.stored]),
            "voice_messages": len([v for v in voice.attached(session, complaint_id=c.id)
                                   if v.status is VoiceStatus.stored]),
            "history": [{"at": _iso(e.at), "action": e.action, "state": e.status_to,
                         "text": e.text} for e in c.events
                        if not e.internal and e.action in {"created", "status", "reply"}],
        } for c in complaints],
        "messages_received": [{
            "at": _iso(u.received_at), "channel": u.channel, "kind": u.kind,
            "payload": u.payload,
        } for u in received],
        "messages_sent": [{
            "at": _iso(m.created_at), "channel": m.channel, "status": m.status.value,
            "text": m.body.get("text"),
        } for m in sent],
    }


def export_file(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=2, default=str).encode("utf-8")


def active_sms(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The SMS registrations of the export still in force."""
    return [row for row in data.get("sms") or [] if row["stopped_at"] is None]


def counts(data: dict[str, Any]) -> dict[str, int]:
    """How many of each thing the export holds, for the readable summary."""
    return {key: len(data.get(key) or []) for key in (
        "accounts", "reception_bookings", "urgent_requests", "document_requests",
        "complaints", "notice_topics", "messages_received", "messages_sent")}


def erase(session: Session, citizen: Citizen, *, now: datetime,
          keep_outbox_id: int | None = None) -> None:
    """Erase the person now; `keep_outbox_id` is the last message ("done"),
    which still leaves. Submissions stay, with nothing that identifies anyone."""
    accounts = _accounts(session, citizen)
    account_ids = [a.id for a in accounts]
    citizen.full_name = citizen.phone = citizen.settlement = citizen.country = None
    citizen.language = None
    citizen.privacy_acknowledged_at = None
    citizen.erased_at = now
    for account in accounts:
        account.external_id = f"{ERASED_CHAT}-{account.id}"
        account.chat_id = ERASED_CHAT
        account.display_name = account.platform_language = None
        account.blocked_at = account.blocked_at or now
    if account_ids:
        session.execute(update(StaffUser).where(StaffUser.chat_account_id.in_(account_ids))
                        .values(chat_account_id=None))
        for conversation in session.scalars(select(Conversation).where(
                Conversation.account_id.in_(account_ids))):
            conversation.state, conversation.data = None, {}
        session.execute(
            update(InboundUpdate).where(InboundUpdate.account_id.in_(account_ids))
            .values(payload=None, account_id=None, error=None,
                    update_key=literal(f"{ERASED_CHAT}-") + cast(InboundUpdate.id, String))
            .execution_options(synchronize_session=False))
        waiting = (select(OutboxMessage.id).where(
            OutboxMessage.account_id.in_(account_ids),
            OutboxMessage.status.in_([OutboxStatus.queued, OutboxStatus.sending,
                                      OutboxStatus.held])))
        if keep_outbox_id is not None:
            waiting = waiting.where(OutboxMessage.id != keep_outbox_id)
        session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(waiting))
                        .values(status=OutboxStatus.skipped, last_error="citizen erased"))
    for booking in session.scalars(select(Booking).where(Booking.citizen_id == citizen.id)):
        booking.full_name = booking.phone = None
        booking.account_id = None
        if booking.status in UPCOMING_BOOKINGS and booking.starts_at > now:
            booking.status = BookingStatus.cancelled
            booking.cancelled_at, booking.cancelled_by = now, "citizen"
            booking.cancel_reason = "the citizen erased their data"
    for urgent in session.scalars(select(UrgentRequest).where(
            UrgentRequest.citizen_id == citizen.id)):
        urgent.full_name = urgent.phone = None
        urgent.account_id = None
    for request in session.scalars(select(DocumentRequest).where(
            DocumentRequest.citizen_id == citizen.id)):
        request.full_name = None
        request.account_id = None
    session.execute(update(Complaint).where(Complaint.citizen_id == citizen.id)
                    .values(account_id=None))
    voice.erase_of(session, citizen.id)
    session.execute(delete(Subscription).where(Subscription.citizen_id == citizen.id))
    citizen.notice_account_id = None
    if account_ids:
        session.execute(delete(LinkCode).where(LinkCode.account_id.in_(account_ids)))
    finish_erasures(session, now)


def finish_erasures(session: Session, now: datetime) -> int:
    """Blank what was sent to erased citizens, once nothing is left to send."""
    erased_accounts = select(ChannelAccount.id).join(
        Citizen, Citizen.id == ChannelAccount.citizen_id).where(Citizen.erased_at.is_not(None))
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.account_id.in_(erased_accounts),
               OutboxMessage.chat_id != ERASED_CHAT,
               OutboxMessage.status.not_in([OutboxStatus.queued, OutboxStatus.sending]))
        .values(chat_id=ERASED_CHAT, body={"text": ""}, brief=None, provider_message_id=None,
                last_error=None)
        .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def apply_retention(session: Session, profile: Profile, now: datetime) -> dict[str, int]:
    """Delete raw inbound updates and sent message texts older than the
    profile's retention, and the photos of complaints closed longer than the
    profile's `photo_retention_days` ago. Rows stay (they keep redelivery and reminders from
    repeating); their contents go. Inbound rows go whole: no platform
    redelivers an update that old."""
    cutoff = now - timedelta(days=profile.retention_days)
    inbound = session.execute(
        delete(InboundUpdate).where(InboundUpdate.received_at < cutoff)
        .execution_options(synchronize_session=False))
    # A message that waited this long for the citizen is given up with the rest.
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.created_at < cutoff, OutboxMessage.status == OutboxStatus.held)
        .values(status=OutboxStatus.skipped, last_error="held past the retention period")
        .execution_options(synchronize_session=False))
    outbox = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.created_at < cutoff,
               OutboxMessage.status.not_in([OutboxStatus.queued, OutboxStatus.sending]),
               OutboxMessage.body["text"].as_string() != "")
        .values(body={"text": ""}, brief=None, last_error=None)
        .execution_options(synchronize_session=False))
    # SMS: the days a stranger was answered, and the number on the answers to
    # numbers without an account (a stranger's keywords, a STOP's confirmation).
    session.execute(delete(SmsKeywordReply).where(SmsKeywordReply.day < cutoff.date())
                    .execution_options(synchronize_session=False))
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.created_at < cutoff, OutboxMessage.channel == "sms",
               OutboxMessage.account_id.is_(None), OutboxMessage.chat_id != ERASED_CHAT,
               OutboxMessage.status.not_in([OutboxStatus.queued, OutboxStatus.sending]))
        .values(chat_id=ERASED_CHAT)
        .execution_options(synchronize_session=False))
    photos_removed = 0
    photo_cutoff = now - timedelta(days=profile.photo_retention_days)
    old = session.scalars(
        select(ComplaintPhoto).join(Complaint, Complaint.id == ComplaintPhoto.complaint_id)
        .where(Complaint.status.in_(list(CLOSED)), Complaint.closed_at < photo_cutoff,
               ComplaintPhoto.path.is_not(None)))
    for photo in old:
        if photo.path:
            Path(photo.path).unlink(missing_ok=True)
        photo.path = None
        photo.status = PhotoStatus.deleted
        photos_removed += 1
    return {"inbound": int(getattr(inbound, "rowcount", 0) or 0),
            "outbox": int(getattr(outbox, "rowcount", 0) or 0),
            "photos": photos_removed,
            "voice_messages": voice.apply_retention(session, photo_cutoff)}

