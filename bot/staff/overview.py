"""The officer's day at a glance (`/staff` and `GET /api/v1/overview`): what
needs doing today, in the signed-in officer's role and department.

Every number is counted with the very query of the list it links to (the
capability's filter model and its scoped query), so a link lands on a list
showing the same count, and a department officer's numbers are their own
department's only. A section the role may not read is left out (None), so
a count never tells of items the role may not see. "Today", "this week" and
"this month" are the municipality's, from the `now` the caller passes."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from pydantic import BaseModel, Field
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from bot.models import (
    BookingStatus,
    Complaint,
    DocumentRequest,
    DocumentStatus,
    Notice,
    NoticeStatus,
    ReceptionDay,
    Survey,
    SurveyStatus,
    UrgentRequest,
    UrgentStatus,
)
from bot.models.documents import DECIDED
from bot.models.staff import StaffUser
from bot.profile import Profile
from bot.services import reception as reception_service
from bot.services import surveys as survey_service
from bot.staff import notices as staff_notices
from bot.staff.complaints import views as complaint_views
from bot.staff.complaints.views import ComplaintFilters
from bot.staff.documents import views as document_views
from bot.staff.documents.views import RequestFilters
from bot.staff.permissions import Capability, can_read
from bot.staff.reception import views as reception_views
from bot.staff.reception.views import BookingFilters
from bot.staff.surveys import views as survey_views

AGE_WEEK, AGE_MONTH = 7, 30  # days: complaints "under a week", "under a month", older
RUNNING_SHOWN = 10  # running surveys and notices listed by name


# --- shapes ---------------------------------------------------------------------

class Count(BaseModel):
    count: int
    link: str = Field(description="The staff page listing exactly these items")


class BookingCounts(BaseModel):
    """Bookings of the reception days from `first` to `last` (local days)."""

    first: date
    last: date
    days: int = Field(description="Reception days held or to be held (not closed)")
    booked: Count = Field(description="Booked, not yet attended")
    free: int = Field(description="Slots citizens can still book")
    free_link: str = Field(description="The printable week with every slot")
    attended: Count
    no_show: Count


class ReceptionOverview(BaseModel):
    today: BookingCounts
    week: BookingCounts
    urgent_waiting: Count = Field(description="Urgent requests waiting for a call back")


class DocumentsOverview(BaseModel):
    overdue: Count
    due_soon: Count = Field(description="Undecided and due within 48 hours")
    received_this_month: Count
    year: int
    decided_this_year: int = Field(
        description="Registered this year and decided (withdrawn not counted) or overdue")
    on_time_this_year: int = Field(description="Of those, decided by the deadline")
    on_time_rate: float | None = Field(description="Percent, 0–100; null with none decided")
    summary_link: str


class DepartmentCount(Count):
    department: str


class OldestOut(BaseModel):
    reference: str
    created_at: datetime
    days: int = Field(description="Whole days since it came in")
    link: str


class ComplaintsOverview(BaseModel):
    open: Count = Field(description="Open or in progress")
    by_department: list[DepartmentCount]
    under_week: Count
    under_month: Count = Field(description="A week old or more, under a month")
    older: Count = Field(description="A month (30 days) old or more")
    oldest: OldestOut | None
    awaiting_approval: Count = Field(
        description="Filed by Open311 clients, still open and not yet approved for publishing")


class RunningSurvey(BaseModel):
    slug: str
    title: dict[str, str]
    started: int
    completed: int = Field(description="Answers so far")
    closes_at: datetime | None
    link: str


class SurveysOverview(BaseModel):
    open: Count = Field(description="Published and not closed")
    running: list[RunningSurvey] = Field(description="Open and within their dates")


class SendingNotice(BaseModel):
    id: int
    topic: str
    status: NoticeStatus
    send_at: datetime
    recipients: int
    sent: int
    pending: int
    failed: int
    link: str


class NoticesOverview(BaseModel):
    sending: Count
    sending_now: list[SendingNotice] = Field(description="Sending, with their progress")
    scheduled: Count
    next_scheduled: list[SendingNotice]


class OverviewOut(BaseModel):
    """Sections the role may not read are null."""

    at: datetime
    today: date
    role: str
    department: str | None
    reception: ReceptionOverview | None = None
    documents: DocumentsOverview | None = None
    complaints: ComplaintsOverview | None = None
    surveys: SurveysOverview | None = None
    notices: NoticesOverview | None = None


# --- helpers --------------------------------------------------------------------

def count_of(session: Session, stmt: Select[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(
        stmt.order_by(None).subquery())) or 0)


def link(path: str, **query: Any) -> str:
    """A list page's address with these filters (booleans as true/false)."""
    given = {k: (str(v).lower() if isinstance(v, bool) else str(getattr(v, "value", v)))
             for k, v in query.items() if v is not None}
    return path + (f"?{urlencode(given)}" if given else "")


def last_month(profile: Profile, now: datetime) -> str:
    """The month before this one (local), as YYYY-MM: the report to print."""
    first = now.astimezone(profile.tz).date().replace(day=1)
    return f"{first - timedelta(days=1):%Y-%m}"


def week_of(day: date) -> tuple[date, date]:
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


# --- sections -------------------------------------------------------------------

def _bookings(session: Session, profile: Profile, first: date, last: date,
              now: datetime) -> BookingCounts:
    def counted(status: BookingStatus) -> Count:
        filters = BookingFilters(date_from=first, date_to=last, status=status)
        return Count(count=count_of(session, reception_views.bookings_query(profile, filters)),
                     link=link("/staff/reception", date_from=first, date_to=last,
                               status=status))

    days = session.scalars(select(ReceptionDay).where(
        ReceptionDay.day >= first, ReceptionDay.day <= last,
        ReceptionDay.closed.is_(False))).all()
    free = sum(len(reception_service.free_slots(session, profile, d, now)) for d in days)
    monday, _ = week_of(first)
    return BookingCounts(first=first, last=last, days=len(days),
                         booked=counted(BookingStatus.booked),
                         free=free, free_link=link("/staff/reception/week", start=monday),
                         attended=counted(BookingStatus.attended),
                         no_show=counted(BookingStatus.no_show))


def reception(session: Session, profile: Profile, now: datetime) -> ReceptionOverview:
    """The bookings as the reception list shows them: unmarked ones of days
    gone by turned `past`, this week's days made from the weekly pattern."""
    reception_service.ensure_days(session, profile, now)
    reception_service.expire_past(session, profile, now)
    today = reception_service.today(profile, now)
    monday, sunday = week_of(today)
    waiting = count_of(session, select(UrgentRequest).where(
        UrgentRequest.status == UrgentStatus.open))
    return ReceptionOverview(
        today=_bookings(session, profile, today, today, now),
        week=_bookings(session, profile, monday, sunday, now),
        urgent_waiting=Count(count=waiting, link="/staff/reception#urgent"))


def documents(session: Session, profile: Profile, staff: StaffUser,
              now: datetime) -> DocumentsOverview:
    def counted(filters: RequestFilters, **query: Any) -> Count:
        stmt = document_views.requests_query(profile, staff, filters, now)
        return Count(count=count_of(session, stmt), link=link("/staff/documents", **query))

    today = now.astimezone(profile.tz).date()
    first = today.replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    year_start = document_views.local_midnight(profile, today.replace(month=1, day=1))
    rows = session.execute(
        document_views.visible(staff).with_only_columns(
            DocumentRequest.status, DocumentRequest.due_at, DocumentRequest.decided_at)
        .where(DocumentRequest.registered_at >= year_start)).all()
    decided = on_time = 0
    for status, due_at, decided_at in rows:
        if status in DECIDED and status is not DocumentStatus.withdrawn and decided_at:
            decided += 1
            on_time += decided_at <= due_at
        elif status not in DECIDED and due_at < now:
            decided += 1  # overdue: late whenever it is decided
    return DocumentsOverview(
        overdue=counted(RequestFilters(overdue=True), overdue="yes"),
        due_soon=counted(RequestFilters(due_within_hours=document_views.DUE_SOON_HOURS),
                         due_within_hours=document_views.DUE_SOON_HOURS),
        received_this_month=counted(RequestFilters(registered_from=first, registered_to=last),
                                    registered_from=first, registered_to=last),
        year=today.year, decided_this_year=decided, on_time_this_year=on_time,
        on_time_rate=round(100 * on_time / decided, 1) if decided else None,
        summary_link="/staff/documents/summary")


def complaints(session: Session, profile: Profile, staff: StaffUser,
               now: datetime) -> ComplaintsOverview:
    """Ages by the local day a complaint came in, as the list's date filters
    count them: "under a week" is the last seven days, today included."""
    def counted(**values: Any) -> Count:
        filters = ComplaintFilters(closed=False, **values)
        stmt = complaint_views.complaints_query(profile, staff, filters)
        return Count(count=count_of(session, stmt),
                     link=link("/staff/complaints", closed=False, **values))

    today = now.astimezone(profile.tz).date()
    week_from = today - timedelta(days=AGE_WEEK - 1)
    month_from = today - timedelta(days=AGE_MONTH - 1)
    open_stmt = complaint_views.complaints_query(profile, staff, ComplaintFilters(closed=False))
    per_department = dict(session.execute(
        open_stmt.with_only_columns(Complaint.department, func.count())
        .group_by(Complaint.department)).tuples().all())
    by_department = []
    for department in profile.department_codes():
        if department in per_department:
            by_department.append(DepartmentCount(
                department=department, count=int(per_department[department]),
                link=link("/staff/complaints", closed=False, department=department)))
    oldest = session.scalars(open_stmt.order_by(Complaint.created_at, Complaint.id)
                             .limit(1)).first()
    return ComplaintsOverview(
        open=counted(), by_department=by_department,
        under_week=counted(created_from=week_from),
        under_month=counted(created_from=month_from,
                            created_to=week_from - timedelta(days=1)),
        older=counted(created_to=month_from - timedelta(days=1)),
        oldest=OldestOut(reference=oldest.reference, created_at=oldest.created_at,
                         days=(now - oldest.created_at).days,
                         link=f"/staff/complaints/{oldest.reference}") if oldest else None,
        awaiting_approval=counted(source="open311", published=False))


def surveys(session: Session, now: datetime) -> SurveysOverview:
    stmt = select(Survey).where(Survey.status == SurveyStatus.open)
    open_surveys = session.scalars(stmt.order_by(Survey.created_at.desc(), Survey.id)).all()
    running = [s for s in open_surveys if survey_service.is_running(s, now)][:RUNNING_SHOWN]
    counts = survey_views.counts_of(session, [s.id for s in running])
    return SurveysOverview(
        open=Count(count=len(open_surveys), link=link("/staff/surveys", status="open")),
        running=[RunningSurvey(slug=s.slug, title=dict(s.title), started=counts[s.id][0],
                               completed=counts[s.id][1],
                               closes_at=survey_views.in_utc(s.closes_at),
                               link=f"/staff/surveys/{s.slug}") for s in running])


def _notice_rows(session: Session, rows: list[Notice]) -> list[SendingNotice]:
    counts = staff_notices.counts_of(session, [n.id for n in rows])
    return [SendingNotice(id=n.id, topic=n.topic, status=n.status, send_at=n.send_at,
                          recipients=counts[n.id].recipients, sent=counts[n.id].sent,
                          pending=counts[n.id].pending, failed=counts[n.id].failed,
                          link=f"/staff/notices/{n.id}") for n in rows]


def notices(session: Session) -> NoticesOverview:
    def of(status: NoticeStatus) -> tuple[Count, list[Notice]]:
        stmt = select(Notice).where(Notice.status == status)
        rows = session.scalars(stmt.order_by(Notice.send_at, Notice.id)
                               .limit(RUNNING_SHOWN)).all()
        return (Count(count=count_of(session, stmt), link=link("/staff/notices", status=status)),
                list(rows))

    sending, sending_rows = of(NoticeStatus.sending)
    scheduled, scheduled_rows = of(NoticeStatus.scheduled)
    return NoticesOverview(sending=sending, sending_now=_notice_rows(session, sending_rows),
                           scheduled=scheduled,
                           next_scheduled=_notice_rows(session, scheduled_rows))


def overview(session: Session, profile: Profile, staff: StaffUser, now: datetime) -> OverviewOut:
    """Every section the officer's role may read. Counts only: no names, no
    descriptions, so nothing here is a view of personal data."""
    role = staff.role
    return OverviewOut(
        at=now, today=now.astimezone(profile.tz).date(), role=role.value,
        department=staff.department,
        reception=reception(session, profile, now)
        if can_read(role, Capability.reception) else None,
        documents=documents(session, profile, staff, now)
        if can_read(role, Capability.documents) else None,
        complaints=complaints(session, profile, staff, now)
        if can_read(role, Capability.complaints) else None,
        surveys=surveys(session, now) if can_read(role, Capability.surveys) else None,
        notices=notices(session) if can_read(role, Capability.notices) else None)
