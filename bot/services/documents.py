"""Requests for public documents: registering them, moving them through their
states with the legal clock, telling the citizen every change in their
language, and what the worker does each day (overdue notices, morning digest)."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.i18n import Catalogs, Translate, format_date, format_time
from bot.messages import FileRef, Reply
from bot.models import (
    ChannelAccount,
    Citizen,
    DocumentEvent,
    DocumentForm,
    DocumentRequest,
    DocumentStatus,
    next_reference,
)
from bot.models.documents import DECIDED
from bot.models.staff import Role
from bot.outbox.queue import Purpose
from bot.profile import Profile
from bot.refusals import Conflict, Invalid
from bot.services import deadlines
from bot.services.notify import alert_officers, tell_citizen

DESCRIPTION_MIN, DESCRIPTION_MAX = 10, 4000
REASON_MAX = 2000
S = DocumentStatus
# Which state may follow which; a decision ends the request.
ALLOWED: dict[DocumentStatus, frozenset[DocumentStatus]] = {
    S.received: frozenset({S.in_progress, S.extended, S.forwarded, S.granted,
                           S.partially_granted, S.refused, S.withdrawn}),
    S.in_progress: frozenset({S.extended, S.forwarded, S.granted, S.partially_granted,
                              S.refused, S.withdrawn}),
    S.extended: frozenset({S.in_progress, S.forwarded, S.granted, S.partially_granted,
                           S.refused, S.withdrawn}),
}


def register(session: Session, profile: Profile, *, citizen: Citizen, account: ChannelAccount,
             description: str, department: str | None, form: DocumentForm,
             life_or_liberty: bool, full_name: str | None, now: datetime) -> DocumentRequest:
    """Registration is the moment the citizen confirms: the clock starts here."""
    request = DocumentRequest(
        reference=next_reference(session, "D", now, profile.tz),
        citizen_id=citizen.id, account_id=account.id, description=description,
        department=department, form=form, life_or_liberty=life_or_liberty,
        full_name=full_name, status=S.received, registered_at=now,
        due_at=deadlines.deadline(profile, now, urgent=life_or_liberty), created_at=now)
    session.add(request)
    session.flush()
    session.add(DocumentEvent(request_id=request.id, at=now, by="citizen", status_to=S.received))
    return request


def transition(session: Session, profile: Profile, catalogs: Catalogs,
               request: DocumentRequest, to: DocumentStatus, *, by: str, now: datetime,
               reason: str | None = None, extension_days: int | None = None,
               forwarded_to: str | None = None, files: list[FileRef] | None = None) -> None:
    """Change the state if the rules allow it, then tell the citizen. Input
    that breaks a rule (no reason, no days, no institution) is `Invalid`; a
    change the request's state does not allow is `Conflict`."""
    reason = (reason or "").strip()[:REASON_MAX] or None
    if to not in ALLOWED.get(request.status, frozenset()):
        raise Conflict("transition_not_allowed",
                       f"a request that is {request.status.value} cannot become {to.value}")
    if to in (S.refused, S.partially_granted) and not reason:
        raise Invalid("reason_required", "a refusal, even a partial one, must give its reason")
    if to is S.extended:
        if request.extended:
            raise Conflict("already_extended", "the deadline can be extended once")
        if not reason:
            raise Invalid("reason_required", "an extension must give its reason")
        if extension_days is None or not 1 <= extension_days <= deadlines.MAX_EXTENSION_DAYS:
            raise Invalid("invalid_extension",
                          f"an extension is 1 to {deadlines.MAX_EXTENSION_DAYS} days")
        request.due_at = deadlines.extended_deadline(profile, request.due_at, extension_days)
        request.extended = True
    if to is S.forwarded:
        if not forwarded_to or not forwarded_to.strip():
            raise Invalid("institution_required",
                          "say which institution the request was forwarded to")
        request.forwarded_to = forwarded_to.strip()[:300]
    before = request.status
    request.status = to
    if to in DECIDED:
        request.decided_at = now
    session.add(DocumentEvent(request_id=request.id, at=now, by=by, status_from=before,
                              status_to=to, text=reason))
    notify_change(session, profile, catalogs, request, now=now, reason=reason, files=files)


def forward_within(session: Session, profile: Profile, catalogs: Catalogs,
                   request: DocumentRequest, department: str, *, by: str,
                   now: datetime) -> None:
    """Forward the request within the municipality to the department that
    holds the document (a profile code, `unknown_department` otherwise): its
    officers now see and act on it and hear of it in their chat. The state
    does not change — the municipality still decides, on the same clock; the
    law's forwarding to another institution is the `forwarded` state."""
    if profile.department(department) is None:
        raise Invalid("unknown_department", f"no department {department!r} in the profile",
                      field="department")
    if request.decided:
        raise Conflict("request_decided",
                       f"a request that is {request.status.value} is not forwarded")
    if department == request.forwarded_department:
        return
    before = request.forwarded_department
    request.forwarded_department = department
    session.add(DocumentEvent(request_id=request.id, at=now, by=by, internal=True,
                              text=f"forwarded within the municipality: "
                                   f"{before or '—'} → {department}"))

    due = f"{request.due_at.astimezone(profile.tz):%Y-%m-%d}"

    def message(t: Translate) -> Reply:
        return Reply(t("documents.alert_forwarded", reference=request.reference, due=due))

    alert_officers(session, profile, catalogs, roles=(Role.department,),
                   department=department, message=message)


# What each change is for the citizen: the decisions, an extension and a
# forwarding are the law's and reach them whatever the channel; the rest can wait.
CHANGE_PURPOSE: dict[DocumentStatus, Purpose] = {
    S.granted: Purpose.document_decision, S.partially_granted: Purpose.document_decision,
    S.refused: Purpose.document_decision, S.extended: Purpose.document_extended,
    S.forwarded: Purpose.document_forwarded,
}


def due_text(profile: Profile, request: DocumentRequest, locale: str) -> str:
    """The deadline as a citizen reads it: a date, and the hour when it is 48 hours."""
    local = request.due_at.astimezone(profile.tz)
    text = format_date(local, locale, long=True)
    return f"{text} {format_time(local)}" if request.life_or_liberty else text


def law_terms(profile: Profile, t: Translate, locale: str) -> dict[str, object]:
    """What Law No. 06/L-081 gives the citizen, for the texts that quote it: the
    deadlines, and where to complain (the Agency's details from the profile)."""
    body = profile.appeal_body
    return {
        "days": deadlines.REGULAR_DAYS,
        "extension_days": deadlines.MAX_EXTENSION_DAYS,
        "hours": deadlines.URGENT_HOURS,
        "appeal_days": deadlines.APPEAL_DAYS,
        "agency_name": body.name_in(locale),
        "agency": t("documents.appeal_body", name=body.name_in(locale),
                    address=body.address_in(locale), phone=body.phone,
                    website=body.website),
    }


def status_text(profile: Profile, t: Translate, locale: str, request: DocumentRequest,
                *, history: str | None = None) -> str:
    """The request in /status (one line) or its history: the answer's due date
    only while an answer is still due (not once decided or forwarded)."""
    state = t(f"documents.state.{request.status.value}")
    if history is None:
        key = "documents.status_line_decided" if request.decided else "documents.status_line"
        return t(key, reference=request.reference, state=state,
                 due=due_text(profile, request, locale))
    key = "documents.history_decided" if request.decided else "documents.history"
    return t(key, reference=request.reference, state=state,
             due=due_text(profile, request, locale), history=history)


def notify_change(session: Session, profile: Profile, catalogs: Catalogs,
                  request: DocumentRequest, *, now: datetime, reason: str | None = None,
                  files: list[FileRef] | None = None) -> None:
    """The citizen learns the new state (a refusal with its reason and the
    appeal route), with the granted files after it; a citizen reached by SMS
    is asked to call or visit, with the reference."""
    def message(t: Translate, locale: str) -> list[Reply]:
        text = t(f"documents.changed.{request.status.value}", reference=request.reference,
                 due=due_text(profile, request, locale), reason=(reason or "").strip(),
                 institution=request.forwarded_to or "", **law_terms(profile, t, locale))
        return [Reply(text), *(Reply(t("documents.file_caption", reference=request.reference),
                                     file=file) for file in files or [])]

    def by_sms(t: Translate, locale: str) -> Reply:
        return Reply(t("sms.document_changed", municipality=profile.municipality_name(locale),
                       reference=request.reference,
                       phone=profile.localized_contact("phone", locale)))

    tell_citizen(session, profile, catalogs, citizen_id=request.citizen_id,
                 account_id=request.account_id, message=message, now=now,
                 purpose=CHANGE_PURPOSE.get(request.status, Purpose.document_update),
                 sms=by_sms)


def _overdue_message(profile: Profile, reference: str, due_at: datetime, t: Translate,
                     locale: str) -> Reply:
    """Silence is refusal: the day the deadline expired, and the 15 days for a
    complaint counted from it."""
    expired = due_at.astimezone(profile.tz).date()
    until = expired + timedelta(days=deadlines.APPEAL_DAYS)
    return Reply(t("documents.overdue", reference=reference,
                   expired=format_date(expired, locale), appeal_until=format_date(until, locale),
                   **law_terms(profile, t, locale)))


def overdue(session: Session, now: datetime) -> list[DocumentRequest]:
    return list(session.scalars(select(DocumentRequest).where(
        DocumentRequest.status.not_in(list(DECIDED)), DocumentRequest.due_at < now)))


def count_overdue(session: Session, now: datetime) -> int:
    """How many requests are past their deadline undecided (for /metrics)."""
    return session.scalar(select(func.count()).select_from(DocumentRequest).where(
        DocumentRequest.status.not_in(list(DECIDED)), DocumentRequest.due_at < now)) or 0


def tell_overdue(session: Session, profile: Profile, catalogs: Catalogs,
                 now: datetime) -> int:
    """Once per request: silence counts as refusal; here is how to complain."""
    told = 0
    for request in overdue(session, now):
        if request.overdue_notified_at is not None:
            continue
        request.overdue_notified_at = now
        session.add(DocumentEvent(request_id=request.id, at=now, by="system",
                                  text="overdue: the citizen was told the appeal route"))
        if tell_citizen(session, profile, catalogs, citizen_id=request.citizen_id,
                        account_id=request.account_id, now=now,
                        message=partial(_overdue_message, profile, request.reference,
                                        request.due_at),
                        dedupe_key=f"documents-overdue:{request.id}",
                        purpose=Purpose.document_silence):
            told += 1
    return told


def due_between(session: Session, start: datetime, end: datetime) -> list[DocumentRequest]:
    return list(session.scalars(select(DocumentRequest).where(
        DocumentRequest.status.not_in(list(DECIDED)), DocumentRequest.due_at >= start,
        DocumentRequest.due_at < end).order_by(DocumentRequest.due_at)))


def morning_digest(session: Session, profile: Profile, catalogs: Catalogs,
                   now: datetime, hour: int = 8) -> int:
    """On working mornings, each info_office officer with a linked chat gets
    what is due today and what is overdue — once per day."""
    local = now.astimezone(profile.tz)
    if local.hour < hour or not profile.is_working_day(local.date()):
        return 0
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    today = due_between(session, start, start + timedelta(days=1))
    late = overdue(session, now)
    if not today and not late:
        return 0
    day_key = local.date().isoformat()

    def digest(t: Translate) -> Reply:
        lines = [t("documents.digest", today=len(today), overdue=len(late))]
        lines += [f"• {r.reference} — {t('documents.digest_overdue')}" for r in late]
        lines += [f"• {r.reference} — {t('documents.digest_today')}" for r in today]
        return Reply("\n".join(lines))

    rows = alert_officers(session, profile, catalogs, roles=(Role.info_office,),
                          message=digest, once_per=f"documents-digest:{day_key}")
    return len(rows)
