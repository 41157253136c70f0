"""SMS subscribers as staff handle them (issue #19): the list with each
number's state, registering a number for an older citizen at the counter or
on the phone (their settlement, language and topics, the consent recorded
with the officer and the date), and stopping it when the citizen asks.

The rules of a registration are the service's (bot.services.sms); here are
the checks of what the officer typed (`Invalid` naming the field), a second
registration of an active number (`Conflict`), and the audit entries: every
registration and stop, and every list that showed phone numbers. The API
(bot.admin.api.sms) and the pages (bot.admin.sms_pages) both call these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from bot.i18n import Catalogs
from bot.models import ChannelAccount, Citizen, Subscription
from bot.models.sms import SmsConsentSource, SmsSubscription
from bot.models.staff import StaffUser
from bot.outbox.queue import Purpose, enqueue
from bot.profile import Profile
from bot.refusals import Conflict, Invalid, NotFound
from bot.services import sms as service
from bot.services.phones import normalize_phone
from bot.staff import audit
from bot.staff.query import PageWindow, check_choice, one, paginate, sorted_by

# What an officer may record: the citizen stood at the counter or called.
OFFICER_SOURCES = (SmsConsentSource.counter.value, SmsConsentSource.phone.value)
State = Literal["active", "stopped"]


# --- shapes ---------------------------------------------------------------------------

class SubscriberOut(BaseModel):
    """One SMS number with its consent: who registered it and when, and
    whether it was stopped."""

    id: int = Field(description="The SMS registration's id")
    citizen_id: int
    phone: str = Field(description="The number in E.164")
    settlement: str | None
    language: str | None
    topics: list[str]
    source: SmsConsentSource = Field(description="counter or phone: registered by an "
                                                 "officer; keyword: the citizen texted it")
    registered_by: str | None = Field(description="The officer's username")
    consented_at: datetime
    stopped_at: datetime | None
    active: bool
    chat: bool = Field(description="The citizen also uses the chat (Telegram or Viber)")


class BudgetOut(BaseModel):
    """This month's SMS spending (Klokot's month): when `reached`, no more SMS
    go until the next month (the chat goes on)."""

    used: int = Field(description="Segments sent or on their way this month")
    budget: int = Field(description="The profile's monthly budget in segments")
    left: int
    cost: float = Field(description="What the used segments cost, in `currency`")
    currency: str
    reached: bool = Field(description="The budget is used up, or SMS were held back for it")


def budget(session: Session, profile: Profile, now: datetime) -> BudgetOut:
    state = service.budget_state(session, profile, now)
    return BudgetOut(used=state.used, budget=state.budget, left=state.left, cost=state.cost,
                     currency=state.currency, reached=state.reached)


class SubscriberFilters(BaseModel):
    """The list's filters, for the API's query and the page's form alike."""

    state: State | None = None
    settlement: str | None = Field(None, max_length=32)
    source: SmsConsentSource | None = None


def check_filters(profile: Profile, filters: SubscriberFilters) -> None:
    check_choice("settlement", filters.settlement, profile.settlement_codes())


# --- the list --------------------------------------------------------------------------

def _query(profile: Profile, filters: SubscriberFilters) -> Select[Any]:
    check_filters(profile, filters)
    stmt = (select(SmsSubscription, ChannelAccount, Citizen)
            .join(ChannelAccount, ChannelAccount.id == SmsSubscription.account_id)
            .join(Citizen, Citizen.id == ChannelAccount.citizen_id)
            .where(Citizen.erased_at.is_(None)))
    if filters.state == "active":
        stmt = stmt.where(SmsSubscription.stopped_at.is_(None),
                          ChannelAccount.blocked_at.is_(None))
    elif filters.state == "stopped":
        stmt = stmt.where((SmsSubscription.stopped_at.is_not(None))
                          | (ChannelAccount.blocked_at.is_not(None)))
    if filters.settlement:
        stmt = stmt.where(Citizen.settlement == filters.settlement)
    if filters.source is not None:
        stmt = stmt.where(SmsSubscription.source == filters.source)
    return stmt


def _out(session: Session, row: SmsSubscription, account: ChannelAccount,
         citizen: Citizen) -> SubscriberOut:
    topics = sorted(session.scalars(select(Subscription.topic).where(
        Subscription.citizen_id == citizen.id)))
    chat = session.scalar(select(ChannelAccount.id).where(
        ChannelAccount.citizen_id == citizen.id, ChannelAccount.channel != service.CHANNEL)
        .limit(1)) is not None
    return SubscriberOut(
        id=row.id, citizen_id=citizen.id, phone=account.external_id,
        settlement=citizen.settlement, language=citizen.language, topics=topics,
        source=row.source, registered_by=row.registered_by, consented_at=row.consented_at,
        stopped_at=row.stopped_at,
        active=row.stopped_at is None and account.blocked_at is None, chat=chat)


def list_subscribers(session: Session, profile: Profile, staff: StaffUser,
                     filters: SubscriberFilters, page: PageWindow, *,
                     ip: str | None) -> tuple[list[SubscriberOut], int]:
    """Newest registration first; the phones shown are audited."""
    stmt = sorted_by(_query(profile, filters), page.sort,
                     {"consented_at": SmsSubscription.consented_at},
                     default=[SmsSubscription.consented_at.desc(), SmsSubscription.id.desc()])
    rows, total = paginate(session, stmt, page)
    items = [_out(session, sub, account, citizen) for sub, account, citizen in rows]
    audit.record_shown(session, staff, "sms.view", "citizen",
                       [str(item.citizen_id) for item in items], ip, detail="sms subscribers")
    return items, total


def find(session: Session, subscription_id: int) -> tuple[SmsSubscription, ChannelAccount,
                                                          Citizen]:
    found = one(session, select(SmsSubscription).where(SmsSubscription.id == subscription_id),
                f"no SMS registration {subscription_id}")
    account = session.get(ChannelAccount, found.account_id)
    citizen = session.get(Citizen, account.citizen_id) if account is not None else None
    if account is None or citizen is None or citizen.erased_at is not None:
        raise NotFound("not_found", f"no SMS registration {subscription_id}")
    return found, account, citizen


# --- actions: a change and its audit entry ---------------------------------------------

@dataclass(frozen=True)
class Registration:
    """What the officer wrote down with the citizen."""

    phone: str
    settlement: str
    language: str
    topics: list[str]
    source: str = SmsConsentSource.counter.value


def _field_error(code: str, detail: str, field: str) -> Invalid:
    return Invalid(code, detail, field, errors=[{"loc": ["body", field], "msg": detail}])


def check(session: Session, profile: Profile, form: Registration) -> str:
    """The number in E.164, or `Invalid` naming the field to fix; `Conflict`
    when the number is registered and active already."""
    phone = normalize_phone(form.phone)
    if phone is None:
        raise _field_error("invalid_phone", "not a phone number", "phone")
    if form.settlement not in profile.settlement_codes():
        raise _field_error("unknown_settlement", f"no settlement {form.settlement[:32]!r}",
                           "settlement")
    if form.language not in profile.enabled_locales:
        raise _field_error("unknown_language", f"no language {form.language[:16]!r}",
                           "language")
    unknown = [topic for topic in form.topics if topic not in profile.topic_codes()]
    if unknown:
        raise _field_error("unknown_topic", f"no topic {unknown[0][:32]!r}", "topics")
    if not form.topics:
        raise _field_error("no_topic", "choose at least one topic", "topics")
    if form.source not in OFFICER_SOURCES:
        raise _field_error("invalid_source", "counter or phone", "source")
    account = service.sms_account(session, phone)
    if account is not None and service.is_active(session, account):
        citizen = session.get(Citizen, account.citizen_id)
        if citizen is not None and citizen.erased_at is None:
            raise Conflict("already_registered", f"{phone} is registered for SMS already",
                           "phone")
    return phone


def snapshot(item: SubscriberOut) -> dict[str, Any]:
    return {"phone": item.phone, "settlement": item.settlement, "language": item.language,
            "topics": item.topics, "source": item.source.value,
            "registered_by": item.registered_by, "consented_at": item.consented_at.isoformat(),
            "stopped_at": item.stopped_at.isoformat() if item.stopped_at else None}


def act_register(session: Session, profile: Profile, catalogs: Catalogs, staff: StaffUser,
                 form: Registration, *, ip: str | None, now: datetime) -> SubscriberOut:
    """Register the number (or register it again after STOP), the consent
    recorded with this officer and now; the number gets the welcome SMS
    (its topics, and STOP to end them)."""
    phone = check(session, profile, form)
    citizen = service.register(session, phone=phone, settlement=form.settlement,
                               language=form.language, topics=sorted(set(form.topics)),
                               source=form.source, officer=staff, now=now)
    account = service.sms_account(session, phone)
    assert account is not None
    enqueue(session, account, service.welcome(session, profile, catalogs, citizen,
                                              citizen.language or profile.default_locale),
            profile=profile, origin="bot", purpose=Purpose.other, now=now)
    sub = service.consent(session, account)
    assert sub is not None
    sub_, account_, citizen = find(session, sub.id)
    item = _out(session, sub_, account_, citizen)
    audit.record(session, staff, "sms.register", object_type="citizen",
                 object_id=citizen.id, before=None, after=snapshot(item), ip=ip)
    return item


def act_stop(session: Session, staff: StaffUser, subscription_id: int, *, ip: str | None,
             now: datetime) -> SubscriberOut:
    """The citizen asked to get no more SMS; a stopped number is a `Conflict`."""
    row, account, citizen = find(session, subscription_id)
    if not service.stop(session, account.external_id, now):
        raise Conflict("already_stopped", f"SMS registration {subscription_id} is stopped "
                                          "already")
    item = _out(session, row, account, citizen)
    audit.record(session, staff, "sms.stop", object_type="citizen", object_id=citizen.id,
                 before={"active": True}, after={"active": False,
                                                 "stopped_at": now.isoformat()}, ip=ip)
    return item
