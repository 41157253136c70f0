"""The audit log, for admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from bot.admin.common import Page, PageParams, problems
from bot.admin.deps import SessionDep, require
from bot.admin.paging import page_params
from bot.models.staff import StaffUser
from bot.staff.audit import SORTS, AuditFilters, AuditOut, list_audit
from bot.staff.permissions import Capability

router = APIRouter(tags=["audit"])
AuditPage = page_params(*SORTS)


@router.get("/audit", response_model=Page[AuditOut],
            responses=problems(401, 403, 422))
def audit_log(staff: Annotated[StaffUser, Depends(require(Capability.staff_admin))],
              session: SessionDep, filters: Annotated[AuditFilters, Query()],
              page: Annotated[PageParams, Depends(AuditPage)]) -> Page[AuditOut]:
    """Who did what and when: writes, exports, views of personal data, sign-ins."""
    rows, total = list_audit(session, filters, page)
    return Page(items=[AuditOut.model_validate(r, from_attributes=True) for r in rows],
                total=total, limit=page.limit, offset=page.offset)
