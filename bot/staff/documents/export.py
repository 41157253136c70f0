"""The queue as CSV or XLSX (SPEC §3.7): the requests matching the filters, in queue
order, personal columns only for roles that may see them; every export is
audited with how many rows it held and its filters."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy.orm import Session

from bot.models.staff import StaffUser
from bot.profile import Profile
from bot.services import deadlines
from bot.staff import audit
from bot.staff.documents.views import RequestFilters, queue_order, requests_query
from bot.staff.export import Column, write_csv, write_xlsx
from bot.staff.permissions import shows_personal

EXPORT_MAX = 20_000
EXPORT_COLUMNS = [
    Column("reference"), Column("status"), Column("registered_at"), Column("due_at"),
    Column("overdue"), Column("department"), Column("form"), Column("life_or_liberty"),
    Column("extended"), Column("forwarded_to"), Column("forwarded_department"),
    Column("decided_at"),
    Column("full_name", personal=True), Column("description", personal=True),
]


def export_csv(session: Session, profile: Profile, staff: StaffUser, filters: RequestFilters,
               *, now: datetime, ip: str | None) -> bytes:
    """The CSV bytes (UTF-8 with BOM, Excel-safe), at most EXPORT_MAX rows."""
    return export(session, profile, staff, filters, "csv", now=now, ip=ip)


def export(session: Session, profile: Profile, staff: StaffUser, filters: RequestFilters,
           kind: Literal["csv", "xlsx"], *, now: datetime, ip: str | None) -> bytes:
    """The queue as `csv` (UTF-8 with BOM, times in UTC) or `xlsx` (times in
    the municipality's zone), at most EXPORT_MAX rows, the same columns and
    the same personal-data rule; audited with its kind, rows and filters."""
    stmt = requests_query(profile, staff, filters, now).order_by(*queue_order())
    rows = session.scalars(stmt.limit(EXPORT_MAX)).all()
    personal = shows_personal(staff)
    table = [
        (r.reference, r.status.value, r.registered_at, r.due_at,
         deadlines.is_overdue(r.due_at, now, decided=r.decided), r.department, r.form.value,
         r.life_or_liberty, r.extended, r.forwarded_to, r.forwarded_department,
         r.decided_at, r.full_name,
         r.description) for r in rows]
    body = (write_csv(EXPORT_COLUMNS, table, personal=personal) if kind == "csv" else
            write_xlsx(EXPORT_COLUMNS, table, personal=personal, tz=profile.tz,
                       sheet="document requests"))
    shown = filters.model_dump(exclude_none=True)
    audit.record(session, staff, "documents.export", object_type="document_request",
                 detail=f"{kind}, {len(rows)} rows, personal={'yes' if personal else 'no'}, "
                        f"filters {shown}", ip=ip,
                 references=[row.reference for row in rows])
    return body
