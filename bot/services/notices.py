"""Notices (SPEC §3.6): subscriptions by topic, notices staff write in every
language, their delivery through the outbox's bulk lane — each citizen once,
in their language, on one channel, never at night unless it is an
emergency — and the answers to public-debate notices.

A citizen whose channel is SMS (issue #19) gets the notice's short form
that staff wrote for SMS in their language, kept in the notice's `texts`
under `sms:<locale>`; without one, the first `SMS_CUT` characters of the
text with the municipality's name. No buttons go by SMS."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.orm import Session

from bot.channels.sms_text import DIACRITICS, sms_body, sms_segments
from bot.i18n import Catalogs
from bot.messages import Button, Reply
from bot.models import (
    ChannelAccount,
    Citizen,
    Lane,
    Notice,
    NoticeAnswer,
    NoticeRecipient,
    NoticeStatus,
    OutboxMessage,
    OutboxStatus,
    Subscription,
)
from bot.outbox.queue import (
    Purpose,
    bot_started_allowed,
    brief_of,
    out_of_session,
    wake_sender,
)
from bot.profile import Profile
from bot.refusals import Invalid

EMERGENCIES = "emergencies"
DAY_STARTS, DAY_ENDS = 8, 21  # local hours between which ordinary notices go out
TEXT_MAX = 3000  # leaves room for the heading and buttons within Telegram's 4,096
QUESTION_MIN, QUESTION_MAX = 10, 1000
BATCH = 500
PAST_GRACE = timedelta(minutes=1)
# A notice that waited longer for its citizen is listed by its beginning only.
FRESH_FOR = timedelta(days=3)
SMS = "sms"
SMS_KEY = "sms:"  # texts["sms:<locale>"]: the short form staff wrote for SMS
SMS_TEXT_MAX = 480  # three GSM-7 segments: a short form longer than that is not short
SMS_CUT = 300  # characters of the text an SMS without a short form carries


# --- subscriptions -------------------------------------------------------------

def subscribed(session: Session, citizen: Citizen) -> set[str]:
    return set(session.scalars(select(Subscription.topic).where(
        Subscription.citizen_id == citizen.id)))


def subscribe(session: Session, citizen: Citizen, topic: str, on: bool) -> None:
    exists = session.scalar(select(Subscription).where(
        Subscription.citizen_id == citizen.id, Subscription.topic == topic))
    if on and exists is None:
        session.add(Subscription(citizen_id=citizen.id, topic=topic))
    elif not on and exists is not None:
        session.delete(exists)


def unsubscribe_all(session: Session, citizen: Citizen) -> int:
    result = session.execute(delete(Subscription).where(Subscription.citizen_id == citizen.id))
    return int(getattr(result, "rowcount", 0) or 0)


# --- making a notice -----------------------------------------------------------

def validate(profile: Profile, *, topic: str, settlements: list[str] | None,
             texts: dict[str, str], send_at: datetime | None, now: datetime) -> dict[str, str]:
    """The cleaned texts; `Invalid` names the first problem (its code and field)."""
    if topic not in profile.topic_codes():
        raise Invalid("unknown_topic", f"no topic {topic!r}", "topic")
    known = set(profile.settlement_codes())
    if settlements is not None:
        unknown = [code for code in settlements if code not in known]
        if unknown or not settlements:
            raise Invalid("unknown_settlement",
                          f"unknown settlements: {', '.join(unknown) or '(empty list)'}",
                          "settlements")
    cleaned = {loc: (texts.get(loc) or "").strip() for loc in profile.enabled_locales}
    missing = [loc for loc, text in cleaned.items() if not text]
    if missing:
        raise Invalid("missing_translation",
                      f"the text is missing in: {', '.join(missing)}", "text")
    extra = sorted(set(texts) - set(profile.enabled_locales))
    if extra:
        raise Invalid("unknown_locale", f"unknown locales: {', '.join(extra)}", "text")
    too_long = [loc for loc, text in cleaned.items() if len(text) > TEXT_MAX]
    if too_long:
        raise Invalid("text_too_long", f"over {TEXT_MAX} characters in: "
                      f"{', '.join(too_long)}", "text")
    if send_at is not None and send_at < now - PAST_GRACE:
        raise Invalid("send_at_in_past", "send_at is in the past", "send_at")
    return cleaned


def validate_sms(profile: Profile, sms_texts: dict[str, str] | None) -> dict[str, str]:
    """The short forms for SMS, cleaned, under their `sms:<locale>` keys; a
    language left empty has none (its SMS is the text's beginning)."""
    cleaned = {loc: (text or "").strip() for loc, text in (sms_texts or {}).items()}
    extra = sorted(set(cleaned) - set(profile.enabled_locales))
    if extra:
        raise Invalid("unknown_locale", f"unknown locales: {', '.join(extra)}", "sms_text")
    too_long = [loc for loc, text in cleaned.items() if len(text) > SMS_TEXT_MAX]
    if too_long:
        raise Invalid("sms_too_long", f"over {SMS_TEXT_MAX} characters in: "
                      f"{', '.join(too_long)}", "sms_text")
    return {SMS_KEY + loc: text for loc, text in cleaned.items() if text}


def chat_texts(texts: dict[str, str]) -> dict[str, str]:
    """A notice's texts per locale, without the short forms for SMS."""
    return {k: v for k, v in texts.items() if not k.startswith(SMS_KEY)}


def sms_texts(texts: dict[str, str]) -> dict[str, str]:
    """The short forms for SMS per locale (only those staff wrote)."""
    return {k[len(SMS_KEY):]: v for k, v in texts.items() if k.startswith(SMS_KEY)}


def create(session: Session, profile: Profile, *, topic: str, settlements: list[str] | None,
           texts: dict[str, str], send_at: datetime | None, rsvp: bool, by: str,
           now: datetime, sms_texts: dict[str, str] | None = None) -> Notice:
    cleaned = validate(profile, topic=topic, settlements=settlements, texts=texts,
                       send_at=send_at, now=now)
    cleaned.update(validate_sms(profile, sms_texts))
    notice = Notice(topic=topic, settlements=sorted(set(settlements)) if settlements else None,
                    texts=cleaned, rsvp=rsvp, send_at=send_at or now,
                    status=NoticeStatus.scheduled, created_by=by, created_at=now)
    session.add(notice)
    session.flush()
    return notice


def cancel(session: Session, notice: Notice, *, by: str, now: datetime) -> bool:
    """Stop a notice; what has not left yet never will. False if it was over."""
    if notice.status in (NoticeStatus.cancelled,):
        return False
    notice.status = NoticeStatus.cancelled
    notice.cancelled_at, notice.cancelled_by = now, by
    waiting = select(NoticeRecipient.outbox_id).where(NoticeRecipient.notice_id == notice.id,
                                                      NoticeRecipient.outbox_id.is_not(None))
    session.execute(update(OutboxMessage).where(
        OutboxMessage.id.in_(waiting),
        OutboxMessage.status.in_([OutboxStatus.queued, OutboxStatus.held]))
        .values(status=OutboxStatus.skipped, last_error="notice cancelled")
        .execution_options(synchronize_session=False))
    return True


def topic_label(profile: Profile, code: str, locale: str) -> str:
    found = next((t for t in profile.notice_topics if t.code == code), None)
    return found.label(locale) if found else code


def render(catalogs: Catalogs, profile: Profile, notice: Notice, locale: str) -> Reply:
    """The notice as a citizen of this language gets it (also the preview)."""
    t = catalogs.translator(locale)
    text = notice.texts.get(locale) or notice.texts.get(profile.default_locale) or ""
    rows: list[list[Button]] = []
    if notice.rsvp:
        rows.append([Button(t("notices.rsvp_coming"), f"rsvp:yes:{notice.id}")])
        rows.append([Button(t("notices.rsvp_ask"), f"rsvp:ask:{notice.id}")])
    rows.append([Button(t("notices.unsubscribe_topic"), f"ntc:off:{notice.topic}"),
                 Button(t("notices.stop_all"), "ntc:stop")])
    return Reply(t("notices.message", topic=topic_label(profile, notice.topic, locale),
                   text=text), rows)


def cut(text: str, limit: int = SMS_CUT) -> str:
    """The text's first `limit` characters, at a word where one ends near, with "…"."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    head = text[:limit - 1]
    space = head.rfind(" ")
    return (head[:space] if space > limit // 2 else head).rstrip(" ,;:.-") + "…"


def render_sms(catalogs: Catalogs, profile: Profile, notice: Notice, locale: str) -> Reply:
    """The notice as an SMS citizen of this language gets it: the short form
    staff wrote, else the text's beginning with the municipality's name."""
    short = notice.texts.get(SMS_KEY + locale)
    if short:
        return Reply(short, locale=locale)
    text = notice.texts.get(locale) or notice.texts.get(profile.default_locale) or ""
    return Reply(catalogs.gettext(locale, "sms.notice",
                                  municipality=profile.municipality_name(locale),
                                  text=cut(text)), locale=locale)


def strips_diacritics(profile: Profile, locale: str) -> bool:
    """Whether the SMS provider sends this language's texts without diacritics."""
    return locale in profile.sms.plain_letters()


def sms_cost(profile: Profile, reply: Reply, locale: str) -> dict[str, Any]:
    """An SMS text as it goes (typography plain, diacritics as the profile
    says), its encoding, segments and cost per recipient; for Serbian Latin
    and Albanian also the segments the other way (with or without the
    diacritics, `letters`)."""
    strip = strips_diacritics(profile, locale)
    sent = sms_body(reply, strip_diacritics=strip)
    counted = sms_segments(sent)
    shown: dict[str, Any] = {"text": sent, "encoding": counted.encoding,
                             "segments": counted.count, "length": counted.length,
                             "cost": profile.sms.cost(counted.count),
                             "currency": profile.sms.currency, "without_diacritics": strip,
                             "other_segments": None, "other_cost": None,
                             "letters": DIACRITICS.get(locale, "")}
    if locale in DIACRITICS:
        other = sms_segments(sms_body(reply, strip_diacritics=not strip))
        shown["other_segments"], shown["other_cost"] = other.count, profile.sms.cost(other.count)
    return shown


def preview(catalogs: Catalogs, profile: Profile, notice: Notice) -> dict[str, dict[str, Any]]:
    previews = {}
    for locale in profile.enabled_locales:
        reply = render(catalogs, profile, notice, locale)
        previews[locale] = {"text": reply.text,
                            "buttons": [b.label for row in reply.buttons for b in row],
                            "sms": sms_cost(profile, render_sms(catalogs, profile, notice,
                                                                locale), locale)}
    return previews


# --- delivery ------------------------------------------------------------------

def daytime(profile: Profile, now: datetime) -> bool:
    return DAY_STARTS <= now.astimezone(profile.tz).hour < DAY_ENDS


def _pick_account(citizen: Citizen, accounts: list[ChannelAccount], profile: Profile,
                  now: datetime) -> tuple[ChannelAccount | None, str | None]:
    """One channel per citizen: the one they chose, else the one used last."""
    open_ = [a for a in accounts if a.blocked_at is None]
    if not open_:
        return None, "blocked"
    allowed = [a for a in open_ if bot_started_allowed(a, profile, now)]
    if not allowed:
        return None, "no_channel"
    preferred = next((a for a in allowed if a.id == citizen.notice_account_id), None)
    return preferred or max(allowed, key=lambda a: a.last_inbound_at), None


def waiting_account(citizen: Citizen, accounts: list[ChannelAccount]) -> ChannelAccount | None:
    """Where a bulk message waits when no channel may carry it now (Viber
    outside the session): the chosen channel, else the one used last; it
    reaches the citizen in the summary of their next message."""
    open_ = [a for a in accounts if a.blocked_at is None]
    if not open_:
        return None
    preferred = next((a for a in open_ if a.id == citizen.notice_account_id), None)
    return preferred or max(open_, key=lambda a: a.last_inbound_at)


def bulk_row(account: ChannelAccount, body: dict[str, Any], *, hold: bool, purpose: Purpose,
             dedupe_key: str, now: datetime, stale_at: datetime | None = None
             ) -> dict[str, Any]:
    """One bulk-lane outbox row (inserted thousands at a time): queued, or held
    for the citizen's next message; marked when Viber bills it."""
    return {"channel": account.channel, "chat_id": account.chat_id,
            "account_id": account.id, "lane": int(Lane.bulk), "origin": "bot",
            "body": body, "status": OutboxStatus.held if hold else OutboxStatus.queued,
            "next_attempt_at": now, "dedupe_key": dedupe_key, "created_at": now,
            "attempts": 0, "purpose": purpose.value,
            "out_of_session": not hold and out_of_session(account, now),
            "brief": brief_of(str(body.get("text") or "")) if hold else None,
            "last_error": "waits for the citizen to write" if hold else None,
            "stale_at": stale_at}


def deliver(session: Session, profile: Profile, catalogs: Catalogs, now: datetime,
            batch: int = BATCH) -> int:
    """The worker's step: start what is due, queue one batch of each running
    notice; returns the messages queued."""
    for notice in session.scalars(select(Notice).where(
            Notice.status == NoticeStatus.scheduled, Notice.send_at <= now)):
        if notice.topic == EMERGENCIES or daytime(profile, now):
            notice.status, notice.started_at = NoticeStatus.sending, now
    session.flush()
    queued = 0
    for notice in session.scalars(select(Notice).where(Notice.status == NoticeStatus.sending)
                                  .order_by(Notice.id)):
        if notice.topic != EMERGENCIES and not daytime(profile, now):
            continue  # the rest waits for the morning
        queued += _queue_batch(session, profile, catalogs, notice, now, batch)
    return queued


def _queue_batch(session: Session, profile: Profile, catalogs: Catalogs, notice: Notice,
                 now: datetime, batch: int) -> int:
    query = (select(Citizen)
             .join(Subscription, and_(Subscription.citizen_id == Citizen.id,
                                      Subscription.topic == notice.topic))
             .where(Citizen.erased_at.is_(None), Citizen.id > notice.cursor_citizen_id)
             .order_by(Citizen.id).limit(batch))
    if notice.settlements:
        query = query.where(Citizen.settlement.in_(notice.settlements))
    citizens = list(session.scalars(query))
    accounts: dict[int, list[ChannelAccount]] = {}
    if citizens:
        for found in session.scalars(select(ChannelAccount).where(
                ChannelAccount.citizen_id.in_([c.id for c in citizens]))):
            accounts.setdefault(found.citizen_id, []).append(found)
    bodies: dict[tuple[str, bool], dict[str, Any]] = {}
    messages: list[dict[str, Any]] = []
    recipients: list[dict[str, Any]] = []
    for citizen in citizens:
        account, unreachable = _pick_account(citizen, accounts.get(citizen.id, []), profile, now)
        hold = unreachable == "no_channel"
        if hold:
            account = waiting_account(citizen, accounts.get(citizen.id, []))
            unreachable = None if account else unreachable
        key = f"notice:{notice.id}:{citizen.id}"
        recipients.append({"notice_id": notice.id, "citizen_id": citizen.id,
                           "unreachable": unreachable, "key": key if account else None})
        if account is None:
            continue
        locale = citizen.language or profile.default_locale
        by_sms = account.channel == SMS
        if (locale, by_sms) not in bodies:
            body = (render_sms if by_sms else render)(catalogs, profile, notice, locale)
            body.locale = locale
            bodies[locale, by_sms] = body.to_json()
        messages.append(bulk_row(account, bodies[locale, by_sms], hold=hold,
                                 purpose=Purpose.notice,
                                 dedupe_key=key, now=now, stale_at=now + FRESH_FOR))
    # One statement each for thousands of rows: the sender shares the
    # process and the platform's rate with this.
    ids: dict[str, int] = {}
    if messages:
        ids = {key: row_id for row_id, key in session.execute(
            insert(OutboxMessage).returning(OutboxMessage.id, OutboxMessage.dedupe_key),
            messages)}
        wake_sender(session)
    if recipients:
        session.execute(insert(NoticeRecipient), [
            {"notice_id": r["notice_id"], "citizen_id": r["citizen_id"],
             "unreachable": r["unreachable"], "outbox_id": ids.get(r["key"] or "")}
            for r in recipients])
    queued = len(messages)
    if citizens:
        notice.cursor_citizen_id = citizens[-1].id
    if len(citizens) < batch:
        notice.status, notice.queued_at = NoticeStatus.sent, now
    return queued


@dataclass(frozen=True)
class Progress:
    recipients: int
    sent: int
    failed: int
    blocked: int
    pending: int
    skipped: int

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def delivery_bucket(unreachable: str | None, status: OutboxStatus | None,
                    blocked: bool) -> str:
    """Which count one recipient is in: sent (or, having waited for the
    citizen, listed in the summary of their next message), failed, blocked (by
    the citizen, before or on the way), pending (queued, or waiting for the
    citizen to write) or skipped (no channel, cancelled)."""
    if unreachable == "blocked":
        return "blocked"
    if unreachable:
        return "skipped"
    if status in (OutboxStatus.sent, OutboxStatus.summarised):
        return "sent"
    if status in (OutboxStatus.queued, OutboxStatus.sending, OutboxStatus.held):
        return "pending"
    if blocked:
        return "blocked"
    if status is OutboxStatus.failed:
        return "failed"
    return "skipped"


def progress(session: Session, notice: Notice) -> Progress:
    """Where delivery stands, from the outbox rows themselves."""
    rows = session.execute(
        select(NoticeRecipient.unreachable, OutboxMessage.status, ChannelAccount.blocked_at)
        .select_from(NoticeRecipient)
        .outerjoin(OutboxMessage, OutboxMessage.id == NoticeRecipient.outbox_id)
        .outerjoin(ChannelAccount, ChannelAccount.id == OutboxMessage.account_id)
        .where(NoticeRecipient.notice_id == notice.id)).all()
    counts = Counter(delivery_bucket(unreachable, status, blocked_at is not None)
                     for unreachable, status, blocked_at in rows)
    return Progress(len(rows), counts["sent"], counts["failed"], counts["blocked"],
                    counts["pending"], counts["skipped"])


# --- public debates --------------------------------------------------------------

def sent_to(session: Session, notice_id: int, citizen: Citizen) -> Notice | None:
    """The notice, if it was sent to this citizen (a recipient row that reached
    them); None for one they never got, so a typed `rsvp:yes:<id>` cannot
    answer a debate the citizen was never invited to."""
    return session.scalar(select(Notice).join(
        NoticeRecipient, NoticeRecipient.notice_id == Notice.id).where(
        Notice.id == notice_id, NoticeRecipient.citizen_id == citizen.id,
        NoticeRecipient.unreachable.is_(None)))


def answer_coming(session: Session, notice: Notice, citizen: Citizen, now: datetime) -> bool:
    """True when counted now; False when this citizen was counted already."""
    exists = session.scalar(select(NoticeAnswer.id).where(
        NoticeAnswer.notice_id == notice.id, NoticeAnswer.citizen_id == citizen.id,
        NoticeAnswer.kind == "coming"))
    if exists is not None:
        return False
    session.add(NoticeAnswer(notice_id=notice.id, citizen_id=citizen.id, kind="coming",
                             settlement=citizen.settlement, created_at=now))
    return True


def add_question(session: Session, notice: Notice, citizen: Citizen, text: str,
                 now: datetime) -> None:
    session.add(NoticeAnswer(notice_id=notice.id, citizen_id=citizen.id, kind="question",
                             text=text.strip()[:QUESTION_MAX], settlement=citizen.settlement,
                             created_at=now))


def answers_by_settlement(session: Session, notice: Notice) -> dict[str, dict[str, int]]:
    """{settlement or "unknown": {"coming": n, "questions": m}}."""
    result: dict[str, dict[str, int]] = {}
    for settlement, kind, count in session.execute(
            select(NoticeAnswer.settlement, NoticeAnswer.kind, func.count())
            .where(NoticeAnswer.notice_id == notice.id)
            .group_by(NoticeAnswer.settlement, NoticeAnswer.kind)):
        key = settlement or "unknown"
        bucket = result.setdefault(key, {"coming": 0, "questions": 0})
        bucket["coming" if kind == "coming" else "questions"] += int(count)
    return result


def questions(session: Session, notice: Notice) -> list[NoticeAnswer]:
    return list(session.scalars(select(NoticeAnswer).where(
        NoticeAnswer.notice_id == notice.id, NoticeAnswer.kind == "question")
        .order_by(NoticeAnswer.id)))


def export_rows(session: Session, notice: Notice,
                label: Callable[[str | None], str]) -> Iterable[list[str]]:
    """For the meeting: one row per answer (no names: settlement, kind, text)."""
    for answer in session.scalars(select(NoticeAnswer).where(
            NoticeAnswer.notice_id == notice.id).order_by(NoticeAnswer.id)):
        yield [answer.created_at.isoformat(), label(answer.settlement), answer.kind,
               answer.text or ""]
