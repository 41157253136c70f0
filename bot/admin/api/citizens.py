"""Citizens who wrote to the bot. Names and phones only for roles that may
see personal data; every answer that shows them is recorded in the audit."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from bot.admin.common import READ_ERRORS, Page, PageParams, problems
from bot.admin.deps import CurrentStaff, RuntimeDep, SessionDep, client_ip
from bot.admin.paging import page_params
from bot.staff import citizens as use
from bot.staff.citizens import CitizenFilters, CitizenOut

router = APIRouter(tags=["citizens"])

CitizenPage = page_params(*use.SORTS)


@router.get("/citizens", response_model=Page[CitizenOut], responses=READ_ERRORS)
def citizens(staff: CurrentStaff, session: SessionDep, runtime: RuntimeDep, request: Request,
             filters: Annotated[CitizenFilters, Query()],
             page: Annotated[PageParams, Depends(CitizenPage)]) -> Page[CitizenOut]:
    """Citizens with filters and paging; names and phones only where the role allows."""
    rows, total = use.list_citizens(session, runtime.profile, filters, page)
    personal = use.audit_shown(session, staff, rows, client_ip(request))
    return Page(items=[use.citizen_out(c, personal) for c in rows], total=total,
                limit=page.limit, offset=page.offset)


@router.get("/citizens/{citizen_id}", response_model=CitizenOut,
            responses=problems(401, 403, 404, 422))
def citizen(citizen_id: Annotated[int, Path(ge=1, le=2**31 - 1)], staff: CurrentStaff,
            session: SessionDep, request: Request) -> CitizenOut:
    """One citizen; viewing their personal data is recorded."""
    return use.shown_citizen(session, staff, citizen_id, client_ip(request))

