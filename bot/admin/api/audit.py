"""The audit log, for admins."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.admin.api.citizens import _utc
from bot.admin.common import Page, PageParams, problems
from bot.admin.deps import SessionDep, require
from bot.admin.paging import page_params
from bot.models.staff import AuditEntry, StaffUser
from bot.staff.permissions import Capability
from bot.staff.query import paginate, sorted_by

router = APIRouter(tags=["audit"])


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


AuditPage = page_params("at", "id")


class AuditFilters:
    def __init__(
        self,
        username: Annotated[str | None, Query(max_length=64)] = None,
        action: Annotated[str | None, Query(max_length=48,
                                           description="An action, or a prefix like 'login'")
                          ] = None,
        object_type: Annotated[str | None, Query(max_length=32)] = None,
        object_id: Annotated[str | None, Query(max_length=64)] = None,
        at_from: datetime | None = None,
        at_to: datetime | None = None,
    ) -> None:
        self.username, self.action = username, action
        self.object_type, self.object_id = object_type, object_id
        self.at_from, self.at_to = _utc(at_from), _utc(at_to)


def list_audit(session: Session, filters: AuditFilters,
               page: PageParams) -> tuple[list[AuditEntry], int]:
    stmt = select(AuditEntry)
    if filters.username:
        stmt = stmt.where(AuditEntry.username == filters.username)
    if filters.action:
        stmt = stmt.where((AuditEntry.action == filters.action)
                          | AuditEntry.action.startswith(filters.action + ".",
                                                         autoescape=True))
    if filters.object_type:
        stmt = stmt.where(AuditEntry.object_type == filters.object_type)
    if filters.object_id:
        stmt = stmt.where(AuditEntry.object_id == filters.object_id)
    if filters.at_from:
        stmt = stmt.where(AuditEntry.at >= filters.at_from)
    if filters.at_to:
        stmt = stmt.where(AuditEntry.at <= filters.at_to)
    stmt = sorted_by(stmt, page.sort, {"at": AuditEntry.at, "id": AuditEntry.id},
                     default=[AuditEntry.id.desc()])
    return paginate(session, stmt, page)


@router.get("/audit", response_model=Page[AuditOut],
            responses=problems(401, 403, 422))
def audit_log(staff: Annotated[StaffUser, Depends(require(Capability.staff_admin))],
              session: SessionDep, filters: Annotated[AuditFilters, Depends()],
              page: Annotated[PageParams, Depends(AuditPage)]) -> Page[AuditOut]:
    """Who did what and when: writes, exports, views of personal data, sign-ins."""
    rows, total = list_audit(session, filters, page)
    return Page(items=[AuditOut.model_validate(r, from_attributes=True) for r in rows],
                total=total, limit=page.limit, offset=page.offset)
