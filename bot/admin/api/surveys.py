"""Surveys for staff (SPEC §3.5, §3.7): defining a survey in every enabled
language as one JSON document (the shape of issue #7), changing it while
no one has answered, publishing it (and inviting its audience), closing it,
the live results — counts and percentages per option, a scale's mean and
distribution, the free texts page by page, filtered by settlement, channel
and language where the survey is not anonymous — and exports as CSV and XLSX.

A definition is checked by the service (bot.services.surveys.check_definition),
which names every problem: they come back together as one 422
`invalid_definition` whose `errors` give each field and what is wrong with it
(e.g. `title`: `missing translation: sq, en`). The body is declared as a free
JSON object on purpose, so that a wrong definition reaches that check instead
of a generic validation error. A rule of the survey's state is 409 with the
service's stable code: `slug_taken`, `has_responses` (the questions freeze at
the first answer; `has_participants`: already once someone started),
`survey_closed`, `not_draft`, `closes_in_past`, `already_closed`.

Nothing here says who answered: an anonymous survey's responses hold no
citizen, channel, language, settlement or time of day, and a named one's
results and exports show channel, language and settlement, never a name.
Every write and every export is audited. The functions under "actions" are
shared with the staff pages."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.admin.common import Page, PageParams, Problem, problems
from bot.admin.deps import RuntimeDep, SessionDep, client_ip, require
from bot.admin.export import csv_response
from bot.admin.paging import page_params
from bot.db import utcnow
from bot.models import Survey, SurveyParticipant, SurveyResponse, SurveyStatus
from bot.models.staff import StaffUser
from bot.profile import ABROAD, Profile
from bot.runtime import Runtime
from bot.services import surveys as service
from bot.services.surveys import field_loc
from bot.staff import audit
from bot.staff.export import Column, write_csv
from bot.staff.permissions import Capability
from bot.staff.query import check_choice, paginate, sorted_by

router = APIRouter(prefix="/surveys", tags=["surveys"])
Reader = Annotated[StaffUser, Depends(require(Capability.surveys))]
Writer = Annotated[StaffUser, Depends(require(Capability.surveys, write=True))]
READ_ERRORS = problems(401, 403, 422)
ONE_ERRORS = problems(401, 403, 404, 422)
MAKE_ERRORS = problems(401, 403, 409, 422)
WRITE_ERRORS = problems(401, 403, 404, 409, 422)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CHANNELS = ("telegram", "viber", "terminal")
TEXTS_PER_PAGE = 50
SlugPath = Annotated[str, Path(pattern=service.SLUG.pattern, max_length=32,
                               description="The survey's slug, e.g. citizens-2026")]
QuestionType = Literal["single", "multiple", "scale", "text"]
Channel = Literal["telegram", "viber", "terminal"]

DEFINITION_EXAMPLE: dict[str, Any] = {
    "slug": "citizens-2026",
    "title": {"sr_Latn": "Anketa građana 2026", "sr_Cyrl": "Анкета грађана 2026",
              "sq": "Anketa e qytetarëve 2026", "en": "Citizens' survey 2026"},
    "anonymous": True,
    "opens_at": "2026-03-01T08:00:00+01:00",
    "closes_at": "2026-03-31T20:00:00+02:00",
    "audience": {"settlements": ["klokot", "vrbovac"], "diaspora": True},
    "questions": [
        {"key": "satisfaction", "type": "scale", "min": 1, "max": 5, "required": True,
         "text": {"sr_Latn": "Koliko ste zadovoljni radom opštine?",
                  "sr_Cyrl": "Колико сте задовољни радом општине?",
                  "sq": "Sa të kënaqur jeni me punën e komunës?",
                  "en": "How satisfied are you with the municipality?"}},
        {"key": "news", "type": "single", "required": True,
         "text": {"sr_Latn": "Odakle saznajete vesti?", "sr_Cyrl": "Одакле сазнајете вести?",
                  "sq": "Nga i merrni lajmet?", "en": "Where do you get news from?"},
         "options": [
             {"key": "web", "text": {"sr_Latn": "Sajt", "sr_Cyrl": "Сајт", "sq": "Faqja",
                                     "en": "Website"}},
             {"key": "radio", "text": {"sr_Latn": "Radio", "sr_Cyrl": "Радио", "sq": "Radio",
                                       "en": "Radio"}}]},
        {"key": "comment", "type": "text", "required": False,
         "text": {"sr_Latn": "Još nešto?", "sr_Cyrl": "Још нешто?", "sq": "Diçka tjetër?",
                  "en": "Anything else?"}},
    ],
}
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
                                   "value": DEFINITION_EXAMPLE}})]


# --- shapes ---------------------------------------------------------------------

class OptionOut(BaseModel):
    key: str
    text: dict[str, str] = Field(description="The text per locale")


class QuestionOut(BaseModel):
    key: str
    type: QuestionType
    required: bool
    text: dict[str, str] = Field(description="The question per locale")
    options: list[OptionOut] = Field(default_factory=list, description="Choice questions")
    max_choices: int | None = Field(None, description="`multiple`: how many may be chosen")
    min: int | None = Field(None, description="`scale`: the lowest value")
    max: int | None = Field(None, description="`scale`: the highest value")


class SurveyOut(BaseModel):
    slug: str
    title: dict[str, str] = Field(description="The title per locale")
    anonymous: bool = Field(description="Responses are not linked to the citizen, and hold "
                                        "no channel, language, settlement or time of day")
    opens_at: datetime | None
    closes_at: datetime | None
    audience: dict[str, Any] | None = Field(
        description="`settlements` and `diaspora`; null: everyone")
    status: SurveyStatus
    running: bool = Field(description="Open and within its dates: citizens can take it now")
    started: int = Field(description="Citizens who started it")
    completed: int = Field(description="Finished responses")
    created_by: str
    created_at: datetime
    published_at: datetime | None
    closed_at: datetime | None
    invited_at: datetime | None = Field(description="When its audience was invited")


class SurveyDetail(SurveyOut):
    questions: list[QuestionOut]


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    invite: bool = Field(False, description="Also send its audience a message with a button "
                                            "that opens it, in their language (once)")


class PublishedOut(SurveyDetail):
    invited: int | None = Field(None, description="Citizens invited (messages queued); null "
                                                  "when not asked to invite")


class OptionResultOut(BaseModel):
    key: str
    text: dict[str, str]
    count: int
    percent: float = Field(description="Of those who answered the question, 0–100; with "
                                       "`multiple` the percentages may add up to over 100")


class TextsOut(BaseModel):
    """One page of a text question's answers, in the order they came."""

    items: list[str]
    total: int
    limit: int
    offset: int


class QuestionResultOut(BaseModel):
    key: str
    type: QuestionType
    required: bool
    text: dict[str, str]
    answered: int = Field(description="Responses that answer this question")
    options: list[OptionResultOut] = Field(default_factory=list,
                                           description="Choice questions, in their order")
    mean: float | None = Field(None, description="`scale`: the mean of the answers")
    distribution: dict[str, int] = Field(default_factory=dict,
                                         description="`scale`: value → count, every value")
    texts: TextsOut | None = Field(None, description="`text`: one page of the answers")


class AppliedFilters(BaseModel):
    settlement: str | None = None
    channel: str | None = None
    language: str | None = None


class ResultsOut(BaseModel):
    slug: str
    status: SurveyStatus
    anonymous: bool
    started: int = Field(description="Citizens who started it (never filtered)")
    completed: int = Field(description="Finished responses matching the filters")
    filters: AppliedFilters = Field(description="The filters applied")
    note: str | None = Field(None, description="Why filters were ignored, if they were")
    questions: list[QuestionResultOut]


# --- helpers ------------------------------------------------------------------------

def scrub(value: Any) -> Any:
    """The raw definition without control characters (tabs and line breaks
    kept) or lone surrogates, in keys and texts: no database or JSON answer
    stores those."""
    if isinstance(value, str):
        return "".join(ch for ch in value if unicodedata.category(ch) not in {"Cc", "Cs"}
                       or ch in "\t\n\r")
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def invalid(err: service.SurveyInvalid) -> Problem:
    """Every problem of a definition, each with its field and what is wrong."""
    listed = "; ".join(f"{f or 'body'}: {m}" for f, m in err.problems)
    return Problem(422, "invalid_definition",
                   f"the survey definition has {len(err.problems)} problem(s): {listed}"[:4000],
                   errors=[{"loc": field_loc(f), "field": f or "body", "msg": m}
                           for f, m in err.problems])


def refused(err: service.SurveyRefused) -> Problem:
    return Problem(409, err.code, str(err))


def find_survey(session: Session, slug: str) -> Survey:
    found = session.scalar(select(Survey).where(Survey.slug == slug))
    if found is None:
        raise Problem(404, "not_found", f"no survey {slug}")
    return found


def counts_of(session: Session, ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Survey id → (started, completed), two grouped queries for a page of surveys."""
    started: dict[int, int] = {}
    completed: dict[int, int] = {}
    if ids:
        for survey_id, count in session.execute(
                select(SurveyParticipant.survey_id, func.count())
                .where(SurveyParticipant.survey_id.in_(ids))
                .group_by(SurveyParticipant.survey_id)):
            started[survey_id] = int(count)
        for survey_id, count in session.execute(
                select(SurveyResponse.survey_id, func.count())
                .where(SurveyResponse.survey_id.in_(ids))
                .group_by(SurveyResponse.survey_id)):
            completed[survey_id] = int(count)
    return {i: (started.get(i, 0), completed.get(i, 0)) for i in ids}


def in_utc(moment: datetime | None) -> datetime | None:
    """As stored: a survey just defined still holds the offset it was given."""
    return moment.astimezone(UTC) if moment else None


def survey_out(survey: Survey, counts: tuple[int, int], now: datetime) -> SurveyOut:
    return SurveyOut(
        slug=survey.slug, title=dict(survey.title), anonymous=survey.anonymous,
        opens_at=in_utc(survey.opens_at), closes_at=in_utc(survey.closes_at),
        audience=survey.audience,
        status=survey.status, running=service.is_running(survey, now), started=counts[0],
        completed=counts[1], created_by=survey.created_by, created_at=survey.created_at,
        published_at=survey.published_at, closed_at=survey.closed_at,
        invited_at=survey.invited_at)


def list_out(session: Session, surveys: Sequence[Survey]) -> list[SurveyOut]:
    counts = counts_of(session, [s.id for s in surveys])
    now = utcnow()
    return [survey_out(s, counts[s.id], now) for s in surveys]


def questions_out(survey: Survey) -> list[QuestionOut]:
    return [QuestionOut(key=q["key"], type=q["type"], required=q["required"],
                        text=dict(q["text"]),
                        options=[OptionOut(key=o["key"], text=dict(o["text"]))
                                 for o in q.get("options") or []],
                        max_choices=q.get("max_choices"), min=q.get("min"), max=q.get("max"))
            for q in survey.questions]


def detail_out(session: Session, survey: Survey) -> SurveyDetail:
    base = list_out(session, [survey])[0]
    return SurveyDetail(**base.model_dump(), questions=questions_out(survey))


def definition_of(survey: Survey) -> dict[str, Any]:
    """The survey as its JSON definition (what was sent, cleaned)."""
    return {"slug": survey.slug, "title": dict(survey.title), "anonymous": survey.anonymous,
            "opens_at": survey.opens_at.astimezone(UTC).isoformat() if survey.opens_at
            else None,
            "closes_at": survey.closes_at.astimezone(UTC).isoformat() if survey.closes_at
            else None,
            "audience": survey.audience, "questions": survey.questions}


def snapshot(survey: Survey) -> dict[str, Any]:
    return {**definition_of(survey), "status": survey.status.value}


def settlement_codes(profile: Profile) -> list[str]:
    return [*(s.code for s in profile.settlements), ABROAD]


# --- queries shared with the staff pages ---------------------------------------------

@dataclass
class SurveyFilters:
    status: SurveyStatus | None = None


def survey_filters(status: SurveyStatus | None = None) -> SurveyFilters:
    return SurveyFilters(status)


SurveyPage = page_params("created_at", "slug")


def surveys_query(filters: SurveyFilters) -> Select[Any]:
    stmt = select(Survey)
    if filters.status:
        stmt = stmt.where(Survey.status == filters.status)
    return stmt


def list_surveys(session: Session, filters: SurveyFilters,
                 page: PageParams) -> tuple[list[Survey], int]:
    """Newest first."""
    stmt = sorted_by(surveys_query(filters), page.sort,
                     {"created_at": Survey.created_at, "slug": Survey.slug},
                     default=[Survey.created_at.desc(), Survey.id.desc()])
    return paginate(session, stmt, page)


def result_filters(
    settlement: Annotated[str | None, Query(max_length=32, description="A settlement code "
                                                                       "or `abroad`")] = None,
    channel: Annotated[Channel | None, Query(description="The app the response came "
                                                         "from")] = None,
    language: Annotated[str | None, Query(max_length=16, description="The citizen's "
                                                                     "language")] = None,
) -> service.Filters:
    """Ignored (with a note) for an anonymous survey, whose responses hold none of these."""
    return service.Filters(settlement=settlement, channel=channel, language=language)


def check_filters(profile: Profile, filters: service.Filters) -> None:
    check_choice("settlement", filters.settlement, settlement_codes(profile))
    check_choice("channel", filters.channel, CHANNELS)
    check_choice("language", filters.language, profile.enabled_locales)


def filters_note(survey: Survey, filters: service.Filters) -> str | None:
    if survey.anonymous and any(vars(filters).values()):
        return ("the survey is anonymous: its responses hold no settlement, channel or "
                "language, so the filters were ignored")
    return None


@dataclass(frozen=True)
class TextPage:
    limit: int = TEXTS_PER_PAGE
    offset: int = 0


def text_page(
    text_limit: Annotated[int, Query(ge=1, le=200, description="Free texts per page")
                          ] = TEXTS_PER_PAGE,
    text_offset: Annotated[int, Query(ge=0, le=1_000_000, description="Free texts to "
                                                                      "skip")] = 0,
) -> TextPage:
    return TextPage(text_limit, text_offset)


def results_out(session: Session, profile: Profile, survey: Survey,
                filters: service.Filters, texts: TextPage) -> ResultsOut:
    check_filters(profile, filters)
    started, completed, found = service.results(session, survey, filters)
    required = {q["key"]: bool(q["required"]) for q in survey.questions}
    shown = AppliedFilters() if survey.anonymous else AppliedFilters(**vars(filters))
    questions = []
    for result in found:
        page = None
        if result.type == "text":
            page = TextsOut(items=result.texts[texts.offset:texts.offset + texts.limit],
                            total=len(result.texts), limit=texts.limit, offset=texts.offset)
        questions.append(QuestionResultOut(
            key=result.key, type=result.type,
            required=required.get(result.key, False), text=dict(result.text),
            answered=result.answered,
            options=[OptionResultOut(**option) for option in result.options],
            mean=result.mean, distribution=result.distribution, texts=page))
    return ResultsOut(slug=survey.slug, status=survey.status, anonymous=survey.anonymous,
                      started=started, completed=completed, filters=shown,
                      note=filters_note(survey, filters), questions=questions)


def export_rows(session: Session, profile: Profile,
                survey: Survey, filters: service.Filters) -> list[SurveyResponse]:
    check_filters(profile, filters)
    return service.responses(session, survey, filters)


def _audit_export(session: Session, staff: StaffUser, survey: Survey, kind: str, rows: int,
                  filters: service.Filters, ip: str | None) -> None:
    given = {k: v for k, v in vars(filters).items() if v is not None}
    detail = f"{kind}, {rows} rows"
    if given:
        detail += f", filters {given}" + (" (ignored: anonymous)" if survey.anonymous else "")
    audit.record(session, staff, "surveys.export", object_type="survey", object_id=survey.slug,
                 detail=detail, ip=ip)


def export_csv(session: Session, runtime: Runtime, staff: StaffUser, survey: Survey,
               filters: service.Filters, ip: str | None) -> Response:
    """One row per response, one column per question (multiple choices as
    option keys joined by ";"); UTF-8 with BOM, Excel-safe."""
    rows = export_rows(session, runtime.profile, survey, filters)
    header, table = service.export_table(survey, rows)
    body = write_csv([Column(name) for name in header], table, personal=False)
    _audit_export(session, staff, survey, "csv", len(table), filters, ip)
    return csv_response(body, f"survey-{survey.slug}-{utcnow():%Y%m%d-%H%M}.csv")


def export_xlsx(session: Session, runtime: Runtime, staff: StaffUser, survey: Survey,
                filters: service.Filters, ip: str | None) -> Response:
    """The same table as the CSV, as a workbook."""
    rows = export_rows(session, runtime.profile, survey, filters)
    body = service.xlsx_bytes(survey, rows)
    _audit_export(session, staff, survey, "xlsx", len(rows), filters, ip)
    name = f"survey-{survey.slug}-{utcnow():%Y%m%d-%H%M}.xlsx"
    return Response(body, media_type=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "Cache-Control": "no-store"})


# --- actions: a change and its audit entry, for the API and the pages ----------------

def act_create(session: Session, runtime: Runtime, staff: StaffUser, ip: str | None,
               data: Any) -> Survey:
    """A draft survey; every problem of the definition in one 422."""
    try:
        with session.begin_nested():  # a clash on the slug undoes only this
            survey = service.create(session, runtime.profile, scrub(data),
                                    by=staff.username, now=utcnow())
    except service.SurveyInvalid as err:
        raise invalid(err) from err
    except service.SurveyRefused as err:
        raise refused(err) from err
    except IntegrityError as err:  # the same slug, made at the same moment
        raise Problem(409, "slug_taken", "a survey with this slug exists") from err
    audit.record(session, staff, "surveys.create", object_type="survey",
                 object_id=survey.slug, before=None, after=snapshot(survey), ip=ip)
    return survey


def act_update(session: Session, runtime: Runtime, staff: StaffUser, ip: str | None,
               slug: str, data: Any) -> Survey:
    """The whole definition replaced; the slug stays. Beyond the service's
    rules, the questions of a survey someone has started (answers in
    progress, kept in their conversation by question number) do not change
    either: 409 `has_participants`."""
    survey = find_survey(session, slug)
    before = snapshot(survey)
    data = scrub(data)
    try:
        if survey.status is not SurveyStatus.closed and counts_of(session, [survey.id])[
                survey.id][0]:
            cleaned = service.check_definition(
                runtime.profile, {**(data if isinstance(data, dict) else {}),
                                  "slug": survey.slug})
            if cleaned["questions"] != survey.questions and not service.has_responses(
                    session, survey):
                raise Problem(409, "has_participants", "questions cannot change once "
                              "citizens started answering")
        service.update(session, runtime.profile, survey, data)
    except service.SurveyInvalid as err:
        raise invalid(err) from err
    except service.SurveyRefused as err:
        raise refused(err) from err
    after = snapshot(survey)
    if after != before:
        audit.record(session, staff, "surveys.update", object_type="survey", object_id=slug,
                     before=before, after=after, ip=ip)
    return survey


def act_publish(session: Session, runtime: Runtime, staff: StaffUser, ip: str | None,
                slug: str, invite: bool) -> tuple[Survey, int | None]:
    """Open it for citizens and, when asked, invite its audience."""
    survey = find_survey(session, slug)
    now = utcnow()
    invited = None
    try:
        service.publish(session, survey, now)
        if invite:
            invited = service.invite(session, runtime.profile, runtime.catalogs, survey, now)
    except service.SurveyRefused as err:
        raise refused(err) from err
    audit.record(session, staff, "surveys.publish", object_type="survey", object_id=slug,
                 before={"status": SurveyStatus.draft.value},
                 after={"status": survey.status.value, "invited": invited}, ip=ip)
    return survey, invited


def act_invite(session: Session, runtime: Runtime, staff: StaffUser, ip: str | None,
               slug: str) -> tuple[Survey, int]:
    """Invite the audience of a survey published without inviting it."""
    survey = find_survey(session, slug)
    try:
        invited = service.invite(session, runtime.profile, runtime.catalogs, survey, utcnow())
    except service.SurveyRefused as err:
        raise refused(err) from err
    audit.record(session, staff, "surveys.invite", object_type="survey", object_id=slug,
                 after={"invited": invited}, ip=ip)
    return survey, invited


def act_close(session: Session, staff: StaffUser, ip: str | None, slug: str) -> Survey:
    survey = find_survey(session, slug)
    before = survey.status.value
    try:
        service.close(session, survey, utcnow())
    except service.SurveyRefused as err:
        raise refused(err) from err
    audit.record(session, staff, "surveys.close", object_type="survey", object_id=slug,
                 before={"status": before}, after={"status": survey.status.value}, ip=ip)
    return survey


# --- routes --------------------------------------------------------------------------

@router.get("", response_model=Page[SurveyOut], responses=READ_ERRORS)
def surveys(staff: Reader, session: SessionDep,
            filters: Annotated[SurveyFilters, Depends(survey_filters)],
            page: Annotated[PageParams, Depends(SurveyPage)]) -> Page[SurveyOut]:
    """The surveys, newest first, with how many started and finished each."""
    rows, total = list_surveys(session, filters, page)
    return Page(items=list_out(session, rows), total=total, limit=page.limit,
                offset=page.offset)


@router.post("", status_code=201, response_model=SurveyDetail, responses=MAKE_ERRORS)
def create(body: DefinitionBody, staff: Writer, session: SessionDep, runtime: RuntimeDep,
           request: Request) -> SurveyDetail:
    """Define a survey (a draft until published). Problems in the definition
    are one 422 `invalid_definition` naming each field (`errors[].field`,
    `errors[].msg`, e.g. the missing translations); a slug in use is 409
    `slug_taken`."""
    survey = act_create(session, runtime, staff, client_ip(request), body)
    return detail_out(session, survey)


@router.get("/{slug}", response_model=SurveyDetail, responses=ONE_ERRORS)
def survey_detail(slug: SlugPath, staff: Reader, session: SessionDep) -> SurveyDetail:
    """One survey with its questions."""
    return detail_out(session, find_survey(session, slug))


@router.put("/{slug}", response_model=SurveyDetail, responses=WRITE_ERRORS)
def replace(slug: SlugPath, body: DefinitionBody, staff: Writer, session: SessionDep,
            runtime: RuntimeDep, request: Request) -> SurveyDetail:
    """Replace the definition (the slug in the path stays). 422
    `invalid_definition` as for creating; 409 `has_responses` when the
    questions would change after someone answered (`has_participants` when
    someone started), `survey_closed` for a closed survey."""
    survey = act_update(session, runtime, staff, client_ip(request), slug, body)
    return detail_out(session, survey)


@router.post("/{slug}/publish", response_model=PublishedOut, responses=WRITE_ERRORS)
def publish(slug: SlugPath, staff: Writer, session: SessionDep, runtime: RuntimeDep,
            request: Request, body: PublishIn | None = None) -> PublishedOut:
    """Open a draft for citizens (`not_draft`, `closes_in_past` 409); with
    `{"invite": true}` its audience also gets a message with a button, on
    one app, in their language — `invited` says how many."""
    survey, invited = act_publish(session, runtime, staff, client_ip(request), slug,
                                  bool(body and body.invite))
    return PublishedOut(**detail_out(session, survey).model_dump(), invited=invited)


@router.post("/{slug}/invite", response_model=PublishedOut, responses=WRITE_ERRORS)
def invite(slug: SlugPath, staff: Writer, session: SessionDep, runtime: RuntimeDep,
           request: Request) -> PublishedOut:
    """Invite the audience of an open survey later (once per survey:
    `already_invited`, `not_open` 409)."""
    survey, invited = act_invite(session, runtime, staff, client_ip(request), slug)
    return PublishedOut(**detail_out(session, survey).model_dump(), invited=invited)


@router.post("/{slug}/close", response_model=SurveyDetail, responses=WRITE_ERRORS)
def close(slug: SlugPath, staff: Writer, session: SessionDep,
          request: Request) -> SurveyDetail:
    """Stop taking answers (`already_closed` 409); the results stay."""
    survey = act_close(session, staff, client_ip(request), slug)
    return detail_out(session, survey)


@router.get("/{slug}/results", response_model=ResultsOut, responses=ONE_ERRORS)
def results(slug: SlugPath, staff: Reader, session: SessionDep, runtime: RuntimeDep,
            filters: Annotated[service.Filters, Depends(result_filters)],
            texts: Annotated[TextPage, Depends(text_page)]) -> ResultsOut:
    """The live results: per question how many answered, each option's count
    and percentage, a scale's mean and distribution, and a page of the free
    texts (`text_limit`, `text_offset`). `settlement`, `channel` and
    `language` filter a named survey; an anonymous one ignores them, with a
    `note`."""
    return results_out(session, runtime.profile, find_survey(session, slug), filters, texts)


@router.get("/{slug}/results.csv", response_class=Response, responses={
    200: {"description": "CSV, UTF-8 with BOM", "content": {"text/csv": {
        "schema": {"type": "string"}}}}, **ONE_ERRORS})
def results_csv(slug: SlugPath, staff: Reader, session: SessionDep, runtime: RuntimeDep,
                request: Request,
                filters: Annotated[service.Filters, Depends(result_filters)]) -> Response:
    """One row per response, one column per question; every export is audited."""
    return export_csv(session, runtime, staff, find_survey(session, slug), filters,
                      client_ip(request))


@router.get("/{slug}/results.xlsx", response_class=Response, responses={
    200: {"description": "An Excel workbook",
          "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}}},
    **ONE_ERRORS})
def results_xlsx(slug: SlugPath, staff: Reader, session: SessionDep, runtime: RuntimeDep,
                 request: Request,
                 filters: Annotated[service.Filters, Depends(result_filters)]) -> Response:
    """The same table as the CSV, as an XLSX workbook; every export is audited."""
    return export_xlsx(session, runtime, staff, find_survey(session, slug), filters,
                       client_ip(request))
