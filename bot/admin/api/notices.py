"""Notices for staff (SPEC §3.6, §3.7): writing a notice in every enabled
language to the subscribers of a topic (everyone, or some settlements), now
or at a later time, previewing it as each language's citizens will get it,
following its delivery (sent, failed, blocked, pending, skipped) while it
runs and after, cancelling it, and the answers to a public debate (who is
coming per settlement, the questions, a CSV for the meeting).

Nothing here shows who a citizen is: a notice's answers carry a settlement,
a kind and a question, never a name, a phone or a chat. Every write (a
notice made, a notice cancelled) is audited with what changed, and so is
every export. The rules of a notice are the service's
(bot.services.notices): input the schema allows but a rule refuses (an
unknown topic or settlement, a language left empty, a time in the past) is
409 with the service's stable code and `errors` naming the fields; input
the schema refuses (a wrong type, a text over the limit) is 422. The
functions under "actions" are shared with the staff pages."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from bot.admin.api.complaints import chunks, tidy
from bot.admin.common import Page, PageParams, Problem, problems
from bot.admin.deps import RuntimeDep, SessionDep, client_ip, require
from bot.admin.export import csv_response
from bot.admin.paging import page_params
from bot.db import utcnow
from bot.i18n import Catalogs
from bot.models import (
    ChannelAccount,
    Notice,
    NoticeAnswer,
    NoticeRecipient,
    NoticeStatus,
    OutboxMessage,
    OutboxStatus,
)
from bot.models.staff import StaffUser
from bot.profile import ABROAD, Profile
from bot.runtime import Runtime
from bot.services import notices as service
from bot.staff import audit
from bot.staff.export import Column, write_csv
from bot.staff.permissions import Capability
from bot.staff.query import check_choice, paginate, sorted_by

router = APIRouter(prefix="/notices", tags=["notices"])
Reader = Annotated[StaffUser, Depends(require(Capability.notices))]
Writer = Annotated[StaffUser, Depends(require(Capability.notices, write=True))]
READ_ERRORS = problems(401, 403, 422)
ONE_ERRORS = problems(401, 403, 404, 422)
MAKE_ERRORS = problems(401, 403, 409, 422)
WRITE_ERRORS = problems(401, 403, 404, 409, 422)
SEND_AHEAD = timedelta(days=366)  # a notice set further ahead is a typo
SETTLEMENTS_MAX = 50
NoticeIdPath = Annotated[int, Path(ge=1, le=2**31 - 1, description="The notice's id")]
LocaleText = Annotated[str | None, Field(None, max_length=service.TEXT_MAX)]


# --- shapes ---------------------------------------------------------------------

class NoticeTextIn(BaseModel):
    """The notice in each enabled language; every one is required (see the
    schema's `required`), blank ones are refused with `missing_translation`."""

    model_config = ConfigDict(extra="forbid")

    sr_Latn: LocaleText = None
    sr_Cyrl: LocaleText = None
    sq: LocaleText = None
    en: LocaleText = None

    def texts(self) -> dict[str, str]:
        return {locale: text for locale, text in self.model_dump().items() if text is not None}


class NoticeIn(BaseModel):
    topic: str = Field(max_length=32, description="A notice topic of the profile")
    settlements: list[Annotated[str, Field(max_length=32)]] | None = Field(
        None, min_length=1, max_length=SETTLEMENTS_MAX,
        description="Settlement codes (or `abroad`) whose subscribers get it; null: everyone")
    text: NoticeTextIn
    send_at: AwareDatetime | None = Field(
        None, description="When to send (with its offset); null: now. Ordinary notices "
                          "wait for 08:00–21:00 local time, `emergencies` do not")
    rsvp: bool = Field(False, description="Public debate: citizens can say they come and "
                                          "ask a question in advance")


class PreviewOut(BaseModel):
    text: str = Field(description="The message as a citizen of this language gets it")
    buttons: list[str] = Field(description="The button labels under it")


class CountsOut(BaseModel):
    """Where delivery stands; `recipients` grows while the notice is sending."""

    recipients: int = Field(description="Subscribers the notice was meant for so far")
    sent: int
    failed: int
    blocked: int = Field(description="The citizen blocked the bot")
    pending: int = Field(description="Queued, not delivered yet")
    skipped: int = Field(description="Not sent: no channel the bot may write on, or cancelled")


class NoticeOut(CountsOut):
    id: int
    topic: str
    settlements: list[str] | None = Field(description="null: everyone subscribed to the topic")
    text: dict[str, str] = Field(description="The text per locale")
    rsvp: bool
    status: NoticeStatus
    send_at: datetime
    created_by: str
    created_at: datetime
    started_at: datetime | None
    queued_at: datetime | None
    cancelled_at: datetime | None
    cancelled_by: str | None
    in_progress: bool = Field(description="Still changing: scheduled or sending, or "
                                          "messages not delivered yet")


class SettlementAnswersOut(BaseModel):
    settlement: str | None = Field(description="A settlement code, `abroad`, or null when "
                                               "the citizen did not say where they live")
    coming: int
    questions: int


class RsvpOut(BaseModel):
    coming: int
    questions: int
    by_settlement: list[SettlementAnswersOut]


class NoticeDetail(NoticeOut):
    preview: dict[str, PreviewOut] = Field(description="How it looks in each enabled language")
    answers: RsvpOut


class QuestionOut(BaseModel):
    """A question for the meeting; never who asked it."""

    id: int
    settlement: str | None
    text: str
    created_at: datetime


class AnswersOut(RsvpOut):
    items: list[QuestionOut] = Field(description="One page of the questions")
    total: int = Field(description="All the questions")
    limit: int
    offset: int


# --- helpers ------------------------------------------------------------------------

def topic_codes(profile: Profile) -> list[str]:
    return [t.code for t in profile.notice_topics]


def settlement_codes(profile: Profile) -> list[str]:
    return [*(s.code for s in profile.settlements), ABROAD]


def find_notice(session: Session, notice_id: int) -> Notice:
    found = session.get(Notice, notice_id)
    if found is None:
        raise Problem(404, "not_found", f"no notice {notice_id}")
    return found


def _bucket(unreachable: str | None, status: OutboxStatus | None, blocked: bool) -> str:
    """The same rules as bot.services.notices.progress, for many notices at once."""
    if unreachable == "blocked":
        return "blocked"
    if unreachable:
        return "skipped"
    if status is OutboxStatus.sent:
        return "sent"
    if status in (OutboxStatus.queued, OutboxStatus.sending):
        return "pending"
    if blocked:
        return "blocked"
    if status is OutboxStatus.failed:
        return "failed"
    return "skipped"


def counts_of(session: Session, ids: Sequence[int]) -> dict[int, CountsOut]:
    """Notice id → its delivery counts, in one grouped query per chunk (a
    list would otherwise read every recipient of every notice)."""
    tallies: dict[int, Counter[str]] = {i: Counter() for i in ids}
    blocked = ChannelAccount.blocked_at.is_not(None)
    for part in chunks(list(ids)):
        for notice_id, unreachable, status, is_blocked, count in session.execute(
                select(NoticeRecipient.notice_id, NoticeRecipient.unreachable,
                       OutboxMessage.status, blocked, func.count())
                .select_from(NoticeRecipient)
                .outerjoin(OutboxMessage, OutboxMessage.id == NoticeRecipient.outbox_id)
                .outerjoin(ChannelAccount, ChannelAccount.id == OutboxMessage.account_id)
                .where(NoticeRecipient.notice_id.in_(part))
                .group_by(NoticeRecipient.notice_id, NoticeRecipient.unreachable,
                          OutboxMessage.status, blocked)):
            tally = tallies[notice_id]
            tally[_bucket(unreachable, status, bool(is_blocked))] += int(count)
            tally["recipients"] += int(count)
    return {i: CountsOut(**{k: t[k] for k in CountsOut.model_fields}) for i, t in tallies.items()}


def in_progress(notice: Notice, counts: CountsOut) -> bool:
    if notice.status in (NoticeStatus.scheduled, NoticeStatus.sending):
        return True
    return notice.status is NoticeStatus.sent and counts.pending > 0


def notice_out(notice: Notice, counts: CountsOut) -> NoticeOut:
    return NoticeOut(
        **counts.model_dump(), id=notice.id, topic=notice.topic, settlements=notice.settlements,
        text=dict(notice.texts), rsvp=notice.rsvp, status=notice.status, send_at=notice.send_at,
        created_by=notice.created_by, created_at=notice.created_at,
        started_at=notice.started_at, queued_at=notice.queued_at,
        cancelled_at=notice.cancelled_at, cancelled_by=notice.cancelled_by,
        in_progress=in_progress(notice, counts))


def list_out(session: Session, notices: Sequence[Notice]) -> list[NoticeOut]:
    counts = counts_of(session, [n.id for n in notices])
    return [notice_out(n, counts[n.id]) for n in notices]


def previews(catalogs: Catalogs, profile: Profile, notice: Notice) -> dict[str, PreviewOut]:
    return {locale: PreviewOut(**shown)
            for locale, shown in service.preview(catalogs, profile, notice).items()}


def settlement_order(profile: Profile) -> dict[str | None, int]:
    codes: list[str | None] = [*settlement_codes(profile), None]
    return {code: i for i, code in enumerate(codes)}


def rsvp_out(session: Session, profile: Profile, notice: Notice) -> RsvpOut:
    """Coming and questions per settlement, in the profile's order; "did not
    say" last."""
    order = settlement_order(profile)
    rows = [SettlementAnswersOut(settlement=None if code == "unknown" else code,
                                 coming=bucket["coming"], questions=bucket["questions"])
            for code, bucket in service.answers_by_settlement(session, notice).items()]
    rows.sort(key=lambda r: (order.get(r.settlement, len(order)), r.settlement or ""))
    return RsvpOut(coming=sum(r.coming for r in rows), questions=sum(r.questions for r in rows),
                   by_settlement=rows)


def detail_out(session: Session, runtime: Runtime, notice: Notice) -> NoticeDetail:
    """The delivery counts come from the service's `progress`, afresh."""
    counts = CountsOut(**service.progress(session, notice).as_dict())
    return NoticeDetail(**notice_out(notice, counts).model_dump(),
                        preview=previews(runtime.catalogs, runtime.profile, notice),
                        answers=rsvp_out(session, runtime.profile, notice))


def snapshot(notice: Notice) -> dict[str, Any]:
    return {"topic": notice.topic, "settlements": notice.settlements, "rsvp": notice.rsvp,
            "send_at": notice.send_at.isoformat(), "status": notice.status.value,
            "text": dict(notice.texts)}


def settlement_label(runtime: Runtime, locale: str, code: str | None) -> str:
    if code is None:
        return runtime.catalogs.gettext(locale, "staff.notices.unknown_settlement")
    if code == ABROAD:
        return runtime.catalogs.gettext(locale, "staff.abroad")
    found = runtime.profile.settlement(code)
    return found.label(locale) if found else code


# --- queries shared with the staff pages ---------------------------------------------

@dataclass
class NoticeFilters:
    """`topic` takes the profile's topic codes (see the schema's enum)."""

    status: NoticeStatus | None = None
    topic: str | None = None


def notice_filters(
    status: NoticeStatus | None = None,
    topic: Annotated[str | None, Query(max_length=32, description="A notice topic")] = None,
) -> NoticeFilters:
    return NoticeFilters(status, topic)


NoticePage = page_params("created_at", "send_at")
AnswerPage = page_params("created_at")


def notices_query(profile: Profile, filters: NoticeFilters) -> Select[Any]:
    check_choice("topic", filters.topic, topic_codes(profile))
    stmt = select(Notice)
    if filters.status:
        stmt = stmt.where(Notice.status == filters.status)
    if filters.topic:
        stmt = stmt.where(Notice.topic == filters.topic)
    return stmt


def list_notices(session: Session, profile: Profile, filters: NoticeFilters,
                 page: PageParams) -> tuple[list[Notice], int]:
    """Newest first."""
    stmt = sorted_by(notices_query(profile, filters), page.sort,
                     {"created_at": Notice.created_at, "send_at": Notice.send_at},
                     default=[Notice.created_at.desc(), Notice.id.desc()])
    return paginate(session, stmt, page)


def list_questions(session: Session, notice: Notice,
                   page: PageParams) -> tuple[list[NoticeAnswer], int]:
    stmt = select(NoticeAnswer).where(NoticeAnswer.notice_id == notice.id,
                                      NoticeAnswer.kind == "question")
    stmt = sorted_by(stmt, page.sort, {"created_at": NoticeAnswer.created_at},
                     default=[NoticeAnswer.id])
    return paginate(session, stmt, page)


def answers_out(session: Session, profile: Profile, notice: Notice,
                page: PageParams) -> AnswersOut:
    rows, total = list_questions(session, notice, page)
    return AnswersOut(
        **rsvp_out(session, profile, notice).model_dump(),
        items=[QuestionOut(id=a.id, settlement=a.settlement, text=a.text or "",
                           created_at=a.created_at) for a in rows],
        total=total, limit=page.limit, offset=page.offset)


EXPORT_COLUMNS = [Column("time"), Column("settlement"), Column("kind"), Column("question")]


def export_answers(session: Session, runtime: Runtime, staff: StaffUser, notice: Notice,
                   ip: str | None) -> Response:
    """For the meeting: one row per answer, the time local, the settlement by
    its name in the officer's language — no names, phones or chats."""
    now, tz = utcnow(), runtime.profile.tz
    rows = [[datetime.fromisoformat(at).astimezone(tz), settlement, kind, text]
            for at, settlement, kind, text in service.export_rows(
                session, notice, lambda code: settlement_label(runtime, staff.language, code))]
    body = write_csv(EXPORT_COLUMNS, rows, personal=False)
    audit.record(session, staff, "notices.export", object_type="notice", object_id=notice.id,
                 detail=f"answers csv, {len(rows)} rows", ip=ip)
    return csv_response(body, f"notice-{notice.id}-answers-{now:%Y%m%d-%H%M}.csv")


# --- actions: a change and its audit entry, for the API and the pages ----------------

@dataclass(frozen=True)
class Draft:
    """A notice as staff wrote it, before the rules."""

    topic: str
    settlements: list[str] | None
    texts: dict[str, str]
    send_at: datetime | None
    rsvp: bool


def _refused(err: service.NoticeRefused, draft: Draft, profile: Profile,
             texts: dict[str, str]) -> Problem:
    """The service's refusal as 409, with `errors` naming each field to fix."""
    field = err.field or "body"
    if err.code == "missing_translation":
        locs = [["body", "text", loc] for loc in profile.enabled_locales if not texts.get(loc)]
    elif err.code == "unknown_locale":
        locs = [["body", "text", loc] for loc in sorted(set(texts) - set(
            profile.enabled_locales))]
    elif err.code == "text_too_long":
        locs = [["body", "text", loc] for loc, text in texts.items()
                if len(text) > service.TEXT_MAX]
    elif err.code == "unknown_settlement":
        known = set(settlement_codes(profile))
        locs = [["body", "settlements", code] for code in draft.settlements or []
                if code not in known] or [["body", "settlements"]]
    else:
        locs = []
    return Problem(409, err.code, str(err),
                   errors=[{"loc": loc, "msg": str(err)} for loc in locs or [["body", field]]])


def check(profile: Profile, draft: Draft, now: datetime) -> dict[str, str]:
    """The cleaned texts, or a 409 Problem naming what to fix."""
    texts = {locale: tidy(text) for locale, text in draft.texts.items()}
    if draft.send_at is not None and draft.send_at > now + SEND_AHEAD:
        raise Problem(409, "send_at_too_far", "send_at is more than a year ahead",
                      errors=[{"loc": ["body", "send_at"], "msg": "more than a year ahead"}])
    try:
        return service.validate(profile, topic=draft.topic, settlements=draft.settlements,
                                texts=texts, send_at=draft.send_at, now=now)
    except service.NoticeRefused as err:
        raise _refused(err, draft, profile, texts) from err


def preview_draft(runtime: Runtime, draft: Draft) -> dict[str, PreviewOut]:
    """What each language's citizens would get; nothing is saved."""
    texts = check(runtime.profile, draft, utcnow())
    notice = Notice(topic=draft.topic, settlements=draft.settlements, texts=texts,
                    rsvp=draft.rsvp, send_at=draft.send_at or utcnow())
    return previews(runtime.catalogs, runtime.profile, notice)


def act_create(session: Session, runtime: Runtime, staff: StaffUser, ip: str | None,
               draft: Draft) -> Notice:
    now = utcnow()
    texts = check(runtime.profile, draft, now)
    send_at = draft.send_at.astimezone(UTC) if draft.send_at else None
    try:
        notice = service.create(session, runtime.profile, topic=draft.topic,
                                settlements=draft.settlements, texts=texts, send_at=send_at,
                                rsvp=draft.rsvp, by=staff.username, now=now)
    except service.NoticeRefused as err:  # the clock moved on since `check`
        raise _refused(err, draft, runtime.profile, texts) from err
    audit.record(session, staff, "notices.create", object_type="notice", object_id=notice.id,
                 before=None, after=snapshot(notice), ip=ip)
    return notice


def act_cancel(session: Session, staff: StaffUser, ip: str | None, notice_id: int) -> Notice:
    notice = find_notice(session, notice_id)
    before = notice.status.value
    if not service.cancel(session, notice, by=staff.username, now=utcnow()):
        raise Problem(409, "already_cancelled", f"notice {notice_id} is cancelled already")
    audit.record(session, staff, "notices.cancel", object_type="notice", object_id=notice.id,
                 before={"status": before}, after={"status": notice.status.value}, ip=ip)
    return notice


def draft_of(body: NoticeIn) -> Draft:
    return Draft(topic=body.topic, settlements=body.settlements, texts=body.text.texts(),
                 send_at=body.send_at, rsvp=body.rsvp)


# --- routes --------------------------------------------------------------------------

@router.get("", response_model=Page[NoticeOut], responses=READ_ERRORS)
def notices(staff: Reader, session: SessionDep, runtime: RuntimeDep,
            filters: Annotated[NoticeFilters, Depends(notice_filters)],
            page: Annotated[PageParams, Depends(NoticePage)]) -> Page[NoticeOut]:
    """The notices, newest first, with their delivery counts."""
    rows, total = list_notices(session, runtime.profile, filters, page)
    return Page(items=list_out(session, rows), total=total, limit=page.limit,
                offset=page.offset)


@router.post("", status_code=201, response_model=NoticeDetail, responses=MAKE_ERRORS)
def create(body: NoticeIn, staff: Writer, session: SessionDep, runtime: RuntimeDep,
           request: Request) -> NoticeDetail:
    """Send a notice to the topic's subscribers (now, or at `send_at`). A rule
    broken is 409 with its code and the fields in `errors`: `unknown_topic`,
    `unknown_settlement`, `missing_translation` (every enabled language
    needs a text), `unknown_locale`, `text_too_long`, `send_at_in_past`,
    `send_at_too_far` (over a year ahead)."""
    notice = act_create(session, runtime, staff, client_ip(request), draft_of(body))
    return detail_out(session, runtime, notice)


@router.post("/preview", response_model=dict[str, PreviewOut], responses=MAKE_ERRORS)
def preview(body: NoticeIn, staff: Writer, runtime: RuntimeDep) -> dict[str, PreviewOut]:
    """How a citizen of each enabled language will see the notice (text and
    buttons); nothing is saved. The same rules as sending apply."""
    return preview_draft(runtime, draft_of(body))


@router.get("/{notice_id}", response_model=NoticeDetail, responses=ONE_ERRORS)
def notice_detail(notice_id: NoticeIdPath, staff: Reader, session: SessionDep,
                  runtime: RuntimeDep) -> NoticeDetail:
    """One notice with its delivery counts, previews and the answers' summary."""
    return detail_out(session, runtime, find_notice(session, notice_id))


@router.post("/{notice_id}/cancel", response_model=NoticeDetail, responses=WRITE_ERRORS)
def cancel(notice_id: NoticeIdPath, staff: Writer, session: SessionDep, runtime: RuntimeDep,
           request: Request) -> NoticeDetail:
    """Stop the notice: what has not left yet never will (`already_cancelled` 409)."""
    notice = act_cancel(session, staff, client_ip(request), notice_id)
    return detail_out(session, runtime, notice)


@router.get("/{notice_id}/answers", response_model=AnswersOut, responses=ONE_ERRORS)
def answers(notice_id: NoticeIdPath, staff: Reader, session: SessionDep, runtime: RuntimeDep,
            page: Annotated[PageParams, Depends(AnswerPage)]) -> AnswersOut:
    """Who is coming per settlement, and one page of the questions (never who asked)."""
    return answers_out(session, runtime.profile, find_notice(session, notice_id), page)


@router.get("/{notice_id}/answers.csv", response_class=Response, responses={
    200: {"description": "CSV, UTF-8 with BOM", "content": {"text/csv": {
        "schema": {"type": "string"}}}}, **ONE_ERRORS})
def answers_csv(notice_id: NoticeIdPath, staff: Reader, session: SessionDep,
                runtime: RuntimeDep, request: Request) -> Response:
    """The answers for the meeting as CSV (Excel-safe, no names); every export is audited."""
    return export_answers(session, runtime, staff, find_notice(session, notice_id),
                          client_ip(request))
