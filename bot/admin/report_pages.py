"""The monthly report's page at /staff/reports/YYYY-MM (printable: the print
stylesheet leaves out navigation and forms) and its XLSX download, for the
roles that read reports. Charts are inline SVG drawn on the server
(`bot.admin.charts`), as the survey results are. The numbers are
`bot.staff.reports`', as the API's. A malformed month is a page saying how
to write one (422); a month that has not begun or before the first data, a
page saying so (404)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bot.admin import rendering
from bot.admin.charts import Chart, share_chart
from bot.admin.deps import RuntimeDep, SessionDep, client_ip
from bot.admin.report_common import XLSX, namer
from bot.db import utcnow
from bot.models.staff import StaffUser
from bot.refusals import Invalid, NotFound
from bot.runtime import Runtime
from bot.staff import reports
from bot.staff.overview import last_month
from bot.staff.permissions import Capability

router = APIRouter(prefix="/staff/reports", include_in_schema=False)
Reader = Annotated[StaffUser, Depends(rendering.page_role(Capability.reports))]
# What the page says for a month there is no report of.
REFUSALS = {"invalid_month": "staff.reports.bad_month", "month_in_future": "staff.reports.future",
            "month_before_data": "staff.reports.before_data"}


def _refused(request: Request, runtime: Runtime, staff: StaffUser,
             refusal: Invalid | NotFound, month: str) -> HTMLResponse:
    t = runtime.catalogs.translator(staff.language)
    status = 422 if isinstance(refusal, Invalid) else 404
    return rendering.render(request, runtime, "error.html", staff, status=status,
                            detail=t(REFUSALS.get(refusal.code, "staff.reports.bad_month"),
                                     month=month[:7]))


def charts_of(shown: reports.ReportOut, t: reports.Label,
              name: Callable[[str, str], str]) -> dict[str, Chart]:
    def of(key: str, title: str, kind: str, items: list[reports.Breakdown]) -> Chart:
        return share_chart(key, t(title), [(name(kind, b.code), b.count) for b in items])

    return {
        "bookings": of("bookings-settlement", "staff.reports.by_settlement", "settlement",
                       shown.reception.by_settlement),
        "categories": of("complaints-category", "staff.reports.by_category", "category",
                         shown.complaints.by_category),
        "settlements": of("complaints-settlement", "staff.reports.by_settlement",
                          "settlement", shown.complaints.by_settlement),
        "apps": of("chat-app", "staff.reports.by_app", "app", shown.chat.by_app),
        "languages": of("chat-language", "staff.reports.by_language", "language",
                        shown.chat.by_language),
    }


@router.get("", response_class=RedirectResponse)
def latest(runtime: RuntimeDep, staff: Reader) -> RedirectResponse:
    """Last month's report: the one to print."""
    return RedirectResponse(f"/staff/reports/{last_month(runtime.profile, utcnow())}",
                            status_code=303)


@router.get("/{month}.xlsx", response_class=Response)
def report_xlsx(month: str, request: Request, runtime: RuntimeDep, staff: Reader,
                session: SessionDep) -> Response:
    t = runtime.catalogs.translator(staff.language)
    try:
        body, filename = reports.export(session, runtime.profile, staff, month[:16], utcnow(),
                                        t, namer(runtime, staff.language), client_ip(request))
    except (Invalid, NotFound) as refusal:
        return _refused(request, runtime, staff, refusal, month)
    return Response(body, media_type=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/{month}", response_class=HTMLResponse)
def report_page(month: str, request: Request, runtime: RuntimeDep, staff: Reader,
                session: SessionDep) -> HTMLResponse:
    t = runtime.catalogs.translator(staff.language)
    try:
        shown = reports.report(session, runtime.profile, month[:16], utcnow())
    except (Invalid, NotFound) as refusal:
        return _refused(request, runtime, staff, refusal, month)
    first = reports.parse_month(shown.month)
    name = namer(runtime, staff.language)
    return rendering.render(
        request, runtime, "report.html", staff, r=shown, label=name,
        charts=charts_of(shown, t, name),
        prev_month=f"{reports.previous_month(first):%Y-%m}",
        next_month=f"{reports.next_month(first):%Y-%m}" if shown.complete else None,
        xlsx_link=f"/staff/reports/{shown.month}.xlsx")
