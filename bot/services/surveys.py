"""Surveys (SPEC §3.5): checking a definition, who may take a survey, one
answer per person (keyed hashes of their accounts, whatever happens to their
citizen row), finishing a response, invitations, and the results staff see
(their shapes and exports are `bot.staff.surveys`)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from bot.db import insert_for
from bot.i18n import Catalogs
from bot.messages import BUTTON_CHARS, Button, Reply
from bot.models import (
    ChannelAccount,
    Citizen,
    OutboxMessage,
    Survey,
    SurveyMarker,
    SurveyParticipant,
    SurveyResponse,
    SurveyStatus,
)
from bot.outbox.queue import Purpose, wake_sender
from bot.profile import ABROAD, Profile
from bot.refusals import Conflict, Invalid

SLUG = re.compile(r"^[a-z0-9-]{1,32}$")
KEY = re.compile(r"^[a-z0-9_]{1,24}$")
TYPES = ("single", "multiple", "scale", "text")
FILTERABLE = ("settlement", "channel", "language")  # what a named response holds
TEXT_MAX = 2000
QUESTIONS_MAX = 40
OPTIONS_MAX = 12
TITLE_MAX, QUESTION_TEXT_MAX = 200, 1000
# An option is a button on the phone, after its tick ("▫️ " or "✅ "): longer
# ones would be cut on the citizen's screen, so staff are told when they write it.
OPTION_TEXT_MAX = BUTTON_CHARS - 3
# Anonymous responses' ids: at random in [2**30, 2**31) — a 32-bit key, far
# above what the sequence of named responses will reach.
RANDOM_IDS_FROM, RANDOM_IDS_SPAN = 2**30, 2**30 - 1


def field_loc(field: str) -> list[str | int]:
    """`questions[4].options[1].key` → ["body", "questions", 4, "options", 1, "key"]."""
    loc: list[str | int] = ["body"]
    for part in field.split("."):
        if not part:
            continue
        name, *indexes = re.split(r"\[(\d+)\]", part)
        if name:
            loc.append(name)
        loc.extend(int(i) for i in indexes if i)
    return loc


class SurveyInvalid(Invalid):
    """A definition with problems; `problems` lists (field, message) pairs,
    every one of them named in the answer."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        listed = "; ".join(f"{f or 'body'}: {m}" for f, m in problems)
        super().__init__("invalid_definition",
                         f"the survey definition has {len(problems)} problem(s): {listed}"[:4000],
                         errors=[{"loc": field_loc(f), "field": f or "body", "msg": m}
                                 for f, m in problems])
        self.problems = problems


# --- definitions ---------------------------------------------------------------

def _check_key(key: Any, where: str, seen: set[str], problems: list[tuple[str, str]]) -> None:
    """A question's or an option's key: the right form, and once per list."""
    if not isinstance(key, str) or not KEY.match(key):
        problems.append((f"{where}.key", "must match ^[a-z0-9_]{1,24}$"))
    elif key in seen:
        problems.append((f"{where}.key", f"duplicate key {key!r}"))
    else:
        seen.add(key)


def _texts(value: Any, where: str, locales: tuple[str, ...], limit: int,
           problems: list[tuple[str, str]], why: str = "") -> dict[str, str]:
    if not isinstance(value, dict):
        problems.append((where, "must be an object with a text per locale"))
        return {}
    missing = [loc for loc in locales
               if not isinstance(value.get(loc), str) or not value[loc].strip()]
    if missing:
        problems.append((where, f"missing translation: {', '.join(missing)}"))
    unknown = sorted(k for k in value if k not in locales)
    if unknown:
        problems.append((where, f"unknown locale: {', '.join(map(str, unknown))}"))
    long = [loc for loc in locales if isinstance(value.get(loc), str)
            and len(value[loc]) > limit]
    if long:
        problems.append((where, f"over {limit} characters{why}: {', '.join(long)}"))
    return {loc: str(value.get(loc, "")).strip() for loc in locales}


def _moment(value: Any, where: str, problems: list[tuple[str, str]]) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        problems.append((where, "must be an ISO 8601 date and time"))
        return None
    if moment.tzinfo is None:
        problems.append((where, "must carry its UTC offset, e.g. +01:00"))
        return None
    try:
        moment.astimezone(UTC)  # year 1 or 9999 near the edge has no UTC time
    except OverflowError:
        problems.append((where, "out of range"))
        return None
    return moment


def check_definition(profile: Profile, data: Any) -> dict[str, Any]:
    """The definition cleaned for storage; SurveyInvalid lists every problem."""
    problems: list[tuple[str, str]] = []
    locales = profile.enabled_locales
    if not isinstance(data, dict):
        raise SurveyInvalid([("", "the definition must be a JSON object")])
    slug = data.get("slug")
    if not isinstance(slug, str) or not SLUG.match(slug):
        problems.append(("slug", "must match ^[a-z0-9-]{1,32}$"))
    title = _texts(data.get("title"), "title", locales, TITLE_MAX, problems)
    anonymous = data.get("anonymous", True)
    if not isinstance(anonymous, bool):
        problems.append(("anonymous", "must be true or false"))
    opens_at = _moment(data.get("opens_at"), "opens_at", problems)
    closes_at = _moment(data.get("closes_at"), "closes_at", problems)
    if opens_at and closes_at and closes_at <= opens_at:
        problems.append(("closes_at", "must be after opens_at"))
    audience = data.get("audience")
    if audience is not None:
        if not isinstance(audience, dict) or set(audience) - {"settlements", "diaspora"}:
            problems.append(("audience", "may hold only settlements and diaspora"))
            audience = None
        else:
            settlements = audience.get("settlements")
            known = {s.code for s in profile.settlements}
            if settlements is not None and (
                    not isinstance(settlements, list) or not settlements
                    or any(not isinstance(code, str) or code not in known
                           for code in settlements)):
                problems.append(("audience.settlements",
                                 f"a non-empty list of: {', '.join(sorted(known))}"))
            if audience.get("diaspora") not in (None, True, False):
                problems.append(("audience.diaspora", "must be true, false or null"))
    questions = data.get("questions")
    cleaned: list[dict[str, Any]] = []
    if not isinstance(questions, list) or not questions:
        problems.append(("questions", "at least one question"))
        questions = []
    if len(questions) > QUESTIONS_MAX:
        problems.append(("questions", f"at most {QUESTIONS_MAX}"))
    seen: set[str] = set()
    for index, question in enumerate(questions[:QUESTIONS_MAX]):
        where = f"questions[{index}]"
        if not isinstance(question, dict):
            problems.append((where, "must be an object"))
            continue
        key = question.get("key")
        _check_key(key, where, seen, problems)
        kind = question.get("type")
        if kind not in TYPES:
            problems.append((f"{where}.type", f"unknown type {kind!r}; one of {', '.join(TYPES)}"))
        required = question.get("required", False)
        if not isinstance(required, bool):
            problems.append((f"{where}.required", "must be true or false"))
        item: dict[str, Any] = {
            "key": key, "type": kind, "required": bool(required),
            "text": _texts(question.get("text"), f"{where}.text", locales,
                           QUESTION_TEXT_MAX, problems)}
        if kind == "scale":
            low, high = question.get("min", 1), question.get("max", 5)
            if not isinstance(low, int) or not isinstance(high, int) or low >= high:
                problems.append((f"{where}.min", "min and max are whole numbers, min < max"))
            elif high - low > 10:
                problems.append((f"{where}.max", "a scale has at most 11 points"))
            item.update(min=low, max=high)
        if kind in ("single", "multiple"):
            options = question.get("options")
            if not isinstance(options, list) or not options:
                problems.append((f"{where}.options", "a choice question needs options"))
                options = []
            if len(options) > OPTIONS_MAX:
                problems.append((f"{where}.options", f"at most {OPTIONS_MAX}"))
            option_keys: set[str] = set()
            item["options"] = []
            for o_index, option in enumerate(options[:OPTIONS_MAX]):
                o_where = f"{where}.options[{o_index}]"
                o_key = option.get("key") if isinstance(option, dict) else None
                _check_key(o_key, o_where, option_keys, problems)
                item["options"].append({"key": o_key, "text": _texts(
                    option.get("text") if isinstance(option, dict) else None,
                    f"{o_where}.text", locales, OPTION_TEXT_MAX, problems,
                    " (an option is a button on the phone)")})
        if kind == "multiple":
            most = question.get("max_choices", len(item["options"]))
            if not isinstance(most, int) or not 1 <= most <= max(1, len(item["options"])):
                problems.append((f"{where}.max_choices",
                                 "between 1 and the number of options"))
            item["max_choices"] = most
        cleaned.append(item)
    if problems:
        raise SurveyInvalid(problems)
    return {"slug": slug, "title": title, "anonymous": anonymous, "opens_at": opens_at,
            "closes_at": closes_at, "audience": audience, "questions": cleaned}


def create(session: Session, profile: Profile, data: Any, *, by: str,
           now: datetime) -> Survey:
    definition = check_definition(profile, data)
    if session.scalar(select(Survey.id).where(Survey.slug == definition["slug"])):
        raise Conflict("slug_taken", f"a survey {definition['slug']!r} exists")
    survey = Survey(**definition, status=SurveyStatus.draft, created_by=by, created_at=now)
    session.add(survey)
    session.flush()
    return survey


def has_responses(session: Session, survey: Survey) -> bool:
    return session.scalar(select(SurveyResponse.id).where(
        SurveyResponse.survey_id == survey.id).limit(1)) is not None


def has_participants(session: Session, survey: Survey) -> bool:
    return session.scalar(select(SurveyParticipant.id).where(
        SurveyParticipant.survey_id == survey.id).limit(1)) is not None


def update(session: Session, profile: Profile, survey: Survey, data: Any) -> None:
    """Replace the definition; the slug stays. Anonymity is fixed once the
    survey is published; the questions freeze at the first answer — and
    already once someone started (answers in progress are kept in their
    conversation by question number)."""
    definition = check_definition(profile, {**(data if isinstance(data, dict) else {}),
                                            "slug": survey.slug})
    if survey.status is SurveyStatus.closed:
        raise Conflict("survey_closed", "a closed survey cannot change")
    if survey.status is not SurveyStatus.draft and definition["anonymous"] != survey.anonymous:
        # Citizens answered under the promise they were given; it cannot change under them.
        raise Conflict("anonymity_fixed",
                       "whether a survey is anonymous is fixed once it is published")
    if definition["questions"] != survey.questions:
        if has_responses(session, survey):
            raise Conflict("has_responses", "questions cannot change once people answered")
        if has_participants(session, survey):
            raise Conflict("has_participants",
                           "questions cannot change once citizens started answering")
    for name, value in definition.items():
        if name != "slug":
            setattr(survey, name, value)


def publish(session: Session, survey: Survey, now: datetime) -> None:
    if survey.status is not SurveyStatus.draft:
        raise Conflict("not_draft", f"the survey is {survey.status.value}")
    if survey.closes_at and survey.closes_at <= now:
        raise Conflict("closes_in_past", "closes_at has passed")
    survey.status, survey.published_at = SurveyStatus.open, now


def close(session: Session, survey: Survey, now: datetime) -> None:
    if survey.status is SurveyStatus.closed:
        raise Conflict("already_closed", "the survey is closed")
    survey.status, survey.closed_at = SurveyStatus.closed, now


def close_expired(session: Session, now: datetime) -> int:
    expired = session.scalars(select(Survey).where(
        Survey.status == SurveyStatus.open, Survey.closes_at.is_not(None),
        Survey.closes_at <= now)).all()
    for survey in expired:
        survey.status, survey.closed_at = SurveyStatus.closed, survey.closes_at
    return len(expired)


# --- taking a survey -------------------------------------------------------------

@dataclass(frozen=True)
class Keys:
    """What recognises a person whatever happens to their citizen row: the
    survey key of the markers (SURVEY_KEY), and the secret key that the
    participations made before the markers were known by."""

    survey: str
    legacy: str | None = None


def marker(key: str, survey: Survey, account: ChannelAccount) -> str:
    """One-way: the same account (channel and platform user id) gets the same
    marker, whichever citizen it belongs to; nobody can go back without the key."""
    return hmac.new(key.encode(),
                    f"survey:{survey.id}:{account.channel}:{account.external_id}".encode(),
                    hashlib.sha256).hexdigest()


def token(secret: str, survey: Survey, citizen_id: int) -> str:
    """The one-way token of a participation made before the markers."""
    return hmac.new(secret.encode(), f"survey:{survey.id}:citizen:{citizen_id}".encode(),
                    hashlib.sha256).hexdigest()


def is_running(survey: Survey, now: datetime) -> bool:
    return (survey.status is SurveyStatus.open
            and (survey.opens_at is None or survey.opens_at <= now)
            and (survey.closes_at is None or now < survey.closes_at))


def in_audience(survey: Survey, citizen: Citizen) -> bool:
    """No audience, or no restriction: everyone; settlements and diaspora
    together mean either group."""
    audience = survey.audience or {}
    settlements, diaspora = audience.get("settlements"), audience.get("diaspora")
    if settlements is None and diaspora is None:
        return True
    if diaspora is False and citizen.settlement == ABROAD:
        return False
    if settlements is None:
        return diaspora is False or citizen.settlement == ABROAD
    return citizen.settlement in settlements or (diaspora is True
                                                  and citizen.settlement == ABROAD)


def participant(session: Session, survey: Survey, keys: Keys,
                citizen: Citizen) -> SurveyParticipant | None:
    """The person's participation, found through any of their accounts (a
    finished one first). Their accounts not marked yet are marked for it: an
    app refused while linked stays refused after `/link off`."""
    markers = {marker(keys.survey, survey, account) for account in citizen.accounts}
    marked = dict(session.execute(select(SurveyMarker.marker, SurveyMarker.participant_id).where(
        SurveyMarker.survey_id == survey.id, SurveyMarker.marker.in_(markers))).tuples().all())
    ids = set(marked.values())
    if keys.legacy is not None:
        ids.update(session.scalars(select(SurveyParticipant.id).where(
            SurveyParticipant.survey_id == survey.id,
            SurveyParticipant.token == token(keys.legacy, survey, citizen.id))))
    if not ids:
        return None
    found = session.scalars(select(SurveyParticipant).where(SurveyParticipant.id.in_(ids))
                            .order_by(SurveyParticipant.id)).all()
    chosen = next((entry for entry in found if entry.completed), found[0])
    _mark(session, survey, chosen, markers - set(marked))
    return chosen


def _mark(session: Session, survey: Survey, entry: SurveyParticipant,
          markers: set[str]) -> None:
    if markers:  # another app of the person may mark the same at the same time
        session.execute(insert_for(session)(SurveyMarker).values(
            [{"survey_id": survey.id, "participant_id": entry.id, "marker": m}
             for m in sorted(markers)]).on_conflict_do_nothing())


def start(session: Session, survey: Survey, keys: Keys, citizen: Citizen,
          now: datetime) -> SurveyParticipant:
    found = participant(session, survey, keys, citizen)
    if found is None:
        found = SurveyParticipant(survey_id=survey.id, started_on=now.date())
        session.add(found)
        session.flush()
        _mark(session, survey, found,
              {marker(keys.survey, survey, account) for account in citizen.accounts})
    return found


def finish(session: Session, survey: Survey, keys: Keys, citizen: Citizen, channel: str,
           answers: dict[str, Any], now: datetime) -> SurveyResponse | None:
    """The answers become a response, once per person; None if any of their
    accounts already answered (from the other app, before a `/link` or a
    `/link off`, before `/forget`)."""
    started = start(session, survey, keys, citizen, now)
    # Locked: the person's other app may be finishing the same participation.
    entry = session.scalars(select(SurveyParticipant).where(
        SurveyParticipant.id == started.id).with_for_update()
        .execution_options(populate_existing=True)).one()
    if entry.completed:
        return None
    entry.completed = True
    anonymous = survey.anonymous
    response = SurveyResponse(
        survey_id=survey.id, citizen_id=None if anonymous else citizen.id,
        channel=None if anonymous else channel,
        language=None if anonymous else citizen.language,
        settlement=None if anonymous else citizen.settlement,
        completed_on=now.date(), completed_at=None if anonymous else now, answers=answers)
    if anonymous:
        response.id, response.mixed = unordered_id(session), False
    session.add(response)
    return response


def mix_anonymous(session: Session) -> int:
    """Rewrite each day's anonymous responses of a survey that has new ones
    since the last run, all together in random order with new random ids:
    a response written in the citizen's own transaction shares that
    transaction's traces with the record of their message and their
    thank-you (PostgreSQL's `xmin`, the heap order a dump keeps); rewritten,
    the day's answers share them with each other only. Returns how many
    rows were rewritten."""
    groups = session.execute(select(SurveyResponse.survey_id, SurveyResponse.completed_on)
                             .where(SurveyResponse.mixed.is_(False)).distinct()).all()
    rewritten = 0
    shuffler = secrets.SystemRandom()
    for survey_id, day in groups:
        rows = session.scalars(select(SurveyResponse).where(
            SurveyResponse.survey_id == survey_id, SurveyResponse.completed_on == day)
            .with_for_update()).all()
        answers = [row.answers for row in rows]
        for row in rows:
            session.delete(row)
        session.flush()
        shuffler.shuffle(answers)
        fresh: list[dict[str, Any]] = []
        drawn: set[int] = set()
        for given in answers:
            candidate = unordered_id(session)
            while candidate in drawn:
                candidate = unordered_id(session)
            drawn.add(candidate)
            fresh.append({"id": candidate, "survey_id": survey_id, "completed_on": day,
                          "answers": given, "mixed": True})
        session.execute(insert(SurveyResponse), fresh)
        rewritten += len(fresh)
    return rewritten


def unordered_id(session: Session) -> int:
    """A free row id drawn at random, for an anonymous response: ids handed out
    in turn would say in which order the answers came, and so — beside the
    thank-you in each chat's outbox — whose answer is whose (#13, item 12).
    Drawn above the ids a sequence hands out."""
    while True:
        candidate = RANDOM_IDS_FROM + secrets.randbelow(RANDOM_IDS_SPAN)
        if session.get(SurveyResponse, candidate) is None:
            return candidate


def available(session: Session, keys: Keys, citizen: Citizen,
              now: datetime) -> list[tuple[Survey, bool]]:
    """The running surveys this citizen may take, with whether they finished it."""
    result = []
    for survey in session.scalars(select(Survey).where(Survey.status == SurveyStatus.open)
                                  .order_by(Survey.id)):
        if is_running(survey, now) and in_audience(survey, citizen):
            entry = participant(session, survey, keys, citizen)
            result.append((survey, bool(entry and entry.completed)))
    return result


# --- invitations -----------------------------------------------------------------

def answered_by(session: Session, survey: Survey, keys: Keys,
                accounts: dict[int, list[ChannelAccount]]) -> set[int]:
    """The citizens (of `accounts`: citizen id → their accounts) who finished
    this survey from any of their apps — through the markers, or the tokens
    of participations made before them."""
    by_marker = {marker(keys.survey, survey, account): citizen_id
                 for citizen_id, owned in accounts.items() for account in owned}
    done = select(SurveyParticipant.id).where(SurveyParticipant.survey_id == survey.id,
                                              SurveyParticipant.completed.is_(True))
    found: set[int] = set()
    if by_marker:
        found.update(by_marker[m] for m in session.scalars(
            select(SurveyMarker.marker).where(SurveyMarker.survey_id == survey.id,
                                              SurveyMarker.participant_id.in_(done))))
    if keys.legacy is not None:
        by_token = {token(keys.legacy, survey, citizen_id): citizen_id for citizen_id in accounts}
        found.update(by_token[t] for t in session.scalars(
            select(SurveyParticipant.token).where(
                SurveyParticipant.survey_id == survey.id,
                SurveyParticipant.completed.is_(True), SurveyParticipant.token.is_not(None)))
            if t in by_token)
    return found


def invite(session: Session, profile: Profile, catalogs: Catalogs, survey: Survey,
           now: datetime, keys: Keys | None = None) -> int:
    """A message with a button that opens the survey, to everyone in its
    audience on one channel, in their language; Viber only where the bot may
    start a conversation. Once per survey; with the survey `keys`, not to
    whoever answered it already (it was open before the invitation)."""
    from bot.services.notices import _pick_account, bulk_row, waiting_account

    if survey.invited_at is not None:
        raise Conflict("already_invited", "the audience was invited already")
    if survey.status is not SurveyStatus.open:
        raise Conflict("not_open", "only an open survey can be sent out")
    survey.invited_at = now
    citizens = session.scalars(select(Citizen).where(Citizen.erased_at.is_(None),
                                                     Citizen.language.is_not(None))).all()
    accounts: dict[int, list[ChannelAccount]] = {}
    for found in session.scalars(select(ChannelAccount)):
        accounts.setdefault(found.citizen_id, []).append(found)
    answered = answered_by(session, survey, keys, accounts) if keys is not None else set()
    bodies: dict[str, dict[str, Any]] = {}
    rows = []
    for citizen in citizens:
        if not in_audience(survey, citizen) or citizen.id in answered:
            continue
        account, unreachable = _pick_account(citizen, accounts.get(citizen.id, []), profile,
                                             now)
        hold = unreachable == "no_channel"  # Viber outside the session: waits for them
        if hold:
            account = waiting_account(citizen, accounts.get(citizen.id, []))
        if account is None:
            continue
        locale = citizen.language or profile.default_locale
        if locale not in bodies:
            bodies[locale] = Reply(
                catalogs.gettext(locale, "surveys.invitation",
                                 title=survey.title.get(locale, survey.slug)),
                [[Button(catalogs.gettext(locale, "surveys.take"),
                         f"srv:{survey.slug}:start")]], locale=locale).to_json()
        rows.append(bulk_row(account, bodies[locale], hold=hold,
                             purpose=Purpose.survey_invitation,
                             dedupe_key=f"survey-invite:{survey.id}:{citizen.id}", now=now,
                             stale_at=survey.closes_at))
    if rows:
        session.execute(insert(OutboxMessage), rows)
        wake_sender(session)
    return len(rows)


# --- results ---------------------------------------------------------------------

@dataclass
class QuestionResult:
    key: str
    type: str
    text: dict[str, str]
    answered: int
    options: list[dict[str, Any]] = field(default_factory=list)
    mean: float | None = None
    distribution: dict[str, int] = field(default_factory=dict)
    texts: list[str] = field(default_factory=list)


def responses(session: Session, survey: Survey,
              filters: Mapping[str, str | None] | None = None) -> list[SurveyResponse]:
    """The finished responses — a named survey's in the order they came, an
    anonymous one's in the random order of their ids; `filters` maps
    `settlement`, `channel` and `language` to the value wanted (None: any).
    An anonymous survey's responses hold none of these: it ignores them."""
    query = select(SurveyResponse).where(SurveyResponse.survey_id == survey.id)
    if not survey.anonymous:
        for name in FILTERABLE:
            value = (filters or {}).get(name)
            if value is not None:
                query = query.where(getattr(SurveyResponse, name) == value)
    return list(session.scalars(query.order_by(SurveyResponse.id)))


def results(session: Session, survey: Survey, filters: Mapping[str, str | None] | None = None
            ) -> tuple[int, int, list[QuestionResult]]:
    """(started, completed, per question): counts and percentages per option
    (of those who answered the question), a scale's mean and distribution,
    free texts in the order of `responses`; `filters` as for `responses`."""
    started = int(session.scalar(select(func.count()).select_from(SurveyParticipant).where(
        SurveyParticipant.survey_id == survey.id)) or 0)
    rows = responses(session, survey, filters)
    out: list[QuestionResult] = []
    for question in survey.questions:
        key = question["key"]
        given = [r.answers[key] for r in rows if r.answers.get(key) not in (None, "", [])]
        result = QuestionResult(key, question["type"], question["text"], len(given))
        if question["type"] in ("single", "multiple"):
            counts = {o["key"]: 0 for o in question["options"]}
            for answer in given:
                for choice in (answer if isinstance(answer, list) else [answer]):
                    if choice in counts:
                        counts[choice] += 1
            result.options = [{"key": o["key"], "text": o["text"], "count": counts[o["key"]],
                               "percent": round(100 * counts[o["key"]] / len(given), 1)
                               if given else 0.0} for o in question["options"]]
        elif question["type"] == "scale":
            values = [int(a) for a in given if isinstance(a, int | float)]
            result.distribution = {str(v): values.count(v)
                                   for v in range(question["min"], question["max"] + 1)}
            result.mean = round(sum(values) / len(values), 2) if values else None
        else:
            result.texts = [str(a) for a in given]
        out.append(result)
    return started, len(rows), out
