"""Recording to the audit log: every staff write, export and view of personal data."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from bot.db import utcnow
from bot.models.staff import AuditEntry, StaffUser

COMMAND_LINE = "(command line)"


def record(
    session: Session,
    staff: StaffUser | None,
    action: str,
    *,
    object_type: str | None = None,
    object_id: str | int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    detail: str | None = None,
    ip: str | None = None,
    username: str | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        at=utcnow(),
        staff_id=staff.id if staff else None,
        username=(username or (staff.username if staff else COMMAND_LINE))[:64],
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id)[:64],
        before=before,
        after=after,
        detail=detail[:2000] if detail else None,
        ip=ip,
    )
    session.add(entry)
    return entry
