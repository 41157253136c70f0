"""The queue as CSV (SPEC §3.7): the requests matching the filters, in queue
order, personal columns only for roles that may see them; every export is
audited with how many rows it held and its filters."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bot.models.staff import StaffUser
from bot.profile import Profile
from bot.services import deadlines
from bot.staff import audit
from bot.staff.documents.views import RequestFilters, queue_order, requests_query
from bot.staff.export import Column, write_csv
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
    stmt = requests_query(profile, staff, filters, now).order_by(*queue_order())
    rows = session.scalars(stmt.limit(EXPORT_MAX)).all()
    personal = shows_personal(staff)
    body = write_csv(EXPORT_COLUMNS, [
        (r.reference, r.status.value, r.registered_at, r.due_at,
         deadlines.is_overdue(r.due_at, now, decided=r.decided), r.department, r.form.value,
         r.life_or_liberty, r.extended, r.forwarded_to, r.forwarded_department,
         r.decided_at, r.full_name,
         r.description) for r in rows], personal=personal)
    shown = filters.model_dump(exclude_none=True)
    audit.record(session, staff, "documents.export", object_type="document_request",
                 detail=f"csv, {len(rows)} rows, personal={'yes' if personal else 'no'}, "
                        f"filters {shown}", ip=ip,
                 references=[row.reference for row in rows])
    return body
