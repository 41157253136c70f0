"""Surveys (SPEC §3.5): a definition staff write once in every language, who
took part (known by keyed hashes of their accounts), and the finished
responses."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, String, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, utcnow


class SurveyStatus(enum.StrEnum):
    draft = "draft"
    open = "open"
    closed = "closed"


class Survey(Base):
    """A survey and its questions (the JSON shape of the staff API).

    Lifecycle: `draft` (questions may change) → `open` (published: citizens
    in its audience can take it between `opens_at` and `closes_at`) →
    `closed` (by staff, or when `closes_at` passed). Once a response exists
    the questions are frozen.
    """

    __tablename__ = "survey"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[dict[str, str]] = mapped_column(JSON)
    anonymous: Mapped[bool] = mapped_column(default=True)
    opens_at: Mapped[datetime | None]
    closes_at: Mapped[datetime | None]
    audience: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    status: Mapped[SurveyStatus] = mapped_column(
        Enum(SurveyStatus, native_enum=False, length=16), default=SurveyStatus.draft,
        index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    invited_at: Mapped[datetime | None]


class SurveyParticipant(Base):
    """That a person started (and maybe finished) a survey. Who it is, only
    its markers (`SurveyMarker`) can tell, and only to whoever holds the
    survey key; it is never linked to a response.

    Lifecycle: made when the person starts, with a marker for each of their
    accounts; `completed` once their answers became a response. `token` is
    what participations made before the markers were known by,
    HMAC(SECRET_KEY, survey and citizen id); none since."""

    __tablename__ = "survey_participant"
    __table_args__ = (UniqueConstraint("survey_id", "token"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("survey.id", ondelete="CASCADE"),
                                           index=True)
    token: Mapped[str | None] = mapped_column(String(64))
    started_on: Mapped[date]
    completed: Mapped[bool] = mapped_column(default=False)


class SurveyMarker(Base):
    """One channel account of a person who took part in a survey, as a keyed
    hash: HMAC(SURVEY_KEY, survey, channel and the platform's user id). It
    depends on nothing the citizen row holds, so linking, `/link off`,
    `/forget` and a new SECRET_KEY leave it in place: any account of the
    person already marked for a finished participation means "already
    answered". Written once, never changed; goes with its survey."""

    __tablename__ = "survey_marker"
    __table_args__ = (UniqueConstraint("survey_id", "marker"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("survey.id", ondelete="CASCADE"))
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("survey_participant.id", ondelete="CASCADE"), index=True)
    marker: Mapped[str] = mapped_column(String(64))


class SurveyResponse(Base):
    """One finished set of answers, `{question key: answer}` (an option key,
    a list of option keys, a number or a text). For an anonymous survey the
    row holds no citizen, channel, language or settlement, and the date but
    not the time, and its id is drawn at random (ids in turn would tell the
    order the answers came in).

    Lifecycle of an anonymous one: written, `mixed` false, in the
    transaction that records the citizen's message and queues their
    thank-you (on PostgreSQL these rows all carry that transaction's id,
    `xmin`); within minutes the timer deletes and rewrites all of that day's
    responses of the survey together, shuffled, with new random ids — one
    transaction, an order that says nothing of their arrival, nothing shared
    with any chat's rows."""

    __tablename__ = "survey_response"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("survey.id", ondelete="CASCADE"),
                                           index=True)
    citizen_id: Mapped[int | None] = mapped_column(ForeignKey("citizen.id"), index=True)
    channel: Mapped[str | None] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(16))
    settlement: Mapped[str | None] = mapped_column(String(32))
    completed_on: Mapped[date]
    completed_at: Mapped[datetime | None]
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    # False for an anonymous response until the timer rewrote its day's
    # responses together, in random order (`bot.services.surveys.mix_anonymous`).
    mixed: Mapped[bool] = mapped_column(default=True, server_default=true())
