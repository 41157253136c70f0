"""What staff do to a survey, each a change and its audit entry: define it
(a draft), replace its definition, publish it (and invite its audience),
invite later, close it. A definition's problems are one `Invalid`
(`invalid_definition`, naming every field); what the survey's state does not
allow is a `Conflict` with the service's code (`slug_taken`, `has_responses`,
`has_participants`, `survey_closed`, `not_draft`, `closes_in_past`,
`already_invited`, `not_open`, `already_closed`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db import utcnow
from bot.i18n import Catalogs
from bot.models import Survey, SurveyStatus
from bot.models.staff import StaffUser
from bot.profile import Profile
from bot.refusals import Conflict
from bot.services import surveys as service
from bot.staff import audit
from bot.staff.surveys.definition import scrub, snapshot
from bot.staff.surveys.views import find_survey


def create(session: Session, profile: Profile, staff: StaffUser, ip: str | None, data: Any,
           now: datetime | None = None) -> Survey:
    """A draft survey from its definition as sent."""
    try:
        with session.begin_nested():  # a clash on the slug undoes only this
            survey = service.create(session, profile, scrub(data), by=staff.username,
                                    now=now or utcnow())
    except IntegrityError as err:  # the same slug, made at the same moment
        raise Conflict("slug_taken", "a survey with this slug exists") from err
    audit.record(session, staff, "surveys.create", object_type="survey",
                 object_id=survey.slug, before=None, after=snapshot(survey), ip=ip)
    return survey


def update(session: Session, profile: Profile, staff: StaffUser, ip: str | None, slug: str,
           data: Any) -> Survey:
    """The whole definition replaced; the slug stays. Audited only when
    something changed."""
    survey = find_survey(session, slug)
    before = snapshot(survey)
    service.update(session, profile, survey, scrub(data))
    after = snapshot(survey)
    if after != before:
        audit.record(session, staff, "surveys.update", object_type="survey", object_id=slug,
                     before=before, after=after, ip=ip)
    return survey


def publish(session: Session, profile: Profile, catalogs: Catalogs, staff: StaffUser,
            ip: str | None, slug: str, invite: bool,
            now: datetime | None = None,
            keys: service.Keys | None = None) -> tuple[Survey, int | None]:
    """Open it for citizens and, when asked, invite its audience; how many
    were invited (None when not asked)."""
    survey = find_survey(session, slug)
    now = now or utcnow()
    service.publish(session, survey, now)
    invited = service.invite(session, profile, catalogs, survey, now, keys) if invite else None
    audit.record(session, staff, "surveys.publish", object_type="survey", object_id=slug,
                 before={"status": SurveyStatus.draft.value},
                 after={"status": survey.status.value, "invited": invited}, ip=ip)
    return survey, invited


def invite(session: Session, profile: Profile, catalogs: Catalogs, staff: StaffUser,
           ip: str | None, slug: str, now: datetime | None = None,
           keys: service.Keys | None = None) -> tuple[Survey, int]:
    """Invite the audience of a survey published without inviting it; with
    the survey `keys`, whoever answered it meanwhile is not invited."""
    survey = find_survey(session, slug)
    invited = service.invite(session, profile, catalogs, survey, now or utcnow(), keys)
    audit.record(session, staff, "surveys.invite", object_type="survey", object_id=slug,
                 after={"invited": invited}, ip=ip)
    return survey, invited


def close(session: Session, staff: StaffUser, ip: str | None, slug: str,
          now: datetime | None = None) -> Survey:
    """Stop taking answers; the results stay."""
    survey = find_survey(session, slug)
    before = survey.status.value
    service.close(session, survey, now or utcnow())
    audit.record(session, staff, "surveys.close", object_type="survey", object_id=slug,
                 before={"status": before}, after={"status": survey.status.value}, ip=ip)
    return survey
