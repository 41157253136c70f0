"""The bookings as CSV (SPEC §3.7): Excel-safe, the personal columns only
for roles that may see them, and every export audited with its filters."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bot.models import Booking
from bot.models.staff import StaffUser
from bot.profile import Profile
from bot.services import reception as service
from bot.staff import audit
from bot.staff.export import Column, write_csv
from bot.staff.permissions import shows_personal
from bot.staff.reception.views import BookingFilters, bookings_query

EXPORT_MAX = 20_000
EXPORT_COLUMNS = [
    Column("reference"), Column("date"), Column("time"), Column("status"),
    Column("settlement"), Column("full_name", personal=True), Column("phone", personal=True),
    Column("topic", personal=True), Column("created_at"), Column("cancelled_by"),
    Column("cancel_reason"), Column("marked_by"),
]


def export_bookings(session: Session, profile: Profile, staff: StaffUser,
                    filters: BookingFilters, ip: str | None, now: datetime) -> bytes:
    """The CSV bytes of the bookings matching the filters (at most EXPORT_MAX);
    every export is audited."""
    service.expire_past(session, profile, now)
    stmt = bookings_query(profile, filters).order_by(Booking.starts_at, Booking.id)
    rows = session.scalars(stmt.limit(EXPORT_MAX)).all()
    personal = shows_personal(staff)
    body = write_csv(EXPORT_COLUMNS, [
        (b.reference, b.day.day, f"{b.starts_at.astimezone(profile.tz):%H:%M}", b.status.value,
         b.settlement, b.full_name, b.phone, b.topic, b.created_at, b.cancelled_by,
         b.cancel_reason, b.marked_by) for b in rows], personal=personal)
    shown = filters.model_dump(exclude_none=True)
    audit.record(session, staff, "reception.export", object_type="reception_booking",
                 detail=f"csv, {len(rows)} rows, personal={'yes' if personal else 'no'}, "
                        f"filters {shown}", ip=ip,
                 references=[row.reference for row in rows])
    return body
