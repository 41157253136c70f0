"""The results of a survey as a table (SPEC §3.7): one row per response, one
column per question (multiple choices as option keys joined by ";"), as CSV
(UTF-8 with BOM, Excel-safe) or as an XLSX workbook. A named survey's rows
are numbered and show channel, language and settlement, never a name; an
anonymous survey's have no number and no order of arrival; every export is
audited."""

from __future__ import annotations

import io
from typing import Any, Literal

from sqlalchemy.orm import Session

from bot.models import Survey, SurveyResponse
from bot.models.staff import StaffUser
from bot.profile import Profile
from bot.services import surveys as service
from bot.staff import audit
from bot.staff.export import Column, cell, write_csv
from bot.staff.surveys.views import ResultFilters, check_filters


def table(survey: Survey, rows: list[SurveyResponse]) -> tuple[list[str], list[list[Any]]]:
    """The header and one line per response. A named survey's lines are
    numbered in the order they came; an anonymous one's carry no number, in
    the random order of `service.responses` (a number in order of arrival
    would tie an answer to the thank-you in a chat's outbox)."""
    header = ["completed_on"] if survey.anonymous else [
        "response", "completed_on", "channel", "language", "settlement"]
    header += [q["key"] for q in survey.questions]
    lines: list[list[Any]] = []
    for number, response in enumerate(rows, start=1):
        line: list[Any] = [response.completed_on.isoformat()]
        if not survey.anonymous:
            line = [number, *line, response.channel or "", response.language or "",
                    response.settlement or ""]
        for question in survey.questions:
            answer = response.answers.get(question["key"])
            if isinstance(answer, list):
                answer = ";".join(answer)
            line.append("" if answer is None else answer)
        lines.append(line)
    return header, lines


def csv_bytes(survey: Survey, rows: list[SurveyResponse]) -> bytes:
    header, lines = table(survey, rows)
    return write_csv([Column(name) for name in header], lines, personal=False)


def xlsx_bytes(survey: Survey, rows: list[SurveyResponse]) -> bytes:
    """The same table as a workbook; openpyxl would store text starting with
    "=" as a formula, so text goes through the CSV rules' `cell`."""
    from openpyxl import Workbook

    header, lines = table(survey, rows)
    book = Workbook(write_only=True)
    sheet = book.create_sheet(survey.slug[:31])
    sheet.append(header)
    for line in lines:
        sheet.append([value if isinstance(value, int | float) else cell(value)
                      for value in line])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def export(session: Session, profile: Profile, staff: StaffUser, survey: Survey,
           filters: ResultFilters, kind: Literal["csv", "xlsx"], ip: str | None) -> bytes:
    """The `csv` or `xlsx` bytes of the responses matching the filters, and
    the audit entry saying who exported how many rows with which filters."""
    check_filters(profile, filters)
    rows = service.responses(session, survey, filters.model_dump())
    body = csv_bytes(survey, rows) if kind == "csv" else xlsx_bytes(survey, rows)
    given = {k: v for k, v in filters.model_dump().items() if v is not None}
    detail = f"{kind}, {len(rows)} rows"
    if given:
        detail += f", filters {given}" + (" (ignored: anonymous)" if survey.anonymous else "")
    audit.record(session, staff, "surveys.export", object_type="survey", object_id=survey.slug,
                 detail=detail, ip=ip)
    return body
