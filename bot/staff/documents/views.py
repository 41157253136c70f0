"""What staff see of document requests: the shapes the API returns and the
pages render, the one filter model of the queue (the API's query parameters
and the page's filter form), the queries (the queue by due date, one
request, what is overdue or due today, the year's summary), and the audit of
every answer that shows descriptions and names.

Department officers see only the requests forwarded to their department
(`forwarded_department`; the department the citizen guessed gives them
nothing); any other request is "not found" for them, so references cannot be
probed. Descriptions and names only where `shows_personal` allows."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Select, case, select
from sqlalchemy.orm import Session

from bot.models import DocumentEvent, DocumentFile, DocumentForm, DocumentRequest, DocumentStatus
from bot.models.documents import DECIDED
from bot.models.staff import StaffUser
from bot.profile import Profile
from bot.refusals import NotFound
from bot.services import deadlines
from bot.services import documents as service
from bot.staff import audit
from bot.staff.permissions import Capability, scoped, shows_personal
from bot.staff.query import (
    PageWindow,
    check_choice,
    form_filters,
    matching,
    one,
    paginate,
    sorted_by,
)

REFERENCE = r"^D-[0-9]{4}-[0-9]{4,10}$"
REFERENCE_MAX = 16
DUE_SOON_HOURS = 48
SORTS = {"due_at": DocumentRequest.due_at, "registered_at": DocumentRequest.registered_at,
         "reference": DocumentRequest.reference}


# --- shapes ---------------------------------------------------------------------

class RequestOut(BaseModel):
    reference: str
    status: DocumentStatus
    registered_at: datetime
    due_at: datetime
    overdue: bool = Field(description="Undecided and the deadline passed")
    due_soon: bool = Field(description="Undecided and due within 48 hours")
    department: str | None
    form: DocumentForm
    life_or_liberty: bool
    extended: bool
    forwarded_to: str | None = Field(description="With `forwarded`: the other institution")
    forwarded_department: str | None = Field(
        description="The department the request was forwarded to within the municipality; "
                    "only its officers see it (`department` is the citizen's guess)")
    decided_at: datetime | None
    description: str | None = Field(None, description="Only for roles that see personal data")
    full_name: str | None = Field(None, description="Only for roles that see personal data")
    citizen_erased: bool = Field(False, description="The citizen erased their data (/forget); "
                                                    "the request stays, without a name")


class EventOut(BaseModel):
    at: datetime
    by: str
    status_from: str | None
    status_to: str | None
    text: str | None
    internal: bool


class FileOut(BaseModel):
    id: int
    file_name: str
    mime_type: str
    size: int
    uploaded_by: str
    uploaded_at: datetime
    sent_at: datetime | None


class RequestDetail(RequestOut):
    events: list[EventOut]
    files: list[FileOut]


class SummaryOut(BaseModel):
    year: int
    received: int
    granted: int
    partially_granted: int
    refused: int
    withdrawn: int
    forwarded: int
    overdue: int = Field(description="Undecided and past the deadline now")
    median_days_to_decision: float | None = Field(
        description="From registration to decision (forwarding included, withdrawals not)")


def request_out(request: DocumentRequest, personal: bool, now: datetime) -> RequestOut:
    decided = request.decided
    return RequestOut(
        reference=request.reference, status=request.status,
        registered_at=request.registered_at, due_at=request.due_at,
        overdue=deadlines.is_overdue(request.due_at, now, decided=decided),
        due_soon=not decided and now <= request.due_at < now + timedelta(hours=DUE_SOON_HOURS),
        department=request.department, form=request.form,
        life_or_liberty=request.life_or_liberty, extended=request.extended,
        forwarded_to=request.forwarded_to, forwarded_department=request.forwarded_department,
        decided_at=request.decided_at,
        description=request.description if personal else None,
        full_name=request.full_name if personal else None,
        citizen_erased=request.account_id is None)


def event_out(event: DocumentEvent) -> EventOut:
    return EventOut(at=event.at, by=event.by, status_from=event.status_from,
                    status_to=event.status_to, text=event.text, internal=event.internal)


def file_out(file: DocumentFile) -> FileOut:
    return FileOut(id=file.id, file_name=file.file_name, mime_type=file.mime_type,
                   size=file.size, uploaded_by=file.uploaded_by,
                   uploaded_at=file.uploaded_at, sent_at=file.sent_at)


def detail_out(request: DocumentRequest, personal: bool, now: datetime) -> RequestDetail:
    return RequestDetail(
        **request_out(request, personal, now).model_dump(),
        events=[event_out(e) for e in request.events],
        files=[file_out(f) for f in request.files])


def allowed_next(status: DocumentStatus) -> list[DocumentStatus]:
    """The states a request may move to from `status`, in the states' order."""
    order = list(DocumentStatus)
    return sorted(service.ALLOWED.get(status, frozenset()), key=order.index)


# --- the filter model -------------------------------------------------------------

class RequestFilters(BaseModel):
    """The queue's filters; `department` takes the profile's codes (see the
    schema's enum), checked by `check_filters`."""

    status: DocumentStatus | None = None
    department: str | None = Field(None, max_length=32)
    overdue: bool | None = Field(None, description="Undecided and past the deadline")
    due_within_hours: int | None = Field(
        None, ge=1, le=720, description="Undecided and due within this many hours from now")
    registered_from: date | None = Field(None, description="Registered on or after this "
                                                           "day (local)")
    registered_to: date | None = Field(None, description="Registered on or before this "
                                                         "day (local)")


def check_filters(profile: Profile, filters: RequestFilters) -> None:
    """An unknown department is refused (`invalid_filter`), not an empty list."""
    check_choice("department", filters.department, profile.department_codes())


def filters_of(profile: Profile, values: Mapping[str, str]) -> RequestFilters:
    """The filters from the page's form: an empty value means "any", and so
    does an `overdue` other than yes/no; a value that fails validation or an
    unknown department is `Invalid` (`invalid_filter`)."""
    wanted = {"status": values.get("status"), "department": values.get("department"),
              "overdue": {"yes": True, "no": False}.get(values.get("overdue", "")),
              "due_within_hours": values.get("due_within_hours"),
              "registered_from": values.get("registered_from"),
              "registered_to": values.get("registered_to")}
    return form_filters(RequestFilters, wanted, profile, check_filters)


# --- queries ------------------------------------------------------------------------

def visible(staff: StaffUser) -> Select[Any]:
    """The requests this officer may see at all: for a department officer,
    those forwarded to their department (SPEC §3.7 "D (forwarded to it)")."""
    return scoped(select(DocumentRequest), staff, Capability.documents,
                  DocumentRequest.forwarded_department)


def find_request(session: Session, staff: StaffUser, reference: str) -> DocumentRequest:
    return one(session, visible(staff).where(DocumentRequest.reference == reference),
               f"no document request {reference}")


def requests_query(profile: Profile, staff: StaffUser, filters: RequestFilters,
                   now: datetime) -> Select[Any]:
    check_filters(profile, filters)
    undecided = DocumentRequest.status.not_in(list(DECIDED))
    stmt = matching(visible(staff), (DocumentRequest.status, filters.status),
                    (DocumentRequest.department, filters.department))
    if filters.overdue is True:
        stmt = stmt.where(undecided, DocumentRequest.due_at < now)
    elif filters.overdue is False:
        stmt = stmt.where(~(undecided & (DocumentRequest.due_at < now)))
    if filters.due_within_hours:
        stmt = stmt.where(undecided, DocumentRequest.due_at >= now,
                          DocumentRequest.due_at < now + timedelta(
                              hours=filters.due_within_hours))
    if filters.registered_from:
        stmt = stmt.where(DocumentRequest.registered_at >= local_midnight(
            profile, filters.registered_from))
    if filters.registered_to:
        stmt = stmt.where(DocumentRequest.registered_at < local_midnight(
            profile, filters.registered_to) + timedelta(days=1))
    return stmt


def local_midnight(profile: Profile, day: date) -> datetime:
    """The start of a local day (clamped to years a time zone can reckon with)."""
    day = min(max(day, date(1900, 1, 1)), date(9000, 12, 31))
    return datetime.combine(day, time.min, tzinfo=profile.tz)


def queue_order() -> list[Any]:
    """Undecided first, then by due date."""
    decided_last = case((DocumentRequest.status.in_(list(DECIDED)), 1), else_=0)
    return [decided_last, DocumentRequest.due_at, DocumentRequest.id]


def list_requests(session: Session, profile: Profile, staff: StaffUser,
                  filters: RequestFilters, page: PageWindow,
                  now: datetime) -> tuple[list[DocumentRequest], int]:
    stmt = sorted_by(requests_query(profile, staff, filters, now), page.sort, SORTS,
                     default=queue_order())
    return paginate(session, stmt, page)


def urgent_lists(session: Session, profile: Profile, staff: StaffUser,
                 now: datetime) -> tuple[list[DocumentRequest], list[DocumentRequest]]:
    """What is overdue, and what is due today (local), in the officer's scope."""
    local = now.astimezone(profile.tz)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    base = visible(staff).where(DocumentRequest.status.not_in(list(DECIDED)))
    late = session.scalars(base.where(DocumentRequest.due_at < now)
                           .order_by(DocumentRequest.due_at)).all()
    today = session.scalars(base.where(DocumentRequest.due_at >= now,
                                       DocumentRequest.due_at < start + timedelta(days=1))
                            .order_by(DocumentRequest.due_at)).all()
    return list(late), list(today)


def summary(session: Session, profile: Profile, staff: StaffUser, year: int | None,
            now: datetime) -> SummaryOut:
    """The requests registered in this (local) year — this year by default —
    by where they stand now."""
    year = year or now.astimezone(profile.tz).year
    start = datetime(year, 1, 1, tzinfo=profile.tz)
    end = datetime(year + 1, 1, 1, tzinfo=profile.tz)
    rows = session.scalars(visible(staff).where(
        DocumentRequest.registered_at >= start, DocumentRequest.registered_at < end)).all()
    counts = {s: sum(1 for r in rows if r.status is s) for s in DocumentStatus}
    days = [(r.decided_at - r.registered_at).total_seconds() / 86400 for r in rows
            if r.decided_at is not None and r.status is not DocumentStatus.withdrawn]
    return SummaryOut(
        year=year, received=len(rows), granted=counts[DocumentStatus.granted],
        partially_granted=counts[DocumentStatus.partially_granted],
        refused=counts[DocumentStatus.refused], withdrawn=counts[DocumentStatus.withdrawn],
        forwarded=counts[DocumentStatus.forwarded],
        overdue=sum(1 for r in rows if deadlines.is_overdue(r.due_at, now, decided=r.decided)),
        median_days_to_decision=round(statistics.median(days), 1) if days else None)


# --- what was shown, audited ----------------------------------------------------------

def audit_shown(session: Session, staff: StaffUser, action: str, references: Sequence[str],
                ip: str | None, detail: str | None = None) -> None:
    """Which requests' personal data this officer was shown."""
    audit.record_shown(session, staff, action, "document_request", references, ip, detail)


def queue(session: Session, profile: Profile, staff: StaffUser, filters: RequestFilters,
          page: PageWindow, *, now: datetime, ip: str | None,
          detail: str | None = None) -> tuple[list[RequestOut], int]:
    """A page of the queue as this officer may see it (undecided first, by due
    date), and how many match; shown personal data is audited."""
    rows, total = list_requests(session, profile, staff, filters, page, now)
    personal = shows_personal(staff)
    if personal:
        audit_shown(session, staff, "documents.list", [r.reference for r in rows], ip,
                    detail=detail)
    return [request_out(r, personal, now) for r in rows], total


def show_request(session: Session, staff: StaffUser, reference: str, *, now: datetime,
                 ip: str | None) -> RequestDetail:
    """One request with its history (internal notes included) and files;
    shown personal data is audited."""
    found = find_request(session, staff, reference)
    personal = shows_personal(staff)
    if personal:
        audit_shown(session, staff, "documents.view", [found.reference], ip)
    return detail_out(found, personal, now)


def stored_file(session: Session, staff: StaffUser, reference: str, file_id: int,
                ip: str | None) -> DocumentFile:
    """An uploaded file of a request the officer may see, to download (the
    download is audited); another request's, another department's, or one
    no longer on disk is not found."""
    found = find_request(session, staff, reference)
    file = session.get(DocumentFile, file_id)
    if file is None or file.request_id != found.id or not Path(file.path).is_file():
        raise NotFound("not_found", f"no file {file_id} of {reference}")
    audit.record(session, staff, "documents.file.download", object_type="document_request",
                 object_id=reference, detail=f"file {file.id}: {file.file_name}", ip=ip)
    return file
