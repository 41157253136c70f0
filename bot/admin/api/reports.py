"""The monthly report (`GET /api/v1/reports/{YYYY-MM}` and its `.xlsx`) for
the roles that read reports: admin, the mayor's office, the info office.
The numbers are `bot.staff.reports`', as the staff page's. A malformed
month is 422 `invalid_month`; one that has not begun is 404
`month_in_future`, one before the first data 404 `month_before_data`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response

from bot.admin.common import ONE_ERRORS
from bot.admin.deps import RuntimeDep, SessionDep, client_ip, require
from bot.admin.report_common import XLSX, namer
from bot.db import utcnow
from bot.models.staff import StaffUser
from bot.staff import reports
from bot.staff.permissions import Capability

router = APIRouter(prefix="/reports", tags=["reports"])
Reader = Annotated[StaffUser, Depends(require(Capability.reports))]
Month = Annotated[str, Path(pattern=reports.MONTH_PATTERN, max_length=7,
                            description="YYYY-MM, e.g. 2026-11")]
XLSX_ANSWER: dict[int | str, dict[str, Any]] = {200: {
    "description": "The report as an XLSX workbook, one sheet per section",
    "content": {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
        "schema": {"type": "string", "format": "binary"}}}}}


@router.get("/{month}.xlsx", response_class=Response, responses={**XLSX_ANSWER, **ONE_ERRORS})
def report_xlsx(month: Month, staff: Reader, session: SessionDep, runtime: RuntimeDep,
                request: Request) -> Response:
    """The month's report as a workbook, in the officer's language; audited."""
    body, filename = reports.export(
        session, runtime.profile, staff, month, utcnow(),
        runtime.catalogs.translator(staff.language), namer(runtime, staff.language),
        client_ip(request))
    return Response(body, media_type=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/{month}", response_model=reports.ReportOut, responses=ONE_ERRORS)
def report(month: Month, staff: Reader, session: SessionDep,
           runtime: RuntimeDep) -> reports.ReportOut:
    """Reception, documents (the access law's numbers), complaints, surveys,
    notices and chat use of a month in Klokot's time zone; the month under
    way so far (`complete` false)."""
    return reports.report(session, runtime.profile, month, utcnow())
