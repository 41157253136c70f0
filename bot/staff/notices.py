"""Notices as staff handle them (SPEC §3.6, §3.7): the list with its filters
and delivery counts, one notice with its counts, previews and answers, the
actions (make a notice from a draft written in every enabled language,
preview a draft, cancel) with their audit entries, and the answers to a
public debate for the meeting (per settlement, the questions, a CSV).

Nothing here shows who a citizen is: a notice's answers carry a settlement,
a kind and a question, never a name, a phone or a chat. The rules of a
notice are the service's (bot.services.notices); a draft a rule refuses is
`Invalid` (422) with the service's stable code and `errors` naming each
field to fix. The API (bot.admin.api.notices) and the staff pages
(bot.admin.notice_pages) both call these, so audit and rules are the same."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from bot.i18n import Catalogs
from bot.models import (
    ChannelAccount,
    Notice,
    NoticeAnswer,
    NoticeRecipient,
    NoticeStatus,
    OutboxMessage,
)
from bot.models.staff import StaffUser
from bot.profile import ABROAD, Profile
from bot.refusals import Conflict, Invalid
from bot.services import notices as service
from bot.staff import audit
from bot.staff.export import Column, write_csv
from bot.staff.query import PageWindow, check_choice, chunks, matching, one, paginate, sorted_by
from bot.staff.text import tidy

SEND_AHEAD = timedelta(days=366)  # a notice set further ahead is a typo


# --- shapes ---------------------------------------------------------------------------

class SmsPreviewOut(BaseModel):
    """The notice as an SMS citizen of this language gets it, and its price."""

    text: str = Field(description="The SMS as it goes (the short form, or the text's "
                                  "beginning with the municipality's name)")
    encoding: str = Field(description="GSM-7 (160 characters a segment) or UCS-2 (70)")
    segments: int = Field(description="Segments billed per recipient")
    length: int
    cost: float = Field(description="Cost per recipient, in `currency`")
    currency: str
    without_diacritics: bool = Field(description="Sent with `letters` replaced (the "
                                                 "profile's option for Serbian Latin and for "
                                                 "Albanian)")
    letters: str = Field("", description="The diacritics this language may go without "
                                         "(Serbian Latin č ć đ š ž, Albanian ë ç), else empty")
    other_segments: int | None = Field(description="Serbian Latin and Albanian only: the "
                                                   "segments the other way (with the letters "
                                                   "when they are replaced, else without)")
    other_cost: float | None


class PreviewOut(BaseModel):
    text: str = Field(description="The message as a citizen of this language gets it")
    buttons: list[str] = Field(description="The button labels under it")
    sms: SmsPreviewOut | None = Field(None, description="The same notice by SMS")


class CountsOut(BaseModel):
    """Where delivery stands; `recipients` grows while the notice is sending."""

    recipients: int = Field(description="Subscribers the notice was meant for so far")
    sent: int = Field(description="Delivered, or given in the summary of a Viber citizen's "
                                  "next message after it waited")
    failed: int
    blocked: int = Field(description="The citizen blocked the bot")
    pending: int = Field(description="Queued, not delivered yet; or waiting for a Viber "
                                     "citizen's next message (the bot may not start a chat "
                                     "there), which brings it in a summary")
    skipped: int = Field(description="Not sent: no channel the bot may write on, or cancelled")


class NoticeOut(CountsOut):
    id: int
    topic: str
    settlements: list[str] | None = Field(description="null: everyone subscribed to the topic")
    text: dict[str, str] = Field(description="The text per locale")
    sms_text: dict[str, str] = Field(default_factory=dict,
                                     description="The short form for SMS per locale, where "
                                                 "staff wrote one")
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


# --- one notice and its read-models ----------------------------------------------------

def find_notice(session: Session, notice_id: int) -> Notice:
    return one(session, select(Notice).where(Notice.id == notice_id), f"no notice {notice_id}")


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
            tally[service.delivery_bucket(unreachable, status, bool(is_blocked))] += int(count)
            tally["recipients"] += int(count)
    return {i: CountsOut(**{k: t[k] for k in CountsOut.model_fields}) for i, t in tallies.items()}


def in_progress(notice: Notice, counts: CountsOut) -> bool:
    if notice.status in (NoticeStatus.scheduled, NoticeStatus.sending):
        return True
    return notice.status is NoticeStatus.sent and counts.pending > 0


def notice_out(notice: Notice, counts: CountsOut) -> NoticeOut:
    return NoticeOut(
        **counts.model_dump(), id=notice.id, topic=notice.topic, settlements=notice.settlements,
        text=service.chat_texts(notice.texts), sms_text=service.sms_texts(notice.texts),
        rsvp=notice.rsvp, status=notice.status, send_at=notice.send_at,
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


def rsvp_out(session: Session, profile: Profile, notice: Notice) -> RsvpOut:
    """Coming and questions per settlement, in the profile's order; "did not
    say" last."""
    codes: list[str | None] = [*profile.settlement_codes(), None]
    order = {code: i for i, code in enumerate(codes)}
    rows = [SettlementAnswersOut(settlement=None if code == "unknown" else code,
                                 coming=bucket["coming"], questions=bucket["questions"])
            for code, bucket in service.answers_by_settlement(session, notice).items()]
    rows.sort(key=lambda r: (order.get(r.settlement, len(order)), r.settlement or ""))
    return RsvpOut(coming=sum(r.coming for r in rows), questions=sum(r.questions for r in rows),
                   by_settlement=rows)


def detail_out(session: Session, catalogs: Catalogs, profile: Profile,
               notice: Notice) -> NoticeDetail:
    """The delivery counts come from the service's `progress`, afresh."""
    counts = CountsOut(**service.progress(session, notice).as_dict())
    return NoticeDetail(**notice_out(notice, counts).model_dump(),
                        preview=previews(catalogs, profile, notice),
                        answers=rsvp_out(session, profile, notice))


# --- the list --------------------------------------------------------------------------

class NoticeFilters(BaseModel):
    """The list's filters, for the API's query and the page's form alike;
    `topic` takes the profile's topic codes (see the schema's enum)."""

    status: NoticeStatus | None = None
    topic: str | None = Field(None, max_length=32, description="A notice topic")


def check_filters(profile: Profile, filters: NoticeFilters) -> None:
    """An unknown topic is `Invalid` (`invalid_filter`), not an empty list."""
    check_choice("topic", filters.topic, profile.topic_codes())


def notices_query(profile: Profile, filters: NoticeFilters) -> Select[Any]:
    check_filters(profile, filters)
    return matching(select(Notice), (Notice.status, filters.status),
                    (Notice.topic, filters.topic))


def list_notices(session: Session, profile: Profile, filters: NoticeFilters,
                 page: PageWindow) -> tuple[list[Notice], int]:
    """Newest first."""
    stmt = sorted_by(notices_query(profile, filters), page.sort,
                     {"created_at": Notice.created_at, "send_at": Notice.send_at},
                     default=[Notice.created_at.desc(), Notice.id.desc()])
    return paginate(session, stmt, page)


# --- a public debate's answers ----------------------------------------------------------

def list_questions(session: Session, notice: Notice,
                   page: PageWindow) -> tuple[list[NoticeAnswer], int]:
    stmt = select(NoticeAnswer).where(NoticeAnswer.notice_id == notice.id,
                                      NoticeAnswer.kind == "question")
    stmt = sorted_by(stmt, page.sort, {"created_at": NoticeAnswer.created_at},
                     default=[NoticeAnswer.id])
    return paginate(session, stmt, page)


def answers_out(session: Session, profile: Profile, notice: Notice,
                page: PageWindow) -> AnswersOut:
    rows, total = list_questions(session, notice, page)
    return AnswersOut(
        **rsvp_out(session, profile, notice).model_dump(),
        items=[QuestionOut(id=a.id, settlement=a.settlement, text=a.text or "",
                           created_at=a.created_at) for a in rows],
        total=total, limit=page.limit, offset=page.offset)


def settlement_label(catalogs: Catalogs, profile: Profile, locale: str,
                     code: str | None) -> str:
    if code is None:
        return catalogs.gettext(locale, "staff.notices.unknown_settlement")
    if code == ABROAD:
        return catalogs.gettext(locale, "staff.abroad")
    found = profile.settlement(code)
    return found.label(locale) if found else code


EXPORT_COLUMNS = [Column("time"), Column("settlement"), Column("kind"), Column("question")]


def export_answers(session: Session, catalogs: Catalogs, profile: Profile, staff: StaffUser,
                   notice: Notice, *, ip: str | None, now: datetime) -> tuple[bytes, str]:
    """For the meeting: the CSV bytes and their file name, one row per answer,
    the time local, the settlement by its name in the officer's language — no
    names, phones or chats. Every export is audited."""
    rows = [[datetime.fromisoformat(at).astimezone(profile.tz), settlement, kind, text]
            for at, settlement, kind, text in service.export_rows(
                session, notice,
                lambda code: settlement_label(catalogs, profile, staff.language, code))]
    body = write_csv(EXPORT_COLUMNS, rows, personal=False)
    audit.record(session, staff, "notices.export", object_type="notice", object_id=notice.id,
                 detail=f"answers csv, {len(rows)} rows", ip=ip)
    return body, f"notice-{notice.id}-answers-{now:%Y%m%d-%H%M}.csv"


# --- actions: a change and its audit entry ---------------------------------------------

@dataclass(frozen=True)
class Draft:
    """A notice as staff wrote it, before the rules."""

    topic: str
    settlements: list[str] | None
    texts: dict[str, str]
    send_at: datetime | None
    rsvp: bool
    sms_texts: dict[str, str] = field(default_factory=dict)


def naming_fields(err: Invalid, draft: Draft, profile: Profile,
                  texts: dict[str, str]) -> Invalid:
    """The service's refusal with `errors` naming each field to fix: every
    language left empty, unknown or too long, every unknown settlement."""
    if err.code == "missing_translation":
        locs = [["body", "text", loc] for loc in profile.enabled_locales if not texts.get(loc)]
    elif err.code == "unknown_locale" and err.field != "sms_text":
        locs = [["body", "text", loc]
                for loc in sorted(set(texts) - set(profile.enabled_locales))]
    elif err.code == "text_too_long":
        locs = [["body", "text", loc] for loc, text in texts.items()
                if len(text) > service.TEXT_MAX]
    elif err.code == "sms_too_long":
        locs = [["body", "sms_text", loc] for loc, text in draft.sms_texts.items()
                if len(text.strip()) > service.SMS_TEXT_MAX]
    elif err.code == "unknown_locale" and err.field == "sms_text":
        locs = [["body", "sms_text", loc]
                for loc in sorted(set(draft.sms_texts) - set(profile.enabled_locales))]
    elif err.code == "unknown_settlement":
        known = set(profile.settlement_codes())
        locs = [["body", "settlements", code] for code in draft.settlements or []
                if code not in known] or [["body", "settlements"]]
    else:
        locs = []
    errors = [{"loc": loc, "msg": err.detail} for loc in locs or [["body", err.field or "body"]]]
    return Invalid(err.code, err.detail, err.field, errors=errors)


def check(profile: Profile, draft: Draft, now: datetime) -> dict[str, str]:
    """The cleaned texts (with the short forms for SMS under `sms:<locale>`),
    or `Invalid` naming what to fix."""
    texts = {locale: tidy(text) for locale, text in draft.texts.items()}
    if draft.send_at is not None and draft.send_at > now + SEND_AHEAD:
        raise Invalid("send_at_too_far", "send_at is more than a year ahead", "send_at",
                      errors=[{"loc": ["body", "send_at"], "msg": "more than a year ahead"}])
    try:
        cleaned = service.validate(profile, topic=draft.topic, settlements=draft.settlements,
                                   texts=texts, send_at=draft.send_at, now=now)
        cleaned.update(service.validate_sms(profile, {loc: tidy(text) for loc, text
                                                      in draft.sms_texts.items()}))
    except Invalid as err:
        raise naming_fields(err, draft, profile, texts) from err
    return cleaned


def preview_draft(catalogs: Catalogs, profile: Profile, draft: Draft,
                  now: datetime) -> dict[str, PreviewOut]:
    """What each language's citizens would get; nothing is saved."""
    texts = check(profile, draft, now)
    notice = Notice(topic=draft.topic, settlements=draft.settlements, texts=texts,
                    rsvp=draft.rsvp, send_at=draft.send_at or now)
    return previews(catalogs, profile, notice)


def snapshot(notice: Notice) -> dict[str, Any]:
    return {"topic": notice.topic, "settlements": notice.settlements, "rsvp": notice.rsvp,
            "send_at": notice.send_at.isoformat(), "status": notice.status.value,
            "text": dict(notice.texts)}


def act_create(session: Session, profile: Profile, staff: StaffUser, draft: Draft, *,
               ip: str | None, now: datetime) -> Notice:
    checked = check(profile, draft, now)
    send_at = draft.send_at.astimezone(UTC) if draft.send_at else None
    notice = service.create(session, profile, topic=draft.topic, settlements=draft.settlements,
                            texts=service.chat_texts(checked),
                            sms_texts=service.sms_texts(checked), send_at=send_at,
                            rsvp=draft.rsvp, by=staff.username, now=now)
    audit.record(session, staff, "notices.create", object_type="notice", object_id=notice.id,
                 before=None, after=snapshot(notice), ip=ip)
    return notice


def act_cancel(session: Session, staff: StaffUser, notice_id: int, *, ip: str | None,
               now: datetime) -> Notice:
    """Stop the notice; cancelling it twice is a `Conflict`."""
    notice = find_notice(session, notice_id)
    before = notice.status.value
    if not service.cancel(session, notice, by=staff.username, now=now):
        raise Conflict("already_cancelled", f"notice {notice_id} is cancelled already")
    audit.record(session, staff, "notices.cancel", object_type="notice", object_id=notice.id,
                 before={"status": before}, after={"status": notice.status.value}, ip=ip)
    return notice
