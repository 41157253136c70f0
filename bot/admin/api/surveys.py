"""Surveys for staff (SPEC §3.5, §3.7) over the admin API: defining a survey
in every enabled language as one JSON document, changing it while no one has
answered, publishing it (and inviting its audience), closing it, the live
results and their exports as CSV and XLSX. Routes only: the use-cases, the
shapes and the filters are `bot.staff.surveys`, shared with the staff pages.

A definition is checked by the service (bot.services.surveys.check_definition),
which names every problem: they come back together as one 422
`invalid_definition` whose `errors` give each field and what is wrong with it
(e.g. `title`: `missing translation: sq, en`). The body is declared as a free
JSON object on purpose, so that a wrong definition reaches that check instead
of a generic validation error. A rule of the survey's state is 409 with the
service's stable code: `slug_taken`, `has_responses` (the questions freeze at
the first answer; `has_participants`: already once someone started),
`survey_closed`, `not_draft`, `closes_in_past`, `already_closed`. Every write
and every export is audited."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from bot.admin.common import CSV, ONE_ERRORS, READ_ERRORS, WRITE_ERRORS, Page, PageParams, problems
from bot.admin.deps import RuntimeDep, SessionDep, client_ip, require
from bot.admin.export import csv_response
from bot.admin.paging import page_params
from bot.db import utcnow
from bot.models.staff import StaffUser
from bot.services import surveys as service
from bot.staff.permissions import Capability
from bot.staff.surveys import actions, definition, export, views

router = APIRouter(prefix="/surveys", tags=["surveys"])
Reader = Annotated[StaffUser, Depends(require(Capability.surveys))]
Writer = Annotated[StaffUser, Depends(require(Capability.surveys, write=True))]
MAKE_ERRORS = problems(401, 403, 409, 422)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SlugPath = Annotated[str, Path(pattern=service.SLUG.pattern, max_length=32,
                               description="The survey's slug, e.g. citizens-2026")]
SurveyPage = page_params(*views.SORTS)
Filters = Annotated[views.ResultFilters, Query()]

DEFINITION_DOC = (
    "The survey as one JSON object: `slug` (`^[a-z0-9-]{1,32}$`), `title` (a text per "
    "enabled locale), `anonymous` (default true), `opens_at` and `closes_at` (ISO 8601 "
    "with offset, optional), `audience` (`settlements`: codes, `diaspora`: true/false; "
    "null: everyone) and `questions`: each with `key` (`^[a-z0-9_]{1,24}$`), `type` "
    "(`single`, `multiple`, `scale`, `text`), `required`, `text` per locale; `options` "
    "(`key`, `text`) for choices, `max_choices` for `multiple`, `min` and `max` for a "
    "scale (default 1–5). Every problem is named in a 422 `invalid_definition`.")
DefinitionBody = Annotated[dict[str, Any], Body(
    description=DEFINITION_DOC,
    openapi_examples={"citizens": {"summary": "A three-question survey",
                                   "value": definition.EXAMPLE}})]


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    invite: bool = Field(False, description="Also send its audience a message with a button "
                                            "that opens it, in their language (once)")


def text_page(
    text_limit: Annotated[int, Query(ge=1, le=200, description="Free texts per page")
                          ] = views.TEXTS_PER_PAGE,
    text_offset: Annotated[int, Query(ge=0, le=1_000_000, description="Free texts to "
                                                                      "skip")] = 0,
) -> views.TextPage:
    return views.TextPage(text_limit, text_offset)


def download_name(slug: str, kind: str) -> str:
    return f"survey-{slug}-{utcnow():%Y%m%d-%H%M}.{kind}"


@router.get("", response_model=Page[views.SurveyOut], responses=READ_ERRORS)
def surveys(staff: Reader, session: SessionDep, filters: Annotated[views.SurveyFilters, Query()],
            page: Annotated[PageParams, Depends(SurveyPage)]) -> Page[views.SurveyOut]:
    """The surveys, newest first, with how many started and finished each."""
    rows, total = views.list_surveys(session, filters, page)
    return Page(items=views.list_out(session, rows), total=total, limit=page.limit,
                offset=page.offset)


@router.post("", status_code=201, response_model=views.SurveyDetail, responses=MAKE_ERRORS)
def create(body: DefinitionBody, staff: Writer, session: SessionDep, runtime: RuntimeDep,
           request: Request) -> views.SurveyDetail:
    """Define a survey (a draft until published). Problems in the definition
    are one 422 `invalid_definition` naming each field (`errors[].field`,
    `errors[].msg`, e.g. the missing translations); a slug in use is 409
    `slug_taken`."""
    survey = actions.create(session, runtime.profile, staff, client_ip(request), body)
    return views.detail_out(session, survey)


@router.get("/{slug}", response_model=views.SurveyDetail, responses=ONE_ERRORS)
def survey_detail(slug: SlugPath, staff: Reader, session: SessionDep) -> views.SurveyDetail:
    """One survey with its questions."""
    return views.detail_out(session, views.find_survey(session, slug))


@router.put("/{slug}", response_model=views.SurveyDetail, responses=WRITE_ERRORS)
def replace(slug: SlugPath, body: DefinitionBody, staff: Writer, session: SessionDep,
            runtime: RuntimeDep, request: Request) -> views.SurveyDetail:
    """Replace the definition (the slug in the path stays). 422
    `invalid_definition` as for creating; 409 `has_responses` when the
    questions would change after someone answered (`has_participants` when
    someone started), `anonymity_fixed` when `anonymous` would change after
    publishing, `survey_closed` for a closed survey."""
    survey = actions.update(session, runtime.profile, staff, client_ip(request), slug, body)
    return views.detail_out(session, survey)


@router.post("/{slug}/publish", response_model=views.PublishedOut, responses=WRITE_ERRORS)
def publish(slug: SlugPath, staff: Writer, session: SessionDep, runtime: RuntimeDep,
            request: Request, body: PublishIn | None = None) -> views.PublishedOut:
    """Open a draft for citizens (`not_draft`, `closes_in_past` 409); with
    `{"invite": true}` its audience also gets a message with a button, on
    one app, in their language — `invited` says how many."""
    survey, invited = actions.publish(session, runtime.profile, runtime.catalogs, staff,
                                      client_ip(request), slug, bool(body and body.invite),
                                      keys=runtime.survey_keys)
    return views.published_out(session, survey, invited)


@router.post("/{slug}/invite", response_model=views.PublishedOut, responses=WRITE_ERRORS)
def invite(slug: SlugPath, staff: Writer, session: SessionDep, runtime: RuntimeDep,
           request: Request) -> views.PublishedOut:
    """Invite the audience of an open survey later (once per survey:
    `already_invited`, `not_open` 409)."""
    survey, invited = actions.invite(session, runtime.profile, runtime.catalogs, staff,
                                     client_ip(request), slug, keys=runtime.survey_keys)
    return views.published_out(session, survey, invited)


@router.post("/{slug}/close", response_model=views.SurveyDetail, responses=WRITE_ERRORS)
def close(slug: SlugPath, staff: Writer, session: SessionDep,
          request: Request) -> views.SurveyDetail:
    """Stop taking answers (`already_closed` 409); the results stay."""
    survey = actions.close(session, staff, client_ip(request), slug)
    return views.detail_out(session, survey)


@router.get("/{slug}/results", response_model=views.ResultsOut, responses=ONE_ERRORS)
def results(slug: SlugPath, staff: Reader, session: SessionDep, runtime: RuntimeDep,
            filters: Filters, texts: Annotated[views.TextPage, Depends(text_page)]
            ) -> views.ResultsOut:
    """The live results: per question how many answered, each option's count
    and percentage, a scale's mean and distribution, and a page of the free
    texts (`text_limit`, `text_offset`). `settlement`, `channel` and
    `language` filter a named survey; an anonymous one ignores them, with a
    `note`."""
    return views.results_out(session, runtime.profile, views.find_survey(session, slug),
                             filters, texts)


@router.get("/{slug}/results.csv", response_class=Response, responses={**CSV, **ONE_ERRORS})
def results_csv(slug: SlugPath, staff: Reader, session: SessionDep, runtime: RuntimeDep,
                request: Request, filters: Filters) -> Response:
    """One row per response, one column per question; every export is audited."""
    body = export.export(session, runtime.profile, staff, views.find_survey(session, slug),
                         filters, "csv", client_ip(request))
    return csv_response(body, download_name(slug, "csv"))


@router.get("/{slug}/results.xlsx", response_class=Response, responses={
    200: {"description": "An Excel workbook",
          "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}}},
    **ONE_ERRORS})
def results_xlsx(slug: SlugPath, staff: Reader, session: SessionDep, runtime: RuntimeDep,
                 request: Request, filters: Filters) -> Response:
    """The same table as the CSV, as an XLSX workbook; every export is audited."""
    body = export.export(session, runtime.profile, staff, views.find_survey(session, slug),
                         filters, "xlsx", client_ip(request))
    return Response(body, media_type=XLSX, headers={
        "Content-Disposition": f'attachment; filename="{download_name(slug, "xlsx")}"',
        "Cache-Control": "no-store"})
