"""SMS citizens: registering a number (an officer at the counter or on the
phone, or the citizen texting a start keyword), STOP, and the monthly budget
of segments.

An SMS citizen is an ordinary `Citizen` with a `ChannelAccount` of channel
"sms" (external_id = chat_id = the number in E.164) and the usual
`Subscription` rows for their topics; `SmsSubscription` records the consent.
Stopping sets the account's `blocked_at`, which the sender already honours
for every channel, so nothing queued before reaches the number either.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.channels.sms_text import without_diacritics
from bot.i18n import Catalogs
from bot.messages import Reply
from bot.models import (
    Booking,
    BookingStatus,
    ChannelAccount,
    Citizen,
    OutboxMessage,
    OutboxStatus,
    Subscription,
)
from bot.models.inbound import InboundStatus, InboundUpdate
from bot.models.sms import SmsConsentSource, SmsKeywordReply, SmsSubscription
from bot.models.staff import Role, StaffUser
from bot.outbox.budget import BUDGET_REACHED, segments_used
from bot.outbox.budget import month_start as month_start  # re-exported for staff pages
from bot.outbox.queue import enqueue, enqueue_to_number
from bot.profile import Profile
from bot.refusals import Invalid
from bot.services.notices import topic_label
from bot.services.notify import alert_officers
from bot.services.phones import normalize_phone

CHANNEL = "sms"
STOPPED = "the number texted STOP"


def sms_account(session: Session, phone: str) -> ChannelAccount | None:
    """The SMS account of a number already in E.164."""
    return session.scalar(select(ChannelAccount).where(
        ChannelAccount.channel == CHANNEL, ChannelAccount.external_id == phone))


def consent(session: Session, account: ChannelAccount) -> SmsSubscription | None:
    return session.scalar(select(SmsSubscription).where(
        SmsSubscription.account_id == account.id))


def is_active(session: Session, account: ChannelAccount) -> bool:
    """Whether the number may be texted: consent given and not stopped."""
    row = consent(session, account)
    return row is not None and row.stopped_at is None and account.blocked_at is None


def register(session: Session, *, phone: str, settlement: str | None, language: str | None,
             topics: list[str] | tuple[str, ...] | set[str] | None,
             source: SmsConsentSource | str, officer: StaffUser | str | None,
             now: datetime) -> Citizen:
    """Register a number for SMS, or register it again after STOP: the account
    unblocked, the consent recorded anew (with the officer for `counter`/
    `phone`). `topics` (None: keep the citizen's topics) become their topics;
    `settlement` and `language`, when given, replace the citizen's. An erased
    citizen's number gets a new citizen; a number an officer booked a
    reception slot for before it had any channel stays that citizen's (the
    booking is told by SMS from now on). `Invalid` for a number that is not one."""
    number = normalize_phone(phone)
    if number is None:
        raise Invalid("invalid_phone", "This is not a phone number.", "phone")
    source = SmsConsentSource(source)
    username = officer.username if isinstance(officer, StaffUser) else officer
    if source is SmsConsentSource.keyword:
        username = None
    account = sms_account(session, number)
    citizen = session.get(Citizen, account.citizen_id) if account is not None else (
        _without_channel(session, number))
    if citizen is None or citizen.erased_at is not None:
        citizen = Citizen(phone=number, created_at=now, last_seen_at=now)
        session.add(citizen)
        session.flush()
    if account is None or account.citizen_id != citizen.id:
        if account is None:
            account = ChannelAccount(citizen_id=citizen.id, channel=CHANNEL, external_id=number,
                                     chat_id=number, first_seen_at=now, last_inbound_at=now)
            session.add(account)
        else:
            account.citizen_id = citizen.id
        session.flush()
    assert account is not None
    # An appointment an officer booked before the number had a channel now
    # has one: its reminder goes by SMS.
    session.execute(update(Booking).where(
        Booking.citizen_id == citizen.id, Booking.account_id.is_(None),
        Booking.status == BookingStatus.booked).values(account_id=account.id))
    citizen.phone = number
    if language is not None:
        citizen.language = language
    if settlement is not None:
        citizen.settlement = settlement
    account.blocked_at = None
    row = consent(session, account)
    if row is None:
        row = SmsSubscription(account_id=account.id, source=source)
        session.add(row)
    row.source, row.registered_by = source, username
    row.consented_at, row.stopped_at = now, None
    if topics is not None:
        wanted = set(topics)
        for sub in session.scalars(select(Subscription).where(
                Subscription.citizen_id == citizen.id)):
            if sub.topic not in wanted:
                session.delete(sub)
            wanted.discard(sub.topic)
        for topic in sorted(wanted):
            session.add(Subscription(citizen_id=citizen.id, topic=topic, created_at=now))
    session.flush()
    return citizen


def _without_channel(session: Session, number: str) -> Citizen | None:
    """The citizen an officer booked a reception slot for by this number
    before it had any channel (no chat, no SMS): the same person."""
    return session.scalar(select(Citizen).where(
        Citizen.phone == number, Citizen.erased_at.is_(None),
        ~select(ChannelAccount.id).where(ChannelAccount.citizen_id == Citizen.id).exists())
        .order_by(Citizen.id.desc()).limit(1))


def stop(session: Session, phone: str, now: datetime) -> bool:
    """STOP: the number is never texted again (its account blocked, its rows
    still queued skipped by the sender). False when it had no active consent."""
    number = normalize_phone(phone) or phone
    account = sms_account(session, number)
    if account is None:
        return False
    row = consent(session, account)
    was_active = row is not None and row.stopped_at is None and account.blocked_at is None
    if row is not None and row.stopped_at is None:
        row.stopped_at = now
    if account.blocked_at is None:
        account.blocked_at = now
    session.execute(update(OutboxMessage).where(
        OutboxMessage.account_id == account.id,
        OutboxMessage.status.in_((OutboxStatus.queued, OutboxStatus.held)),
    ).values(status=OutboxStatus.skipped, last_error=STOPPED))
    session.flush()
    return was_active


def month_segments_used(session: Session, now: datetime, tz: tzinfo = UTC) -> int:
    """Segments of the SMS sent this calendar month (in `tz`: the profile's),
    with those on their way — what the sender counts against the budget."""
    return segments_used(session, now, tz)


def budget_left(session: Session, profile: Profile, now: datetime) -> int:
    """Segments that may still go this month (Klokot's month); never negative."""
    return max(0, profile.sms.monthly_segment_budget
               - month_segments_used(session, now, profile.tz))


# --- the budget, for staff -------------------------------------------------------

@dataclass(frozen=True)
class BudgetState:
    """This month's SMS spending: segments used (sent and on their way), the
    profile's budget, what is left, its cost so far, and whether SMS were
    already held back for it (`stopped`: rows skipped "sms budget reached")."""

    used: int
    budget: int
    left: int
    cost: float
    currency: str
    stopped: bool

    @property
    def reached(self) -> bool:
        return self.left <= 0 or self.stopped


def budget_state(session: Session, profile: Profile, now: datetime) -> BudgetState:
    used = month_segments_used(session, now, profile.tz)
    stopped = session.scalar(select(OutboxMessage.id).where(
        OutboxMessage.channel == CHANNEL, OutboxMessage.status == OutboxStatus.skipped,
        OutboxMessage.last_error == BUDGET_REACHED,
        OutboxMessage.next_attempt_at >= month_start(now, profile.tz)).limit(1)) is not None
    budget = profile.sms.monthly_segment_budget
    return BudgetState(used=used, budget=budget, left=max(0, budget - used),
                       cost=profile.sms.cost(used), currency=profile.sms.currency,
                       stopped=stopped)


def alert_when_budget_reached(session: Session, profile: Profile, catalogs: Catalogs,
                              now: datetime) -> bool:
    """A timer's work: once the month's budget is used up (or an SMS was held
    back for it), the admins and the Office for Information are alerted on
    their chat — once per month. True when the alert was queued now."""
    if not profile.sms.enabled:
        return False
    state = budget_state(session, profile, now)
    if not state.reached:
        return False
    month = now.astimezone(profile.tz).strftime("%Y-%m")
    rows = alert_officers(
        session, profile, catalogs, roles=(Role.admin, Role.info_office),
        message=lambda t: Reply(text=t("sms.budget_reached", used=state.used,
                                       budget=state.budget, month=month)),
        once_per=f"sms-budget:{month}")
    return bool(rows)


# --- texts that arrive -----------------------------------------------------------

class Keyword(enum.StrEnum):
    start = "start"
    stop = "stop"


class InboundOutcome(enum.StrEnum):
    """What an incoming SMS did (logged and kept on its inbound record)."""

    started = "started"  # signed up (or again after STOP); the welcome queued
    welcomed_again = "welcomed_again"  # a start keyword from a subscriber: the welcome again
    stopped = "stopped"  # unsubscribed; the confirmation queued
    keywords = "keywords"  # any other text: the keywords explained
    quiet = "quiet"  # nothing sent: today's reply went already, or the number is stopped
    duplicate = "duplicate"  # Twilio delivered the same message again


_EDGES = re.compile(r"^[\W_]+|[\W_]+$")


def _fold(text: str) -> str:
    """A keyword as compared: capitals, no diacritics (Serbian's đ as dj,
    Albanian's ç and ë as c and e), no punctuation around it."""
    bare = unicodedata.normalize("NFKD", without_diacritics(_EDGES.sub("", text.strip())))
    return "".join(ch for ch in bare if not unicodedata.combining(ch)).upper()


def keyword(profile: Profile, text: str) -> tuple[Keyword, str | None] | None:
    """Whether a text is one keyword (its case, diacritics and surrounding
    punctuation ignored), which, and its language (None: one of the profile's
    `any` words)."""
    folded = _fold(text)
    if not folded or len(folded) > 32:
        return None
    for kind, table in ((Keyword.stop, profile.sms.stop_keywords),
                        (Keyword.start, profile.sms.start_keywords)):
        for language, words in table.items():
            if folded in {_fold(word) for word in words}:
                return kind, None if language == "any" else language
    return None


def _topic_list(profile: Profile, session: Session, citizen: Citizen, locale: str) -> str:
    topics = [sub.topic for sub in session.scalars(select(Subscription).where(
        Subscription.citizen_id == citizen.id).order_by(Subscription.id))]
    order = profile.topic_codes()
    topics.sort(key=lambda code: order.index(code) if code in order else len(order))
    return ", ".join(topic_label(profile, code, locale) for code in topics)


def _reply_languages(profile: Profile) -> list[str]:
    """The languages of a reply to a stranger: the profile's, Serbian once
    (in Latin letters: the same language, and GSM-7 once without diacritics)."""
    languages = list(profile.enabled_locales)
    if "sr_Latn" in languages and "sr_Cyrl" in languages:
        languages.remove("sr_Cyrl")
    return languages


def _keywords_reply(profile: Profile, catalogs: Catalogs, locales: list[str]) -> Reply:
    texts = [catalogs.gettext(locale, "sms.keywords",
                              municipality=profile.municipality_name(locale),
                              phone=profile.localized_contact("phone", locale))
             for locale in locales]
    plain = profile.sms.plain_letters()
    if len(locales) > 1 and plain:
        # Several languages: the provider strips nothing, so each part here.
        texts = [without_diacritics(text, locale) if locale in plain else text
                 for locale, text in zip(locales, texts, strict=True)]
    return Reply(text="\n\n".join(texts), locale=locales[0] if len(locales) == 1 else None)


def welcome(session: Session, profile: Profile, catalogs: Catalogs, citizen: Citizen,
            locale: str) -> Reply:
    """What a number just signed up gets: the topics it will hear about and
    how to stop — by a keyword, or at the counter (where it also proves the
    officer wrote the number right)."""
    return Reply(text=catalogs.gettext(
        locale, "sms.welcome", municipality=profile.municipality_name(locale),
        topics=_topic_list(profile, session, citizen, locale)), locale=locale)


def _first_reply_today(session: Session, profile: Profile, phone: str, now: datetime) -> bool:
    """Claims today's one automatic reply for this number (Klokot's day)."""
    day = now.astimezone(profile.tz).date()
    try:
        with session.begin_nested():
            session.add(SmsKeywordReply(phone=phone, day=day, created_at=now))
            session.flush()
    except IntegrityError:
        return False
    return True


def handle_inbound(session: Session, profile: Profile, catalogs: Catalogs, *, phone: str,
                   text: str, message_sid: str, now: datetime) -> InboundOutcome:
    """One SMS to the municipality's number (its signature already checked).
    A start keyword signs the number up (in the keyword's language, else the
    profile's default) and is answered with what they will get and how to
    stop; STOP ends every SMS at once and is confirmed once; any other text
    from a stranger or a subscriber gets the keywords explained, at most once
    a day. Every answer goes through the outbox. No conversation flows by SMS."""
    if session.scalar(select(InboundUpdate.id).where(
            InboundUpdate.channel == CHANNEL, InboundUpdate.update_key == message_sid)):
        return InboundOutcome.duplicate
    number = normalize_phone(phone) or phone
    account = sms_account(session, number)
    found = keyword(profile, text)
    outcome = InboundOutcome.quiet
    if account is not None:
        account.last_inbound_at = now
    if found is not None and found[0] is Keyword.stop:
        if account is not None and stop(session, number, now):
            citizen = session.get(Citizen, account.citizen_id)
            locale = found[1] or (citizen.language if citizen else None) \
                or profile.default_locale
            reply = Reply(text=catalogs.gettext(locale, "sms.stopped",
                                                municipality=profile.municipality_name(locale)),
                          locale=locale)
            enqueue_to_number(session, CHANNEL, number, reply, now=now)
            outcome = InboundOutcome.stopped
    elif found is not None:
        active = account is not None and is_active(session, account)
        if active and not _first_reply_today(session, profile, number, now):
            outcome = InboundOutcome.quiet
        else:
            citizen = session.get(Citizen, account.citizen_id) if account else None
            known = citizen is not None and citizen.erased_at is None
            language = found[1] or (citizen.language if known and citizen else None) \
                or profile.default_locale
            has_topics = known and citizen is not None and session.scalar(
                select(Subscription.id).where(Subscription.citizen_id == citizen.id).limit(1))
            if not active:
                citizen = register(session, phone=number, settlement=None, language=language,
                                   topics=None if has_topics else profile.sms.keyword_topics,
                                   source=SmsConsentSource.keyword, officer=None, now=now)
            assert citizen is not None
            account = sms_account(session, number)
            assert account is not None
            enqueue(session, account, welcome(session, profile, catalogs, citizen,
                                              citizen.language or language),
                    profile=profile, now=now)
            outcome = InboundOutcome.welcomed_again if active else InboundOutcome.started
    else:
        stopped = account is not None and not is_active(session, account) and (
            account.blocked_at is not None)
        if not stopped and _first_reply_today(session, profile, number, now):
            citizen = session.get(Citizen, account.citizen_id) if account else None
            if account is not None and citizen is not None and citizen.erased_at is None \
                    and citizen.language and is_active(session, account):
                enqueue(session, account, _keywords_reply(profile, catalogs, [citizen.language]),
                        profile=profile, now=now)
            else:
                enqueue_to_number(session, CHANNEL, number,
                                  _keywords_reply(profile, catalogs, _reply_languages(profile)),
                                  now=now)
            outcome = InboundOutcome.keywords
    session.add(InboundUpdate(
        channel=CHANNEL, update_key=message_sid, kind=f"sms_{outcome.value}"[:24],
        account_id=account.id if account is not None else None,
        status=InboundStatus.handled if outcome is not InboundOutcome.quiet
        else InboundStatus.ignored, received_at=now))
    session.flush()
    return outcome


# --- delivery reports ------------------------------------------------------------

# Twilio's statuses in the order a message passes them; a late callback of an
# earlier one (they may arrive out of order) does not undo a later one.
_STATUS_RANK = {"accepted": 0, "scheduled": 0, "queued": 1, "sending": 2, "sent": 3,
                "delivered": 4, "partial": 4, "read": 5, "undelivered": 4,
                "failed": 4, "canceled": 4}
# Kept under a shorter name: `delivery_status` holds 16 characters.
_STORED_AS = {"partially_delivered": "partial"}


def record_status(session: Session, *, message_sid: str, status: str,
                  error_code: str | None, now: datetime) -> bool:
    """A delivery status callback: the outbox row Twilio's SID names gets the
    status (an undelivered or failed one its error code in `last_error`).
    False for a SID we never sent (ignored)."""
    row = session.scalar(select(OutboxMessage).where(
        OutboxMessage.channel == CHANNEL, OutboxMessage.provider_message_id == message_sid))
    if row is None:
        return False
    status = _STORED_AS.get(status, status)
    if _STATUS_RANK.get(status, 0) >= _STATUS_RANK.get(row.delivery_status or "", -1):
        row.delivery_status = status
        if status in ("undelivered", "failed"):
            row.last_error = f"Twilio: {status}" + (f" (error {error_code})" if error_code
                                                    else "")
    session.flush()
    return True
