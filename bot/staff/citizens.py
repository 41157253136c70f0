"""Citizens who wrote to the bot, as staff see them: the list with its
filters and one citizen — for the roles that see the list (SPEC §3.7) —, how
many match for every role, and the audit of every answer that showed a name
or a phone (only roles with full access to personal data see them here)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import Select, exists, func, select
from sqlalchemy.orm import Session, selectinload

from bot.models import ChannelAccount, Citizen
from bot.models.staff import StaffUser
from bot.profile import Profile
from bot.refusals import Forbidden
from bot.staff import audit
from bot.staff.permissions import sees_citizen_list, shows_personal
from bot.staff.query import (
    PageWindow,
    as_utc,
    check_choice,
    matching,
    one,
    paginate,
    sorted_by,
    within,
)

CHANNELS = ("telegram", "viber", "terminal")
Channel = Literal["telegram", "viber", "terminal"]
SORTS = ("id", "first_seen_at", "last_seen_at")


class ChannelOut(BaseModel):
    channel: str
    blocked: bool


class CitizenOut(BaseModel):
    """When a citizen was first and last seen, staff know to the day (UTC):
    every role reads survey results, and a time to the second beside a poll
    of an anonymous survey's results told whose answer had just come in."""

    id: int
    language: str | None
    settlement: str | None
    channels: list[ChannelOut]
    subscribed: bool
    first_seen_on: date = Field(description="The day (UTC) the citizen first wrote")
    last_seen_on: date = Field(description="The day (UTC) the citizen last wrote")
    erased: bool
    full_name: str | None = None
    phone: str | None = None


class CitizenFilters(BaseModel):
    """`language` and `settlement` take the profile's codes (see the schema's enums).
    The seen-bounds count whole days (UTC): a bound's time is ignored, the
    lower one meaning its day's start and the upper one its day's end."""

    channel: Channel | None = None
    language: str | None = Field(None, max_length=16)
    settlement: str | None = Field(None, max_length=32)
    subscribed: bool | None = None
    first_seen_from: datetime | None = None
    first_seen_to: datetime | None = None
    last_seen_from: datetime | None = None
    last_seen_to: datetime | None = None

    @field_validator("first_seen_from", "last_seen_from")
    @classmethod
    def _day_start(cls, value: datetime | None) -> datetime | None:
        moment = as_utc(value)
        return datetime.combine(moment.astimezone(UTC).date(), time.min, UTC) if moment else None

    @field_validator("first_seen_to", "last_seen_to")
    @classmethod
    def _day_end(cls, value: datetime | None) -> datetime | None:
        moment = as_utc(value)
        return datetime.combine(moment.astimezone(UTC).date(), time.max, UTC) if moment else None


def utc_day(column: Any, postgres: bool) -> Any:
    """The UTC day of a timestamp column, in SQL (PostgreSQL's `date()` would
    take the session's time zone)."""
    return func.date(func.timezone("UTC", column) if postgres else column)


def citizen_out(citizen: Citizen, personal: bool) -> CitizenOut:
    return CitizenOut(
        id=citizen.id, language=citizen.language, settlement=citizen.settlement,
        channels=[ChannelOut(channel=a.channel, blocked=a.blocked_at is not None)
                  for a in citizen.accounts],
        subscribed=any(a.blocked_at is None for a in citizen.accounts),
        first_seen_on=citizen.created_at.astimezone(UTC).date(),
        last_seen_on=citizen.last_seen_at.astimezone(UTC).date(),
        erased=citizen.erased_at is not None,
        full_name=citizen.full_name if personal else None,
        phone=citizen.phone if personal else None,
    )


class CountOut(BaseModel):
    total: int = Field(description="Citizens matching the filters")


def check_list_allowed(staff: StaffUser) -> None:
    """Department officers and viewers see counts, not who the citizens are."""
    if not sees_citizen_list(staff):
        raise Forbidden("counts_only", f"the {staff.role.value} role sees how many citizens "
                        "match (GET /api/v1/citizens/count), not the list")


def count_citizens(session: Session, profile: Profile, filters: CitizenFilters) -> int:
    """How many citizens match the filters; every role may know that."""
    return int(session.scalar(select(func.count()).select_from(
        citizens_query(profile, filters).subquery())) or 0)


def citizens_query(profile: Profile, filters: CitizenFilters) -> Select[Any]:
    """The citizens matching the filters, unordered; unknown codes are refused."""
    check_choice("channel", filters.channel, CHANNELS)
    check_choice("language", filters.language, profile.enabled_locales)
    check_choice("settlement", filters.settlement, profile.settlement_codes())
    stmt = select(Citizen)
    if filters.channel:
        stmt = stmt.where(exists().where(ChannelAccount.citizen_id == Citizen.id,
                                         ChannelAccount.channel == filters.channel))
    stmt = matching(stmt, (Citizen.language, filters.language),
                    (Citizen.settlement, filters.settlement))
    if filters.subscribed is not None:
        reachable = exists().where(ChannelAccount.citizen_id == Citizen.id,
                                   ChannelAccount.blocked_at.is_(None))
        stmt = stmt.where(reachable if filters.subscribed else ~reachable)
    stmt = within(stmt, Citizen.created_at, filters.first_seen_from, filters.first_seen_to)
    stmt = within(stmt, Citizen.last_seen_at, filters.last_seen_from, filters.last_seen_to)
    return stmt


def list_citizens(session: Session, profile: Profile, filters: CitizenFilters,
                  page: PageWindow) -> tuple[list[Citizen], int]:
    """The query behind the API list and the staff page. Sorting by when a
    citizen was seen sorts by the day (then newest citizen first), never by
    the time within it."""
    postgres = session.get_bind().dialect.name == "postgresql"
    stmt = sorted_by(citizens_query(profile, filters).options(selectinload(Citizen.accounts)),
                     page.sort,
                     {"id": Citizen.id, "first_seen_at": utc_day(Citizen.created_at, postgres),
                      "last_seen_at": utc_day(Citizen.last_seen_at, postgres)},
                     default=[Citizen.id.desc()])
    return paginate(session, stmt, page)


def audit_shown(session: Session, staff: StaffUser, rows: list[Citizen],
                ip: str | None) -> bool:
    """Whether this officer sees the page's names and phones; when so, which
    citizens were shown is audited."""
    personal = shows_personal(staff, own_items=False)
    if personal and rows:
        audit.record(session, staff, "citizen.list", object_type="citizen",
                     detail="ids " + ",".join(str(c.id) for c in rows), ip=ip)
    return personal


def shown_citizen(session: Session, staff: StaffUser, citizen_id: int,
                  ip: str | None) -> CitizenOut:
    """One citizen; viewing their personal data is audited."""
    check_list_allowed(staff)
    found = one(session, select(Citizen).where(Citizen.id == citizen_id),
                f"no citizen {citizen_id}")
    personal = shows_personal(staff, own_items=False)
    if personal:
        audit.record(session, staff, "citizen.view", object_type="citizen",
                     object_id=citizen_id, ip=ip)
    return citizen_out(found, personal)
