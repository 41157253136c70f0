"""What staff see of surveys: the read shapes the API returns and the pages
render, the filters (one model each for the list and for the results, used
by the API's query parameters and the pages' filter forms alike), the list,
one survey, and the live results — counts and percentages per option, a
scale's mean and distribution, the free texts page by page, filtered by
settlement, channel and language where the survey is not anonymous."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.db import utcnow
from bot.models import Survey, SurveyParticipant, SurveyResponse, SurveyStatus
from bot.profile import Profile
from bot.services import surveys as service
from bot.staff.citizens import CHANNELS, Channel
from bot.staff.query import PageWindow, check_choice, matching, one, paginate, sorted_by

TEXTS_PER_PAGE = 50
SORTS = ("created_at", "slug")
QuestionType = Literal["single", "multiple", "scale", "text"]


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
    """One page of a text question's answers: a named survey's in the order
    they came, an anonymous one's in an order that does not follow arrival."""

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


# --- filters ----------------------------------------------------------------------

class SurveyFilters(BaseModel):
    """The list's filter."""

    status: SurveyStatus | None = None


class ResultFilters(BaseModel):
    """Ignored (with a note) for an anonymous survey, whose responses hold none of these."""

    settlement: str | None = Field(None, max_length=32,
                                   description="A settlement code or `abroad`")
    channel: Channel | None = Field(None, description="The app the response came from")
    language: str | None = Field(None, max_length=16, description="The citizen's language")


@dataclass(frozen=True)
class TextPage:
    """Which of a text question's answers to show."""

    limit: int = TEXTS_PER_PAGE
    offset: int = 0


def check_filters(profile: Profile, filters: ResultFilters) -> None:
    """Unknown codes are 422 `invalid_filter`, even where an anonymous survey ignores them."""
    check_choice("settlement", filters.settlement, profile.settlement_codes())
    check_choice("channel", filters.channel, CHANNELS)
    check_choice("language", filters.language, profile.enabled_locales)


def filters_note(survey: Survey, filters: ResultFilters) -> str | None:
    if survey.anonymous and any(filters.model_dump().values()):
        return ("the survey is anonymous: its responses hold no settlement, channel or "
                "language, so the filters were ignored")
    return None


# --- the list and one survey ----------------------------------------------------------

def find_survey(session: Session, slug: str) -> Survey:
    return one(session, select(Survey).where(Survey.slug == slug), f"no survey {slug}")


def list_surveys(session: Session, filters: SurveyFilters,
                 page: PageWindow) -> tuple[list[Survey], int]:
    """Newest first."""
    stmt = matching(select(Survey), (Survey.status, filters.status))
    stmt = sorted_by(stmt, page.sort, {"created_at": Survey.created_at, "slug": Survey.slug},
                     default=[Survey.created_at.desc(), Survey.id.desc()])
    return paginate(session, stmt, page)


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


def published_out(session: Session, survey: Survey, invited: int | None) -> PublishedOut:
    return PublishedOut(**detail_out(session, survey).model_dump(), invited=invited)


# --- results --------------------------------------------------------------------------

def results_out(session: Session, profile: Profile, survey: Survey,
                filters: ResultFilters, texts: TextPage) -> ResultsOut:
    check_filters(profile, filters)
    started, completed, found = service.results(session, survey, filters.model_dump())
    required = {q["key"]: bool(q["required"]) for q in survey.questions}
    shown = AppliedFilters() if survey.anonymous else AppliedFilters(**filters.model_dump())
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
