"""The box as CSV (Excel-safe, see `bot.staff.export`): the complaints that
match the filters, times in the municipality's zone, sender columns only for
roles that see personal data and empty for anonymous complaints. Every
export is audited with its filters and whether it was personal."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.db import utcnow
from bot.models import Complaint
from bot.models.staff import StaffUser
from bot.profile import Profile
from bot.staff import audit
from bot.staff.complaints.views import (
    ComplaintFilters,
    box_order,
    complaints_query,
    photo_counts,
    references_of,
    senders,
    voice_counts,
)
from bot.staff.export import Column, write_csv
from bot.staff.permissions import shows_personal

EXPORT_MAX = 20_000
EXPORT_COLUMNS = [
    Column("reference"), Column("kind"), Column("category"), Column("department"),
    Column("settlement"), Column("status"), Column("created_at"), Column("closed_at"),
    Column("description"), Column("latitude"), Column("longitude"), Column("address"),
    Column("photos"), Column("voice_messages"), Column("anonymous"), Column("source"),
    Column("published"), Column("duplicate_of"),
    Column("full_name", personal=True), Column("phone", personal=True),
    Column("email", personal=True),
]


def export_csv(session: Session, profile: Profile, staff: StaffUser,
               filters: ComplaintFilters, ip: str | None,
               now: datetime | None = None) -> tuple[bytes, str]:
    """The CSV bytes (at most EXPORT_MAX rows, in the box's order) and the
    file's name; the export is audited."""
    now, tz = now or utcnow(), profile.tz
    stmt = complaints_query(profile, staff, filters).order_by(*box_order())
    rows = list(session.scalars(stmt.limit(EXPORT_MAX)).all())
    personal = shows_personal(staff)
    counts = photo_counts(session, [c.id for c in rows])
    voices = voice_counts(session, [c.id for c in rows])
    who = senders(session, rows, personal)
    originals = references_of(session, (c.duplicate_of_id for c in rows))

    def row(c: Complaint) -> tuple[Any, ...]:
        sender = None if c.anonymous else who.get(c.id)
        return (c.reference, c.kind.value, c.category, c.department, c.settlement,
                c.status.value, c.created_at.astimezone(tz),
                c.closed_at.astimezone(tz) if c.closed_at else None, c.description,
                c.latitude, c.longitude, c.address, counts.get(c.id, 0), voices.get(c.id, 0),
                c.anonymous, c.source, c.published, originals.get(c.duplicate_of_id or 0),
                sender.full_name if sender else None, sender.phone if sender else None,
                sender.email if sender else None)

    body = write_csv(EXPORT_COLUMNS, [row(c) for c in rows], personal=personal)
    shown = {k: (v.isoformat() if isinstance(v, date) else v)
             for k, v in filters if v is not None}
    audit.record(session, staff, "complaints.export", object_type="complaint",
                 detail=f"csv, {len(rows)} rows, personal={'yes' if personal else 'no'}, "
                        f"filters {shown}", ip=ip,
                 references=[row.reference for row in rows])
    return body, f"complaints-{now:%Y%m%d-%H%M}.csv"
