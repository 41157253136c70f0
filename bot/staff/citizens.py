"""Citizens who wrote to the bot, as staff see them: the list with its
filters and one citizen — for the roles that see the list (SPEC §3.7) —, how
many match for every role, and the audit of every answer that showed a name
or a phone (only roles with full access to personal data see them here)."""

from __future__ import annotations

from datetime import datetime
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
    id: int
    language: str | None
    settlement: str | None
    channels: list[ChannelOut]
    subscribed: bool
    first_seen_at: datetime
    last_seen_at: datetime
    erased: bool
    full_name: str | None = None
    phone: str | None = None


class CitizenFilters(BaseModel):
    """`language` and `settlement` take the profile's codes (see the schema's enums)."""

    channel: Channel | None = None
    language: str | None = Field(None, max_length=16)
    settlement: str | None = Field(None, max_length=32)
    subscribed: bool | None = None
    first_seen_from: datetime | None = None
    first_seen_to: datetime | None = None
    last_seen_from: datetime | None = None
    last_seen_to: datetime | None = None

    @field_validator("first_seen_from", "first_seen_to", "last_seen_from", "last_seen_to")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        return as_utc(value)


def citizen_out(citizen: Citizen, personal: bool) -> CitizenOut:
    return CitizenOut(
        id=citizen.id, language=citizen.language, settlement=citizen.settlement,
        channels=[ChannelOut(channel=a.channel, blocked=a.blocked_at is not None)
                  for a in citizen.accounts],
        subscribed=any(a.blocked_at is None for a in citizen.accounts),
        first_seen_at=citizen.created_at, last_seen_at=citizen.last_seen_at,
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
    """The query behind the API list and the staff page."""
    stmt = sorted_by(citizens_query(profile, filters).options(selectinload(Citizen.accounts)),
                     page.sort,
                     {"id": Citizen.id, "first_seen_at": Citizen.created_at,
                      "last_seen_at": Citizen.last_seen_at},
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
