"""Telling people something the bot starts: a citizen about their booking,
request or complaint, and officers in their own chat (linked with
`/staff CODE`) — an urgent reception request, a new complaint, what is due
today. One place finds the chat (never an erased citizen's; a blocked
account's message is recorded as skipped by the outbox), renders the message
in the reader's language, and queues it through the outbox.

A citizen registered for SMS (issue #19) is told by SMS what has an SMS form
(`sms=`: a reminder, "your request changed — call or visit"): when they
chose SMS as where notices go, when SMS is their only channel, or when the
chat they wrote from is blocked. Everything else stays on the chat."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import utcnow
from bot.i18n import Catalogs, Translate
from bot.messages import Reply
from bot.models import ChannelAccount, Citizen, OutboxMessage
from bot.models.sms import SmsSubscription
from bot.models.staff import Role, StaffUser
from bot.outbox.queue import Purpose, enqueue, enqueue_once
from bot.profile import Profile


def citizen_chat(session: Session, citizen_id: int | None,
                 account_id: int | None) -> tuple[Citizen, ChannelAccount] | None:
    """Where the bot can tell a citizen something: the account they wrote
    from. None for Open311 reports, lost accounts and erased citizens."""
    if citizen_id is None or account_id is None:
        return None
    citizen = session.get(Citizen, citizen_id)
    account = session.get(ChannelAccount, account_id)
    if citizen is None or account is None or citizen.erased_at is not None:
        return None
    return citizen, account


SMS = "sms"


def _sms_active(session: Session, account: ChannelAccount) -> bool:
    """Consent given and not stopped (bot.services.sms imports this module,
    so the rule is read here from the tables)."""
    consent = session.scalar(select(SmsSubscription).where(
        SmsSubscription.account_id == account.id))
    return consent is not None and consent.stopped_at is None and account.blocked_at is None


def sms_account_for(session: Session, citizen: Citizen,
                    account: ChannelAccount) -> ChannelAccount | None:
    """The citizen's SMS account when a message with an SMS form goes there:
    SMS is where they chose notices to go, the item's own account, or the
    one open channel left. None: the chat it is."""
    if account.channel == SMS:
        return account
    chosen = (session.get(ChannelAccount, citizen.notice_account_id)
              if citizen.notice_account_id is not None else None)
    if chosen is not None and chosen.channel == SMS \
            and chosen.citizen_id == citizen.id and _sms_active(session, chosen):
        return chosen
    if account.blocked_at is not None:
        for other in session.scalars(select(ChannelAccount).where(
                ChannelAccount.citizen_id == citizen.id,
                ChannelAccount.channel == SMS)):
            if _sms_active(session, other):
                return other
    return None


def tell_citizen(
    session: Session,
    profile: Profile,
    catalogs: Catalogs,
    *,
    citizen_id: int | None,
    account_id: int | None,
    message: Callable[[Translate, str], Reply | list[Reply]],
    now: datetime,
    purpose: Purpose = Purpose.other,
    dedupe_key: str | None = None,
    brief: Callable[[Translate, str], str] | None = None,
    stale_at: datetime | None = None,
    sms: Callable[[Translate, str], Reply] | None = None,
) -> bool:
    """Queue a message to the citizen, rendered by `message(t, locale)` in the
    citizen's language (one reply, or several in order). With `dedupe_key`
    (for timers), it is queued at most once ever. False when nobody can be
    told, or when it had been queued already.

    `purpose` decides what happens where the channel may not carry it now
    (Viber outside the session, bot-started messages off): what must reach
    the citizen goes all the same; the rest waits for their next message,
    listed in its summary as `brief(t, locale)` (else the text, shortened) —
    by its title only after `stale_at`. `sms(t, locale)` is its short form for
    a citizen reached by SMS (see `sms_account_for`); without one it stays on
    the chat."""
    found = citizen_chat(session, citizen_id, account_id)
    if found is None:
        return False
    citizen, account = found
    locale = citizen.language or profile.default_locale
    t = catalogs.translator(locale)
    by_sms = sms_account_for(session, citizen, account) if sms is not None else None
    if by_sms is not None and sms is not None:
        account, message = by_sms, sms
    made = message(t, locale)
    replies = made if isinstance(made, list) else [made]
    line = brief(t, locale) if brief is not None else None
    for reply in replies:
        reply.locale = reply.locale or locale
    if dedupe_key is not None:
        return all(enqueue_once(session, account, reply, dedupe_key=dedupe_key if i == 0
                                else f"{dedupe_key}:{i}", profile=profile, now=now,
                                purpose=purpose, brief=line, stale_at=stale_at) is not None
                   for i, reply in enumerate(replies))
    for reply in replies:
        enqueue(session, account, reply, profile=profile, origin="bot", now=now,
                purpose=purpose, brief=line, stale_at=stale_at)
    return True


def alert_officers(
    session: Session,
    profile: Profile,
    catalogs: Catalogs,
    *,
    roles: tuple[Role, ...],
    department: str | None = None,
    message: Callable[[Translate], Reply],
    once_per: str | None = None,
    purpose: Purpose = Purpose.staff_alert,
) -> list[OutboxMessage]:
    """Queue an alert to every active officer of these roles (and department)
    who linked their chat, each in the officer's own language. `message` gets
    a translate function `t(key, **params)` and returns the reply. With
    `once_per` (e.g. a date), each officer gets it once for that key, however
    often this runs."""
    query = (
        select(StaffUser, ChannelAccount)
        .join(ChannelAccount, ChannelAccount.id == StaffUser.chat_account_id)
        .where(StaffUser.role.in_(roles), StaffUser.disabled_at.is_(None))
    )
    if department is not None:
        query = query.where(StaffUser.department == department)
    queued = []
    now = utcnow()
    for staff, account in session.execute(query).all():
        t = catalogs.translator(staff.language)
        reply = message(t)
        reply.locale = reply.locale or staff.language
        if once_per is None:
            queued.append(enqueue(session, account, reply, profile=profile,
                                  origin="bot", now=now, purpose=purpose))
        elif row := enqueue_once(session, account, reply, profile=profile, now=now,
                                 dedupe_key=f"alert:{once_per}:{staff.id}", purpose=purpose):
            queued.append(row)
    return queued
