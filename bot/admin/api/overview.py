"""The officer's overview (`GET /api/v1/overview`): the numbers the staff
home page shows, each with the staff page that lists exactly those items.
The counting is `bot.staff.overview`'s, for the page and the API alike."""

from __future__ import annotations

from fastapi import APIRouter

from bot.admin.common import problems
from bot.admin.deps import CurrentStaff, RuntimeDep, SessionDep
from bot.db import utcnow
from bot.staff import overview as use_case

router = APIRouter(tags=["overview"])


@router.get("/overview", response_model=use_case.OverviewOut, responses=problems(401))
def overview(staff: CurrentStaff, session: SessionDep,
             runtime: RuntimeDep) -> use_case.OverviewOut:
    """Today's and this week's reception, documents overdue and due soon,
    open complaints by department and age, running surveys and notices — for
    the officer's role (sections it may not read are null) and, for a
    department officer, their department only."""
    return use_case.overview(session, runtime.profile, staff, utcnow())
