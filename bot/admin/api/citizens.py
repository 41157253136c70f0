"""Citizens who wrote to the bot. The list and one citizen only for the roles
that see them (SPEC §3.7: admin, the mayor's office, the info office); every
role may count them. Names and phones only for roles that may see personal
data; every answer that shows them is recorded in the audit."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from bot.admin.common import READ_ERRORS, Page, PageParams, problems
from bot.admin.deps import CurrentStaff, RuntimeDep, SessionDep, client_ip
from bot.admin.paging import page_params
from bot.staff import citizens as use
from bot.staff.citizens import CitizenFilters, CitizenOut, CountOut

router = APIRouter(tags=["citizens"])
CitizenPage = page_params(*use.SORTS)
Filters = Annotated[CitizenFilters, Query()]


@router.get("/citizens", response_model=Page[CitizenOut], responses=READ_ERRORS)
def citizens(staff: CurrentStaff, session: SessionDep, runtime: RuntimeDep, request: Request,
             filters: Filters,
             page: Annotated[PageParams, Depends(CitizenPage)]) -> Page[CitizenOut]:
    """Citizens with filters and paging; names and phones only where the role
    allows. Department officers and viewers get 403 `counts_only`: they count."""
    use.check_list_allowed(staff)
    rows, total = use.list_citizens(session, runtime.profile, filters, page)
    personal = use.audit_shown(session, staff, rows, client_ip(request))
    return Page(items=[use.citizen_out(c, personal) for c in rows], total=total,
                limit=page.limit, offset=page.offset)


@router.get("/citizens/count", response_model=CountOut, responses=READ_ERRORS)
def citizens_count(staff: CurrentStaff, session: SessionDep, runtime: RuntimeDep,
                   filters: Filters) -> CountOut:
    """How many citizens match the filters (every role)."""
    return CountOut(total=use.count_citizens(session, runtime.profile, filters))


@router.get("/citizens/{citizen_id}", response_model=CitizenOut,
            responses=problems(401, 403, 404, 422))
def citizen(citizen_id: Annotated[int, Path(ge=1, le=2**31 - 1)], staff: CurrentStaff,
            session: SessionDep, request: Request) -> CitizenOut:
    """One citizen; viewing their personal data is recorded."""
    return use.shown_citizen(session, staff, citizen_id, client_ip(request))
