"""The audit log: recording every staff write, export and view of personal
data (with every reference shown), every refused request of an officer, and
reading it back (admins only) with filters."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from bot.db import utcnow
from bot.models.staff import AuditEntry, StaffUser
from bot.staff.query import PageWindow, as_utc, matching, paginate, sorted_by, within

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
    references: Sequence[str] | None = None,
) -> AuditEntry:
    """One entry; `references` are the items a view or an export showed,
    kept whole however many (the detail text is cut at 2,000 characters)."""
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
        item_references=list(references) if references is not None else None,
    )
    session.add(entry)
    return entry


def record_shown(session: Session, staff: StaffUser, action: str, object_type: str,
                 references: Sequence[str], ip: str | None, detail: str | None = None) -> None:
    """Record whose personal data a list or a page showed (by the items'
    references, every one of them); nothing when it showed none."""
    if not references:
        return
    count = f"{len(references)} shown"
    record(session, staff, action, object_type=object_type,
           object_id=references[0] if len(references) == 1 else None,
           detail=f"{detail}: {count}" if detail else count, ip=ip, references=references)


REFUSED = "refused"


def record_refusal(session: Session, staff_id: int, *, status: int, code: str, method: str,
                   path: str, ip: str | None) -> None:
    """A signed-in officer's request that was refused (403, 404, 409, 422 …):
    who asked for what, and the answer's code. A department officer probing
    another department's items, or a viewer asking for personal data, shows
    up here."""
    staff = session.get(StaffUser, staff_id)
    if staff is None:
        return
    record(session, staff, REFUSED, ip=ip, detail=f"{status} {code}: {method} {path}"[:2000],
           after={"status": status, "code": code, "method": method, "path": path[:500]})


SORTS = ("at", "id")


class AuditOut(BaseModel):
    id: int
    at: datetime
    username: str
    action: str
    object_type: str | None
    object_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    detail: str | None
    ip: str | None
    item_references: list[str] | None = Field(
        None, description="Every item the view or export showed, by reference")


class AuditFilters(BaseModel):
    username: str | None = Field(None, max_length=64)
    action: str | None = Field(None, max_length=48,
                               description="An action, or a prefix like 'login'")
    object_type: str | None = Field(None, max_length=32)
    object_id: str | None = Field(None, max_length=64)
    reference: str | None = Field(None, max_length=32,
                                  description="Entries that showed or exported this item")
    at_from: datetime | None = None
    at_to: datetime | None = None

    @field_validator("at_from", "at_to")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        return as_utc(value)


def list_audit(session: Session, filters: AuditFilters,
               page: PageWindow) -> tuple[list[AuditEntry], int]:
    stmt = select(AuditEntry)
    stmt = matching(stmt, (AuditEntry.username, filters.username),
                    (AuditEntry.object_type, filters.object_type),
                    (AuditEntry.object_id, filters.object_id))
    if filters.action:
        stmt = stmt.where((AuditEntry.action == filters.action)
                          | AuditEntry.action.startswith(filters.action + ".",
                                                         autoescape=True))
    if filters.reference:
        listed = json.dumps(filters.reference.strip().upper())
        stmt = stmt.where((AuditEntry.object_id == filters.reference.strip().upper())
                          | cast(AuditEntry.item_references, Text).contains(
                              listed, autoescape=True))
    stmt = within(stmt, AuditEntry.at, filters.at_from, filters.at_to)
    stmt = sorted_by(stmt, page.sort, {"at": AuditEntry.at, "id": AuditEntry.id},
                     default=[AuditEntry.id.desc()])
    return paginate(session, stmt, page)
