"""Citizens who wrote to the bot. Names and phones only for roles that may
see personal data; every answer that shows them is recorded in the audit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel
from sqlalchemy import exists, select
from sqlalchemy.orm import Session, selectinload

from bot.admin.common import Page, PageParams, Problem, problems
from bot.admin.deps import CurrentStaff, RuntimeDep, SessionDep, client_ip
from bot.admin.paging import page_params
from bot.models import ChannelAccount, Citizen
from bot.models.staff import StaffUser
from bot.profile import ABROAD
from bot.staff import audit
from bot.staff.permissions import Access, Capability, access
from bot.staff.query import check_choice, paginate, sorted_by

router = APIRouter(tags=["citizens"])
CHANNELS = ("telegram", "viber", "terminal")
ERRORS = problems(401, 403, 422)


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


def shows_personal_data(staff: StaffUser) -> bool:
    """Department officers see a citizen's data only through their own
    department's items (documents, complaints), never in the general list."""
    return access(staff.role, Capability.personal_data) is Access.full


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


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


CitizenPage = page_params("id", "first_seen_at", "last_seen_at")
Channel = Literal["telegram", "viber", "terminal"]


class CitizenFilters:
    """`language` and `settlement` take the profile's codes (see the schema's enums)."""

    def __init__(
        self,
        channel: Channel | None = None,
        language: Annotated[str | None, Query(max_length=16)] = None,
        settlement: Annotated[str | None, Query(max_length=32)] = None,
        subscribed: bool | None = None,
        first_seen_from: datetime | None = None,
        first_seen_to: datetime | None = None,
        last_seen_from: datetime | None = None,
        last_seen_to: datetime | None = None,
    ) -> None:
        self.channel, self.language, self.settlement = channel, language, settlement
        self.subscribed = subscribed
        self.first_seen_from, self.first_seen_to = _utc(first_seen_from), _utc(first_seen_to)
        self.last_seen_from, self.last_seen_to = _utc(last_seen_from), _utc(last_seen_to)


def list_citizens(session: Session, runtime_profile_locales: tuple[str, ...],
                  settlements: list[str], filters: CitizenFilters,
                  page: PageParams) -> tuple[list[Citizen], int]:
    """The shared query behind the API list and the staff page."""
    check_choice("channel", filters.channel, CHANNELS)
    check_choice("language", filters.language, runtime_profile_locales)
    check_choice("settlement", filters.settlement, [*settlements, ABROAD])
    stmt = select(Citizen).options(selectinload(Citizen.accounts))
    if filters.channel:
        stmt = stmt.where(exists().where(ChannelAccount.citizen_id == Citizen.id,
                                         ChannelAccount.channel == filters.channel))
    if filters.language:
        stmt = stmt.where(Citizen.language == filters.language)
    if filters.settlement:
        stmt = stmt.where(Citizen.settlement == filters.settlement)
    if filters.subscribed is not None:
        reachable = exists().where(ChannelAccount.citizen_id == Citizen.id,
                                   ChannelAccount.blocked_at.is_(None))
        stmt = stmt.where(reachable if filters.subscribed else ~reachable)
    for column, low, high in (
        (Citizen.created_at, filters.first_seen_from, filters.first_seen_to),
        (Citizen.last_seen_at, filters.last_seen_from, filters.last_seen_to),
    ):
        if low:
            stmt = stmt.where(column >= low)
        if high:
            stmt = stmt.where(column <= high)
    stmt = sorted_by(stmt, page.sort,
                     {"id": Citizen.id, "first_seen_at": Citizen.created_at,
                      "last_seen_at": Citizen.last_seen_at},
                     default=[Citizen.id.desc()])
    return paginate(session, stmt, page)


@router.get("/citizens", response_model=Page[CitizenOut], responses=ERRORS)
def citizens(staff: CurrentStaff, session: SessionDep, runtime: RuntimeDep, request: Request,
             filters: Annotated[CitizenFilters, Depends()],
             page: Annotated[PageParams, Depends(CitizenPage)]) -> Page[CitizenOut]:
    """Citizens with filters and paging; names and phones only where the role allows."""
    profile = runtime.profile
    rows, total = list_citizens(session, profile.enabled_locales,
                                [s.code for s in profile.settlements], filters, page)
    personal = shows_personal_data(staff)
    if personal and rows:
        audit.record(session, staff, "citizen.list", object_type="citizen",
                     detail="ids " + ",".join(str(c.id) for c in rows), ip=client_ip(request))
    return Page(items=[citizen_out(c, personal) for c in rows], total=total,
                limit=page.limit, offset=page.offset)


@router.get("/citizens/{citizen_id}", response_model=CitizenOut,
            responses=problems(401, 403, 404, 422))
def citizen(citizen_id: Annotated[int, Path(ge=1, le=2**31 - 1)], staff: CurrentStaff,
            session: SessionDep, request: Request) -> CitizenOut:
    """One citizen; viewing their personal data is recorded."""
    found = session.get(Citizen, citizen_id)
    if found is None:
        raise Problem(404, "not_found", f"no citizen {citizen_id}")
    personal = shows_personal_data(staff)
    if personal:
        audit.record(session, staff, "citizen.view", object_type="citizen",
                     object_id=citizen_id, ip=client_ip(request))
    return citizen_out(found, personal)
