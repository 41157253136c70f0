"""Surveys' staff use-cases without HTTP: a definition stored whole or
refused whole (422), the state rules as conflicts (409), every change and
export with its audit entry, and the results' filters — applied to a named
survey, ignored (with a note) by an anonymous one, unknown codes refused."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import Database, utcnow
from bot.i18n import Catalogs
from bot.models import Citizen, OutboxMessage, Survey, SurveyStatus
from bot.models.staff import AuditEntry, StaffUser
from bot.profile import get_profile
from bot.refusals import Conflict, Invalid, NotFound
from bot.services import surveys as service
from bot.staff import accounts
from bot.staff.query import PageWindow
from bot.staff.surveys import actions, export, views
from bot.staff.surveys.views import ResultFilters, SurveyFilters, TextPage
from tests.factories import make_citizen, make_staff
from tests.handlers.test_surveys import definition, tr

PROFILE = get_profile()
CATALOGS = Catalogs(PROFILE.enabled_locales)
KEYS = service.Keys(survey="test-survey-key-0123456789abcdef",
                    legacy="test-secret-key-0123456789abcdef")
IP = "192.0.2.7"


def officer(session: Session, username: str = "info1") -> StaffUser:
    found = accounts.find(session, username)
    assert found is not None
    return found


def entries(session: Session, action: str) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)
                                .order_by(AuditEntry.id)))


def answer(session: Session, survey: Survey, citizen_id: int, channel: str,
           answers: dict[str, Any]) -> None:
    citizen = session.get(Citizen, citizen_id)
    assert citizen is not None
    service.finish(session, survey, KEYS, citizen, channel, answers, utcnow())


def test_a_definition_is_stored_whole_with_its_audit_entry_or_refused_whole(
        db: Database) -> None:
    make_staff(db, "info1", "info_office")
    with db.session() as session:
        staff = officer(session)
        survey = actions.create(session, PROFILE, staff, IP,
                                definition(title=tr("Citizens'\x07 survey")))
        assert survey.status is SurveyStatus.draft and survey.created_by == "info1"
        assert survey.title["en"] == "Citizens' survey"  # control characters scrubbed

        with pytest.raises(Invalid) as invalid:
            actions.create(session, PROFILE, staff, IP,
                           definition(slug="other", title={"en": "English only"}))
        assert invalid.value.status == 422 and invalid.value.code == "invalid_definition"
        assert [e["field"] for e in invalid.value.extra["errors"]] == ["title"]

        with pytest.raises(Conflict) as taken:
            actions.create(session, PROFILE, staff, IP, definition())
        assert taken.value.status == 409 and taken.value.code == "slug_taken"
    with db.read_session() as session:
        assert [s.slug for s in session.scalars(select(Survey))] == ["citizens-2026"]
        [created] = entries(session, "surveys.create")
        assert created.username == "info1" and created.ip == IP
        assert created.after is not None and created.after["status"] == "draft"
        assert created.after["slug"] == "citizens-2026" and created.before is None


def test_questions_freeze_once_someone_started_and_no_change_is_not_audited(
        db: Database) -> None:
    make_staff(db, "info1", "info_office")
    citizen = make_citizen(db, external_id="31", language="en")
    with db.session() as session:
        staff = officer(session)
        survey = actions.create(session, PROFILE, staff, IP, definition())
        actions.publish(session, PROFILE, CATALOGS, staff, IP, survey.slug, invite=False)
        person = session.get(Citizen, citizen)
        assert person is not None
        service.start(session, survey, KEYS, person, utcnow())

        fewer = definition()
        fewer["questions"] = fewer["questions"][:2]
        with pytest.raises(Conflict) as started:
            actions.update(session, PROFILE, staff, IP, survey.slug, fewer)
        assert started.value.code == "has_participants"
        assert len(survey.questions) == 4

        actions.update(session, PROFILE, staff, IP, survey.slug, definition())
        assert entries(session, "surveys.update") == []  # nothing changed
        actions.update(session, PROFILE, staff, IP, survey.slug,
                       definition(title=tr("New title")))
        [changed] = entries(session, "surveys.update")
        assert changed.before is not None and changed.after is not None
        assert changed.before["title"]["en"] == "Citizens' survey"
        assert changed.after["title"]["en"] == "New title"


def test_publishing_invites_the_audience_once_and_closing_is_final(db: Database) -> None:
    make_staff(db, "info1", "info_office")
    make_citizen(db, external_id="41", language="en", settlement="klokot")
    make_citizen(db, external_id="42", language="sq", settlement="vrbovac")
    with db.session() as session:
        staff = officer(session)
        actions.create(session, PROFILE, staff, IP, definition())
        survey, invited = actions.publish(session, PROFILE, CATALOGS, staff, IP,
                                          "citizens-2026", invite=True)
        assert survey.status is SurveyStatus.open and invited == 2
        assert len(session.scalars(select(OutboxMessage)).all()) == 2
        [published] = entries(session, "surveys.publish")
        assert published.after == {"status": "open", "invited": 2}

        for refused, code in ((lambda: actions.invite(session, PROFILE, CATALOGS, staff, IP,
                                                       "citizens-2026"), "already_invited"),
                              (lambda: actions.publish(session, PROFILE, CATALOGS, staff, IP,
                                                       "citizens-2026", False), "not_draft")):
            with pytest.raises(Conflict) as conflict:
                refused()
            assert conflict.value.code == code

        assert actions.close(session, staff, IP, "citizens-2026").status is SurveyStatus.closed
        with pytest.raises(Conflict) as closed:
            actions.close(session, staff, IP, "citizens-2026")
        assert closed.value.code == "already_closed"
        with pytest.raises(NotFound):
            actions.close(session, staff, IP, "no-such-survey")
        assert [e.after for e in entries(session, "surveys.close")] == [{"status": "closed"}]


def test_a_named_survey_filters_its_results_and_exports(db: Database) -> None:
    make_staff(db, "viewer1", "viewer")
    people = [(make_citizen(db, external_id="51", language="en", settlement="klokot"),
               "telegram"),
              (make_citizen(db, external_id="52", language="sq", settlement="vrbovac"),
               "viber"),
              (make_citizen(db, external_id="53", language="en", settlement="klokot"), "viber")]
    with db.session() as session:
        survey = service.create(session, PROFILE, definition(anonymous=False), by="info1",
                                now=utcnow())
        service.publish(session, survey, utcnow())
        for number, (citizen, channel) in enumerate(people):
            answer(session, survey, citizen, channel, {
                "satisfaction": number + 1, "channel": "web", "topics": ["roads", "jobs"],
                "comment": f"=SUM(A{number})"})
    with db.session() as session:
        staff = officer(session, "viewer1")
        survey = views.find_survey(session, "citizens-2026")
        viber = ResultFilters(channel="viber")
        results = views.results_out(session, PROFILE, survey, viber, TextPage(limit=1))
        assert results.completed == 2 and results.note is None
        assert results.filters.channel == "viber"
        comment = results.questions[3].texts
        assert comment is not None and comment.total == 2 and comment.items == ["=SUM(A1)"]

        with pytest.raises(Invalid) as unknown:
            views.results_out(session, PROFILE, survey, ResultFilters(settlement="belgrade"),
                              TextPage())
        assert unknown.value.code == "invalid_filter"

        rows = list(csv.reader(io.StringIO(export.export(
            session, PROFILE, staff, survey, viber, "csv", IP).decode("utf-8-sig"))))
        assert rows[0] == ["response", "completed_on", "channel", "language", "settlement",
                           "satisfaction", "channel", "topics", "comment"]
        assert [row[2:5] for row in rows[1:]] == [["viber", "sq", "vrbovac"],
                                                  ["viber", "en", "klokot"]]
        assert rows[1][7:] == ["roads;jobs", "'=SUM(A1)"]  # never run as a formula
        book = load_workbook(io.BytesIO(export.export(
            session, PROFILE, staff, survey, ResultFilters(), "xlsx", IP)))
        sheet = book[survey.slug]
        assert sheet.max_row == 4 and sheet["I2"].value == "'=SUM(A0)"
        assert [e.detail for e in entries(session, "surveys.export")] == [
            "csv, 2 rows, filters {'channel': 'viber'}", "xlsx, 3 rows"]


def test_an_anonymous_survey_ignores_the_filters_with_a_note(db: Database) -> None:
    citizen = make_citizen(db, external_id="61", language="en", settlement="klokot")
    with db.session() as session:
        survey = service.create(session, PROFILE, definition(), by="info1", now=utcnow())
        service.publish(session, survey, utcnow())
        answer(session, survey, citizen, "telegram", {"satisfaction": 5, "channel": "radio"})
    with db.read_session() as session:
        survey = views.find_survey(session, "citizens-2026")
        results = views.results_out(session, PROFILE, survey,
                                    ResultFilters(channel="viber", language="sq"), TextPage())
        assert results.completed == 1 and results.note and "anonymous" in results.note
        assert results.filters.model_dump() == {"settlement": None, "channel": None,
                                                "language": None}
        scale = results.questions[0]
        assert scale.mean == 5.0 and scale.distribution == {"1": 0, "2": 0, "3": 0, "4": 0,
                                                            "5": 1}


def test_the_list_filters_by_status_newest_first(db: Database) -> None:
    with db.session() as session:
        for slug in ("first", "second", "third"):
            service.create(session, PROFILE, definition(slug=slug), by="info1", now=utcnow())
        service.publish(session, views.find_survey(session, "second"), utcnow())
    with db.read_session() as session:
        drafts, total = views.list_surveys(session, SurveyFilters(status=SurveyStatus.draft),
                                           PageWindow(limit=10))
        assert total == 2 and {s.slug for s in drafts} == {"first", "third"}
        everything, total = views.list_surveys(session, SurveyFilters(),
                                               PageWindow(limit=10, sort="slug"))
        assert total == 3 and [s.slug for s in everything] == ["first", "second", "third"]
        [second] = views.list_out(session, [s for s in everything if s.slug == "second"])
        assert second.status is SurveyStatus.open and second.running


def test_anonymity_is_fixed_once_the_survey_is_published(db: Database) -> None:
    """Switching `anonymous` off on an open survey stored the next answers with
    the citizen, app and language (security review, item 13)."""
    make_staff(db, "info1", "info_office")
    with db.session() as session:
        staff = officer(session)
        survey = actions.create(session, PROFILE, staff, IP, definition())
        assert survey.anonymous
        named = {**definition(), "anonymous": False}
        actions.update(session, PROFILE, staff, IP, survey.slug, named)  # a draft may change
        assert not survey.anonymous
        actions.update(session, PROFILE, staff, IP, survey.slug, definition())
        actions.publish(session, PROFILE, CATALOGS, staff, IP, survey.slug, invite=False)
        with pytest.raises(Conflict) as fixed:
            actions.update(session, PROFILE, staff, IP, survey.slug, named)
        assert fixed.value.code == "anonymity_fixed" and survey.anonymous
