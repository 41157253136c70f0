"""The monthly report for the mayor and the assembly (`/staff/reports/YYYY-MM`,
`GET /api/v1/reports/{YYYY-MM}`, and its XLSX): a local calendar month of
the reception, document requests (the numbers the municipality reports
under the access law, Law No. 06/L-081), complaints, surveys, notices and
chat use. Numbers only: no name, description or chat, so reading it is not
a view of personal data; the XLSX download is audited as every export is.

A month is `YYYY-MM` in Klokot's time zone. A malformed one is `Invalid`
(422); one that has not begun, or one before the first data the bot holds,
is `NotFound` (404) with a code saying which. The month under way is
reported up to `now`, and says so (`complete` false)."""

from __future__ import annotations

import io
import re
import statistics
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from bot.i18n import Translate
from bot.models import (
    Booking,
    BookingStatus,
    ChannelAccount,
    Citizen,
    Complaint,
    ComplaintEvent,
    ComplaintStatus,
    DocumentEvent,
    DocumentRequest,
    DocumentStatus,
    InboundUpdate,
    Notice,
    ReceptionDay,
    Subscription,
    Survey,
    SurveyParticipant,
    SurveyResponse,
    SurveyStatus,
    UrgentRequest,
)
from bot.models.staff import StaffUser
from bot.profile import ABROAD, Profile
from bot.refusals import Invalid, NotFound
from bot.services import reception as reception_service
from bot.staff import audit
from bot.staff import notices as staff_notices
from bot.staff.export import cell

MONTH_PATTERN = r"^([0-9]{4})-(0[1-9]|1[0-2])$"
MONTH = re.compile(MONTH_PATTERN)
UNKNOWN = "unknown"  # a settlement or language the citizen did not give
DECISIONS = (DocumentStatus.granted, DocumentStatus.partially_granted, DocumentStatus.refused,
             DocumentStatus.forwarded)


# --- shapes ---------------------------------------------------------------------

class Breakdown(BaseModel):
    code: str = Field(description="A profile code (settlement, category, topic…) or `unknown`")
    count: int


class ReceptionReport(BaseModel):
    days_held: int = Field(description="Reception days of the month, not closed, held so far")
    days_closed: int
    bookings: int = Field(description="Bookings for the month's days, cancelled ones not counted")
    attended: int
    no_show: int
    unmarked: int = Field(description="The day went by and nobody marked them")
    upcoming: int = Field(description="Still booked for a day to come")
    cancelled: int
    urgent: int = Field(description="Urgent requests received")
    by_settlement: list[Breakdown] = Field(description="Bookings (not cancelled) by settlement")
    attended_by_settlement: list[Breakdown]


class ReasonCount(BaseModel):
    reason: str
    count: int


class DocumentsReport(BaseModel):
    received: int
    decided: int = Field(description="Granted, partly granted, refused or forwarded this month")
    decided_in_time: int = Field(description="Of those, by their deadline")
    granted: int
    partially_granted: int
    refused: int
    refused_reasons: list[ReasonCount]
    forwarded: int = Field(description="Forwarded to the institution holding the document")
    withdrawn: int
    extended: int = Field(description="Deadlines extended this month")
    overdue: int = Field(description="Undecided and past the deadline at the month's end "
                                     "(or now, for the month under way)")


class ComplaintsReport(BaseModel):
    received: int
    by_category: list[Breakdown]
    by_settlement: list[Breakdown]
    by_kind: list[Breakdown]
    resolved: int = Field(description="Complaints marked resolved this month")
    median_days_to_resolve: float | None = Field(
        description="From coming in to being marked resolved, of those resolved this month")
    reopened_after_followup: int = Field(
        description="The citizen answered the four-week follow-up \"not solved\" this month")


class SurveyParticipation(BaseModel):
    slug: str
    title: dict[str, str]
    started: int = Field(description="Citizens who started it this month")
    completed: int = Field(description="Responses finished this month")


class SurveysReport(BaseModel):
    surveys: list[SurveyParticipation] = Field(description="Surveys open during the month")
    started: int
    completed: int


class TopicReach(BaseModel):
    topic: str
    notices: int
    recipients: int
    reached: int = Field(description="Delivered")
    not_reached: int = Field(description="Failed, blocked or skipped")
    new_subscriptions: int


class NoticesReport(BaseModel):
    sent: int = Field(description="Notices whose sending began this month")
    recipients: int
    reached: int
    by_topic: list[TopicReach]
    opt_outs: int = Field(description="Accounts that blocked the bot (or unsubscribed on "
                                      "Viber) this month; leaving one topic is not recorded")


class ChatReport(BaseModel):
    citizens: int = Field(description="Citizens who wrote to the bot this month (as far as the "
                                      "retention of raw updates allows)")
    new_citizens: int
    by_app: list[Breakdown]
    by_language: list[Breakdown]
    diaspora: int = Field(description="Of the citizens who wrote, those living abroad")
    diaspora_share: float | None = Field(description="Percent, 0–100")


class ReportOut(BaseModel):
    month: str = Field(description="YYYY-MM")
    first_day: date
    last_day: date
    complete: bool = Field(description="False for the month under way: numbers so far")
    reception: ReceptionReport
    documents: DocumentsReport
    complaints: ComplaintsReport
    surveys: SurveysReport
    notices: NoticesReport
    chat: ChatReport


# --- the month ------------------------------------------------------------------

def parse_month(text: str) -> date:
    """The first day of `YYYY-MM`; anything else is `invalid_month` (422). A
    year before the bot's time is a month before the data (404), one past
    9000 a month that has not begun."""
    found = MONTH.match(text or "")
    if not found or not 1 <= int(found.group(2)) <= 12:
        raise Invalid("invalid_month", "the month is YYYY-MM, e.g. 2026-11", "month")
    year = int(found.group(1))
    if year < 2000:
        raise NotFound("month_before_data", f"the bot holds no data of {text}")
    if year > 9000:
        raise NotFound("month_in_future", f"{text} has not begun yet")
    return date(year, int(found.group(2)), 1)


def next_month(first: date) -> date:
    return (first + timedelta(days=32)).replace(day=1)


def previous_month(first: date) -> date:
    return (first - timedelta(days=1)).replace(day=1)


def first_data(session: Session) -> datetime | None:
    """When the bot's first record came in: a citizen, a complaint (Open311
    ones have no citizen), a notice or a survey."""
    found = [session.scalar(select(func.min(column))) for column in (
        Citizen.created_at, Complaint.created_at, Notice.created_at, Survey.created_at)]
    moments = [m for m in found if m is not None]
    return min(moments) if moments else None


def check_month(session: Session, profile: Profile, first: date, now: datetime) -> None:
    """The month under way is always there; a later one is `month_in_future`,
    one before the first data `month_before_data` (both 404)."""
    this_month = now.astimezone(profile.tz).date().replace(day=1)
    if first > this_month:
        raise NotFound("month_in_future", f"{first:%Y-%m} has not begun yet")
    if first == this_month:
        return
    earliest = first_data(session)
    if earliest is None or first < as_local(earliest, profile).date().replace(day=1):
        raise NotFound("month_before_data", f"the bot holds no data of {first:%Y-%m} or before")


def as_local(moment: datetime, profile: Profile) -> datetime:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(profile.tz)


def _midnight(profile: Profile, day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=profile.tz)


def _breakdown(counter: Counter[str], order: list[str]) -> list[Breakdown]:
    """Counts in the profile's order, other codes after them, `unknown` last."""
    rank = {code: i for i, code in enumerate(order)}
    codes = sorted(counter, key=lambda c: (c == UNKNOWN, rank.get(c, len(rank)), c))
    return [Breakdown(code=c, count=counter[c]) for c in codes if counter[c]]


# --- sections -------------------------------------------------------------------

def _reception(session: Session, profile: Profile, first: date, last: date,
               until: datetime) -> ReceptionReport:
    today = until.astimezone(profile.tz).date()
    days = session.scalars(select(ReceptionDay).where(
        ReceptionDay.day >= first, ReceptionDay.day <= last)).all()
    rows = session.execute(select(Booking.status, Booking.settlement).join(Booking.day).where(
        ReceptionDay.day >= first, ReceptionDay.day <= last)).all()
    statuses = Counter(status for status, _ in rows)
    settlement_order = [*profile.settlement_codes(), UNKNOWN]
    kept = [(s, where) for s, where in rows if s is not BookingStatus.cancelled]
    start, end = _midnight(profile, first), _midnight(profile, last + timedelta(days=1))
    urgent = session.scalar(select(func.count()).select_from(UrgentRequest).where(
        UrgentRequest.created_at >= start, UrgentRequest.created_at < end)) or 0
    return ReceptionReport(
        days_held=sum(1 for d in days if not d.closed and d.day <= today),
        days_closed=sum(1 for d in days if d.closed), bookings=len(kept),
        attended=statuses[BookingStatus.attended], no_show=statuses[BookingStatus.no_show],
        unmarked=statuses[BookingStatus.past], upcoming=statuses[BookingStatus.booked],
        cancelled=statuses[BookingStatus.cancelled], urgent=int(urgent),
        by_settlement=_breakdown(Counter(where or UNKNOWN for _, where in kept),
                                 settlement_order),
        attended_by_settlement=_breakdown(Counter(
            where or UNKNOWN for s, where in kept if s is BookingStatus.attended),
            settlement_order))


def _documents(session: Session, start: datetime, end: datetime,
               until: datetime) -> DocumentsReport:
    received = session.scalar(select(func.count()).select_from(DocumentRequest).where(
        DocumentRequest.registered_at >= start, DocumentRequest.registered_at < end)) or 0
    decided = session.execute(select(DocumentRequest.status, DocumentRequest.decided_at,
                                     DocumentRequest.due_at).where(
        DocumentRequest.decided_at >= start, DocumentRequest.decided_at < end)).all()
    statuses = Counter(status for status, _, _ in decided)
    decisions = [(at, due) for status, at, due in decided if status in DECISIONS]
    reasons = Counter((text or "").strip() or "—" for (text,) in session.execute(
        select(DocumentEvent.text).where(DocumentEvent.status_to == DocumentStatus.refused.value,
                                         DocumentEvent.at >= start, DocumentEvent.at < end)))
    extended = session.scalar(select(func.count()).select_from(DocumentEvent).where(
        DocumentEvent.status_to == DocumentStatus.extended.value,
        DocumentEvent.at >= start, DocumentEvent.at < end)) or 0
    overdue = session.scalar(select(func.count()).select_from(DocumentRequest).where(
        DocumentRequest.registered_at < until, DocumentRequest.due_at < until,
        (DocumentRequest.decided_at.is_(None)) | (DocumentRequest.decided_at >= until))) or 0
    return DocumentsReport(
        received=int(received), decided=len(decisions),
        decided_in_time=sum(1 for at, due in decisions if at <= due),
        granted=statuses[DocumentStatus.granted],
        partially_granted=statuses[DocumentStatus.partially_granted],
        refused=statuses[DocumentStatus.refused],
        refused_reasons=[ReasonCount(reason=r, count=n) for r, n in reasons.most_common()],
        forwarded=statuses[DocumentStatus.forwarded],
        withdrawn=statuses[DocumentStatus.withdrawn], extended=int(extended),
        overdue=int(overdue))


def _complaints(session: Session, profile: Profile, start: datetime,
                end: datetime) -> ComplaintsReport:
    rows = session.execute(select(Complaint.category, Complaint.settlement, Complaint.kind)
                           .where(Complaint.created_at >= start,
                                  Complaint.created_at < end)).all()
    resolved = session.execute(
        select(ComplaintEvent.complaint_id, func.min(ComplaintEvent.at), Complaint.created_at)
        .join(Complaint, Complaint.id == ComplaintEvent.complaint_id)
        .where(ComplaintEvent.action == "status",
               ComplaintEvent.status_to == ComplaintStatus.resolved.value,
               ComplaintEvent.at >= start, ComplaintEvent.at < end)
        .group_by(ComplaintEvent.complaint_id, Complaint.created_at)).all()
    days = [(at - created).total_seconds() / 86400 for _, at, created in resolved]
    reopened = session.scalar(select(func.count(distinct(ComplaintEvent.complaint_id))).where(
        ComplaintEvent.action == "status", ComplaintEvent.by == "citizen",
        ComplaintEvent.status_to == ComplaintStatus.open.value,
        ComplaintEvent.at >= start, ComplaintEvent.at < end)) or 0
    return ComplaintsReport(
        received=len(rows),
        by_category=_breakdown(Counter(c for c, _, _ in rows), profile.category_codes()),
        by_settlement=_breakdown(Counter(s or UNKNOWN for _, s, _ in rows),
                                 [*profile.settlement_codes(), UNKNOWN]),
        by_kind=_breakdown(Counter(k.value for _, _, k in rows),
                           ["complaint", "suggestion", "praise"]),
        resolved=len(resolved),
        median_days_to_resolve=round(statistics.median(days), 1) if days else None,
        reopened_after_followup=int(reopened))


def _surveys(session: Session, first: date, last: date, start: datetime,
             end: datetime) -> SurveysReport:
    surveys = session.scalars(select(Survey).where(
        Survey.status != SurveyStatus.draft, Survey.published_at < end,
        Survey.closed_at.is_(None) | (Survey.closed_at >= start))
        .order_by(Survey.published_at, Survey.id)).all()
    shown = []
    for survey in surveys:
        started = session.scalar(select(func.count()).select_from(SurveyParticipant).where(
            SurveyParticipant.survey_id == survey.id, SurveyParticipant.started_on >= first,
            SurveyParticipant.started_on <= last)) or 0
        completed = session.scalar(select(func.count()).select_from(SurveyResponse).where(
            SurveyResponse.survey_id == survey.id, SurveyResponse.completed_on >= first,
            SurveyResponse.completed_on <= last)) or 0
        shown.append(SurveyParticipation(slug=survey.slug, title=dict(survey.title),
                                         started=int(started), completed=int(completed)))
    return SurveysReport(surveys=shown, started=sum(s.started for s in shown),
                         completed=sum(s.completed for s in shown))


def _notices(session: Session, profile: Profile, start: datetime,
             end: datetime) -> NoticesReport:
    notices = session.scalars(select(Notice).where(
        Notice.started_at >= start, Notice.started_at < end)).all()
    counts = staff_notices.counts_of(session, [n.id for n in notices])
    subscribed = Counter(topic for (topic,) in session.execute(
        select(Subscription.topic).where(Subscription.created_at >= start,
                                         Subscription.created_at < end)))
    topics = [*profile.topic_codes(),
              *sorted({n.topic for n in notices} - set(profile.topic_codes()))]
    by_topic = []
    for topic in topics:
        mine = [counts[n.id] for n in notices if n.topic == topic]
        if not mine and not subscribed[topic]:
            continue
        recipients = sum(c.recipients for c in mine)
        reached = sum(c.sent for c in mine)
        by_topic.append(TopicReach(
            topic=topic, notices=len(mine), recipients=recipients, reached=reached,
            not_reached=sum(c.failed + c.blocked + c.skipped for c in mine),
            new_subscriptions=subscribed[topic]))
    opt_outs = session.scalar(select(func.count()).select_from(ChannelAccount).where(
        ChannelAccount.blocked_at >= start, ChannelAccount.blocked_at < end)) or 0
    return NoticesReport(sent=len(notices), recipients=sum(t.recipients for t in by_topic),
                         reached=sum(t.reached for t in by_topic), by_topic=by_topic,
                         opt_outs=int(opt_outs))


def _chat(session: Session, profile: Profile, start: datetime, end: datetime) -> ChatReport:
    rows = session.execute(
        select(Citizen.id, ChannelAccount.channel, Citizen.language, Citizen.settlement)
        .distinct()
        .select_from(InboundUpdate)
        .join(ChannelAccount, ChannelAccount.id == InboundUpdate.account_id)
        .join(Citizen, Citizen.id == ChannelAccount.citizen_id)
        .where(InboundUpdate.received_at >= start, InboundUpdate.received_at < end)).all()
    citizens = {row[0]: row for row in rows}
    apps = Counter(channel for _, channel, _, _ in rows)  # a citizen on both counts twice
    languages = Counter(language or UNKNOWN for _, _, language, _ in citizens.values())
    abroad = sum(1 for *_, settlement in citizens.values() if settlement == ABROAD)
    new = session.scalar(select(func.count()).select_from(Citizen).where(
        Citizen.created_at >= start, Citizen.created_at < end)) or 0
    return ChatReport(
        citizens=len(citizens), new_citizens=int(new),
        by_app=_breakdown(apps, ["telegram", "viber"]),
        by_language=_breakdown(languages, [*profile.enabled_locales, UNKNOWN]),
        diaspora=abroad,
        diaspora_share=round(100 * abroad / len(citizens), 1) if citizens else None)


def report(session: Session, profile: Profile, month: str, now: datetime) -> ReportOut:
    """The month's numbers (checked: `Invalid` or `NotFound` for a month
    there is no report of). Unmarked bookings of days gone by count as
    `past`, as the reception list shows them."""
    first = parse_month(month)
    check_month(session, profile, first, now)
    reception_service.expire_past(session, profile, now)
    after = next_month(first)
    last = after - timedelta(days=1)
    start, end = _midnight(profile, first), _midnight(profile, after)
    until = min(end, now)
    return ReportOut(
        month=f"{first:%Y-%m}", first_day=first, last_day=last, complete=now >= end,
        reception=_reception(session, profile, first, last, until),
        documents=_documents(session, start, end, until),
        complaints=_complaints(session, profile, start, end),
        surveys=_surveys(session, first, last, start, end),
        notices=_notices(session, profile, start, end),
        chat=_chat(session, profile, start, end))


# --- the workbook ---------------------------------------------------------------

Label = Translate


def rows_of(shown: ReportOut, t: Label, name: Callable[[str, str], str]) -> dict[
        str, list[list[Any]]]:
    """Each sheet's rows: the section's numbers as (label, value), then each
    breakdown under its heading. `t` names a number by its catalog key,
    `name(kind, code)` a profile code."""
    def label(key: str) -> str:
        """The page's label of a number or a table (catalog keys staff.reports.…)."""
        return t("staff.reports." + key)

    def numbers(section: BaseModel, prefix: str, keys: list[str]) -> list[list[Any]]:
        return [[label(f"{prefix}.{key}"), getattr(section, key)] for key in keys]

    def table(title: str, kind: str, items: list[Breakdown]) -> list[list[Any]]:
        return [[], [label(title)], *([name(kind, b.code), b.count] for b in items)]

    r, d, c, s, n, ch = (shown.reception, shown.documents, shown.complaints, shown.surveys,
                         shown.notices, shown.chat)
    return {
        "reception": [*numbers(r, "reception", [
            "days_held", "days_closed", "bookings", "attended", "no_show", "unmarked",
            "upcoming", "cancelled", "urgent"]),
            *table("by_settlement", "settlement", r.by_settlement),
            *table("attended_by_settlement", "settlement", r.attended_by_settlement)],
        "documents": [*numbers(d, "documents", [
            "received", "decided", "decided_in_time", "granted", "partially_granted",
            "refused", "forwarded", "withdrawn", "extended", "overdue"]),
            [], [label("refused_reasons")],
            *([cell(x.reason), x.count] for x in d.refused_reasons)],
        "complaints": [*numbers(c, "complaints", [
            "received", "resolved", "median_days_to_resolve", "reopened_after_followup"]),
            *table("by_category", "category", c.by_category),
            *table("by_settlement", "settlement", c.by_settlement),
            *table("by_kind", "kind", c.by_kind)],
        "surveys": [[label("survey"), label("started"), label("completed")],
                    *([x.slug, x.started, x.completed] for x in s.surveys),
                    [label("total"), s.started, s.completed]],
        "notices": [*numbers(n, "notices", ["sent", "recipients", "reached", "opt_outs"]),
                    [], [label("topic"), label("notices.sent"), label("notices.recipients"),
                         label("notices.reached"), label("not_reached"),
                         label("new_subscriptions")],
                    *([name("topic", x.topic), x.notices, x.recipients, x.reached,
                       x.not_reached, x.new_subscriptions] for x in n.by_topic)],
        "chat": [*numbers(ch, "chat", ["citizens", "new_citizens", "diaspora",
                                            "diaspora_share"]),
                 *table("by_app", "app", ch.by_app),
                 *table("by_language", "language", ch.by_language)],
    }


def xlsx_bytes(shown: ReportOut, t: Label, name: Callable[[str, str], str]) -> bytes:
    """One sheet per section, its title row first; text goes through the CSV
    rules' `cell` (openpyxl would keep a leading "=" as a formula)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    for sheet_name, rows in rows_of(shown, t, name).items():
        sheet = book.create_sheet(sheet_name)
        sheet.append([t("staff.reports.title", month=shown.month)])
        for row in rows:
            sheet.append([v if v is None or isinstance(v, int | float) else cell(str(v))
                          for v in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def export(session: Session, profile: Profile, staff: StaffUser, month: str, now: datetime,
           t: Label, name: Callable[[str, str], str], ip: str | None) -> tuple[bytes, str]:
    """The month's workbook and its file name; the export is audited."""
    shown = report(session, profile, month, now)
    body = xlsx_bytes(shown, t, name)
    audit.record(session, staff, "reports.export", object_type="report",
                 object_id=shown.month, detail="xlsx", ip=ip)
    return body, f"klokot-report-{shown.month}.xlsx"
