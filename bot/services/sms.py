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

from datetime import UTC, datetime, tzinfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.models import ChannelAccount, Citizen, OutboxMessage, OutboxStatus, Subscription
from bot.models.sms import SmsConsentSource, SmsSubscription
from bot.models.staff import StaffUser
from bot.profile import Profile
from bot.refusals import Invalid
from bot.services.phones import normalize_phone

CHANNEL = "sms"


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
    citizen's number gets a new citizen. `Invalid` for a number that is not one."""
    number = normalize_phone(phone)
    if number is None:
        raise Invalid("invalid_phone", "This is not a phone number.", "phone")
    source = SmsConsentSource(source)
    username = officer.username if isinstance(officer, StaffUser) else officer
    if source is SmsConsentSource.keyword:
        username = None
    account = sms_account(session, number)
    citizen = session.get(Citizen, account.citizen_id) if account is not None else None
    if citizen is None or citizen.erased_at is not None:
        citizen = Citizen(phone=number, created_at=now, last_seen_at=now)
        session.add(citizen)
        session.flush()
        if account is None:
            account = ChannelAccount(citizen_id=citizen.id, channel=CHANNEL, external_id=number,
                                     chat_id=number, first_seen_at=now, last_inbound_at=now)
            session.add(account)
        else:
            account.citizen_id = citizen.id
        session.flush()
    assert account is not None
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
    session.flush()
    return was_active


def month_start(now: datetime, tz: tzinfo = UTC) -> datetime:
    """The first moment of `now`'s calendar month in `tz`, in UTC."""
    local = now.astimezone(tz)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def month_segments_used(session: Session, now: datetime, tz: tzinfo = UTC) -> int:
    """Segments of the SMS sent this calendar month (in `tz`: the profile's)."""
    used = session.scalar(select(func.coalesce(func.sum(OutboxMessage.segments), 0)).where(
        OutboxMessage.channel == CHANNEL, OutboxMessage.status == OutboxStatus.sent,
        OutboxMessage.sent_at >= month_start(now, tz)))
    return int(used or 0)


def budget_left(session: Session, profile: Profile, now: datetime) -> int:
    """Segments that may still go this month (Klokot's month); never negative."""
    return max(0, profile.sms.monthly_segment_budget
               - month_segments_used(session, now, profile.tz))
