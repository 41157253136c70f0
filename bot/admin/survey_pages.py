"""Staff pages of surveys at /staff/surveys: the list with status and how
many answered, a form to define a survey by pasting its JSON (or uploading
the same JSON as a file) that shows every problem of the definition beside
it, and each survey with its Publish ("invite the audience") and Close
buttons and its results — every question a horizontal bar chart drawn on
the server as inline SVG (no script, no outside source: the CSP allows
none), with counts, percentages, a scale's mean and the free texts — and
links to the CSV and XLSX exports. While a survey is open its page reloads
itself every half minute (a same-origin script). They call the same staff
use-cases as the API (bot.staff.surveys), so audit and rules are the same on
both."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from bot.admin import rendering
from bot.admin.charts import Chart, chart
from bot.admin.common import Problem
from bot.admin.deps import RuntimeDep, SessionDep, client_ip
from bot.i18n import LANGUAGE_NAMES
from bot.models import Survey, SurveyStatus
from bot.models.staff import StaffUser
from bot.refusals import Refused
from bot.runtime import Runtime
from bot.services import surveys as service
from bot.staff.permissions import Capability, can_write
from bot.staff.query import PageWindow
from bot.staff.surveys import actions, views
from bot.staff.surveys.definition import EXAMPLE, definition_of

router = APIRouter(prefix="/staff/surveys", include_in_schema=False)
HOME = "/staff/surveys"
DONE = ("created", "published", "invited", "closed")
UPLOAD_MAX = 512 * 1024  # a definition of 40 questions × 12 options × 4 languages fits
REFRESH_SECONDS = 30
Csrf = Annotated[str, Form(max_length=200)]
SlugPath = Annotated[str, Path(pattern=service.SLUG.pattern, max_length=32)]


Reader = Annotated[StaffUser, Depends(rendering.page_role(Capability.surveys))]
Writer = Annotated[StaffUser, Depends(rendering.page_role(Capability.surveys, write=True))]


def _labels(runtime: Runtime, locale: str) -> dict[str, Any]:
    return {**rendering.profile_labels(runtime, locale), "channels": views.CHANNELS}


def in_locale(texts: dict[str, str], locale: str, fallback: str = "") -> str:
    return texts.get(locale) or texts.get("en") or next(iter(texts.values()), "") or fallback


# --- charts ---------------------------------------------------------------------------

def charts_of(results: views.ResultsOut, locale: str) -> dict[str, Chart]:
    found: dict[str, Chart] = {}
    for question in results.questions:
        title = in_locale(question.text, locale, question.key)
        if question.type in ("single", "multiple"):
            found[question.key] = chart(question.key, title, [
                (in_locale(o.text, locale, o.key), o.count, o.percent)
                for o in question.options])
        elif question.type == "scale":
            answered = question.answered
            found[question.key] = chart(question.key, title, [
                (value, count, round(100 * count / answered, 1) if answered else 0.0)
                for value, count in question.distribution.items()])
    return found


# --- pages ----------------------------------------------------------------------------

@router.get("", response_class=HTMLResponse)
def list_page(request: Request, runtime: RuntimeDep, staff: Reader, session: SessionDep,
              offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> HTMLResponse:
    params = {k: v for k, v in request.query_params.items() if k == "status"}
    error = None
    try:
        filters = views.SurveyFilters.model_validate({"status": params.get("status") or None})
    except ValidationError:
        filters, error = views.SurveyFilters(), "staff.surveys.bad_filter"
    page = PageWindow(limit=25, offset=offset)
    rows, total = views.list_surveys(session, filters, page)
    return rendering.render(
        request, runtime, "surveys.html", staff, rows=views.list_out(session, rows),
        total=total, error=error, params=params, statuses=[s.value for s in SurveyStatus],
        can_write=can_write(staff.role, Capability.surveys),
        **rendering.pager_links(request, offset, page.limit, total),
    )


def _form_page(request: Request, runtime: Runtime, staff: StaffUser, *, definition: str = "",
               status: int = 200, error: str | None = None,
               problems: list[dict[str, Any]] | None = None) -> HTMLResponse:
    return rendering.render(request, runtime, "surveys_new.html", staff, status=status,
                            definition=definition, error=error, problems=problems or [],
                            example=json.dumps(EXAMPLE, ensure_ascii=False, indent=2),
                            upload_max_kb=UPLOAD_MAX // 1024,
                            locale_list=", ".join(f"{LANGUAGE_NAMES.get(loc, loc)} ({loc})"
                                                  for loc in runtime.profile.enabled_locales),
                            **_labels(runtime, staff.language))


@router.get("/new", response_class=HTMLResponse)
def new_page(request: Request, runtime: RuntimeDep, staff: Writer) -> HTMLResponse:
    return _form_page(request, runtime, staff)


def _uploaded(file: UploadFile | None) -> str | None:
    """The uploaded JSON's text, or None when no file was chosen."""
    if file is None or not file.filename:
        return None
    data = file.file.read(UPLOAD_MAX + 1)
    if not data:
        return None
    if len(data) > UPLOAD_MAX:
        raise Problem(413, "too_large", f"the file is over {UPLOAD_MAX // 1024} KB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise Problem(422, "not_utf8", "the file is not UTF-8 text") from err


@router.post("/new", response_class=HTMLResponse)
def new_survey(request: Request, runtime: RuntimeDep, staff: Writer, session: SessionDep,
               csrf_token: Csrf = "",
               definition: Annotated[str, Form(max_length=UPLOAD_MAX)] = "",
               file: Annotated[UploadFile | None, File()] = None) -> Response:
    """A file, when one is chosen, wins over the text box. Every problem of
    the definition is listed beside the form, which keeps what was sent."""
    rendering.check_csrf(request, runtime, csrf_token)
    locale = staff.language
    t = runtime.catalogs.gettext
    try:
        text = _uploaded(file)
    except Problem as problem:
        key = "staff.surveys.error." + problem.code
        return _form_page(request, runtime, staff, definition=definition,
                          status=problem.status, error=t(locale, key, max=UPLOAD_MAX // 1024))
    text = definition if text is None else text
    if not text.strip():
        return _form_page(request, runtime, staff, status=422,
                          error=t(locale, "staff.surveys.error.empty"))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        return _form_page(request, runtime, staff, definition=text, status=422,
                          error=t(locale, "staff.surveys.error.not_json", line=err.lineno,
                                  column=err.colno, reason=err.msg))
    try:
        survey = actions.create(session, runtime.profile, staff, client_ip(request), data)
    except Refused as refused:
        if refused.code not in ("invalid_definition", "slug_taken"):
            raise
        problems = refused.extra.get("errors") or []
        return _form_page(request, runtime, staff, definition=text, status=refused.status,
                          error=t(locale, f"staff.surveys.error.{refused.code}",
                                  n=len(problems)), problems=problems)
    return RedirectResponse(f"{HOME}/{survey.slug}?done=created", status_code=303)


def _filters(runtime: Runtime, survey: Survey,
             params: dict[str, str]) -> tuple[views.ResultFilters, str | None]:
    """The results' filters (named surveys only); an empty field means "any"."""
    if survey.anonymous:
        return views.ResultFilters(), None
    return rendering.page_filters(views.ResultFilters, params, runtime.profile, views.check_filters,
                                  message="staff.surveys.bad_filter")


def _export_link(slug: str, kind: str, filters: views.ResultFilters) -> str:
    query = {k: v for k, v in filters.model_dump().items() if v is not None}
    return f"/api/v1/surveys/{slug}/results.{kind}" + (f"?{urlencode(query)}" if query else "")


def _text_links(request: Request, offset: int, longest: int) -> dict[str, Any]:
    """The free texts' pager (`text_offset`, as long as the longest list of
    texts), keeping the filters but not the last action's message."""
    query = {k: v for k, v in request.query_params.items()
             if k not in {"text_offset", "done", "invited"}}

    def link(to: int) -> str:
        return "?" + urlencode({**query, "text_offset": to})

    step = views.TEXTS_PER_PAGE
    return {"prev_link": link(max(0, offset - step)) if offset else None,
            "next_link": link(offset + step) if offset + step < longest else None}


@router.get("/{slug}", response_class=HTMLResponse)
def survey_page(slug: SlugPath, request: Request, runtime: RuntimeDep, staff: Reader,
                session: SessionDep,
                text_offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> HTMLResponse:
    found = views.find_survey(session, slug)
    detail = views.detail_out(session, found)
    params = {k: v for k, v in request.query_params.items()
              if k in {"settlement", "channel", "language"}}
    filters, error = _filters(runtime, found, params)
    texts = views.TextPage(limit=views.TEXTS_PER_PAGE, offset=text_offset)
    results = views.results_out(session, runtime.profile, found, filters, texts)
    longest = max((q.texts.total for q in results.questions if q.texts), default=0)
    writer = can_write(staff.role, Capability.surveys)
    done = request.query_params.get("done")
    invited = request.query_params.get("invited", "")
    locale = staff.language
    return rendering.render(
        request, runtime, "surveys_detail.html", staff, s=detail, results=results,
        charts=charts_of(results, locale), error=error, params=params,
        done=done if done in DONE else None, invited=invited if invited.isdigit() else "0",
        can_publish=writer and found.status is SurveyStatus.draft,
        can_close=writer and found.status is not SurveyStatus.closed,
        csv_link=_export_link(slug, "csv", filters),
        xlsx_link=_export_link(slug, "xlsx", filters),
        definition=json.dumps(definition_of(found), ensure_ascii=False, indent=2),
        refresh=REFRESH_SECONDS if found.status is SurveyStatus.open else None,
        text_offset=text_offset, ltext=lambda texts: in_locale(texts, locale),
        **_text_links(request, text_offset, longest), **_labels(runtime, locale),
    )


@router.post("/{slug}/publish")
def publish(slug: SlugPath, request: Request, runtime: RuntimeDep, staff: Writer,
            session: SessionDep, csrf_token: Csrf = "",
            invite: Annotated[bool, Form()] = False) -> Response:
    rendering.check_csrf(request, runtime, csrf_token)
    _, invited = actions.publish(session, runtime.profile, runtime.catalogs, staff,
                                 client_ip(request), slug, invite, keys=runtime.survey_keys)
    if invited is None:
        return RedirectResponse(f"{HOME}/{slug}?done=published", status_code=303)
    return RedirectResponse(f"{HOME}/{slug}?done=invited&invited={invited}", status_code=303)


@router.post("/{slug}/close")
def close(slug: SlugPath, request: Request, runtime: RuntimeDep, staff: Writer,
          session: SessionDep, csrf_token: Csrf = "") -> Response:
    rendering.check_csrf(request, runtime, csrf_token)
    actions.close(session, staff, client_ip(request), slug)
    return RedirectResponse(f"{HOME}/{slug}?done=closed", status_code=303)
