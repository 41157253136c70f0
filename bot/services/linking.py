"""One citizen, two apps (SPEC §3.6): a one-time code joins a Telegram and a
Viber account into one citizen — one /status, one survey answer, one copy
of each notice — and `/link off` separates them again."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.models import (
    Booking,
    ChannelAccount,
    Citizen,
    Complaint,
    DocumentRequest,
    LinkCode,
    NoticeAnswer,
    NoticeRecipient,
    Subscription,
    SurveyResponse,
    UrgentRequest,
)
from bot.refusals import Conflict

CODE_MINUTES = 10
CODE_DIGITS = 6


class LinkRefused(Conflict):
    """Why a code does not link; `code` picks the message the citizen gets."""

    def __init__(self, code: str) -> None:
        super().__init__(code, code)


def new_code(session: Session, account: ChannelAccount, now: datetime) -> LinkCode:
    """A fresh code for this account; earlier unused ones stop working."""
    session.execute(update(LinkCode).where(LinkCode.account_id == account.id,
                                           LinkCode.used_at.is_(None))
                    .values(expires_at=now))
    while True:
        code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
        if session.scalar(select(LinkCode.id).where(LinkCode.code == code)) is None:
            break
    link = LinkCode(code=code, account_id=account.id, created_at=now,
                    expires_at=now + timedelta(minutes=CODE_MINUTES))
    session.add(link)
    return link


def use_code(session: Session, account: ChannelAccount, code: str,
             now: datetime) -> ChannelAccount:
    """Join the account that sent the code into the citizen who asked for it;
    returns that other account (to tell it). LinkRefused says why not."""
    code = "".join(ch for ch in code if ch.isdigit())
    link = session.scalar(select(LinkCode).where(LinkCode.code == code)) if code else None
    if link is None:
        raise LinkRefused("wrong")
    if link.used_at is not None or link.expires_at <= now:
        raise LinkRefused("expired")
    asking = session.get(ChannelAccount, link.account_id)
    if asking is None or asking.blocked_at is not None:
        raise LinkRefused("expired")
    if asking.channel == account.channel:
        raise LinkRefused("same_app")
    if asking.citizen_id == account.citizen_id:
        raise LinkRefused("already")
    keep = session.get(Citizen, asking.citizen_id)
    other = session.get(Citizen, account.citizen_id)
    assert keep is not None and other is not None
    link.used_at = now
    merge(session, keep, other)
    return asking


def merge(session: Session, keep: Citizen, other: Citizen) -> None:
    """Everything of `other` becomes `keep`'s; then `other` is gone."""
    for column in ("language", "full_name", "phone", "settlement", "country",
                   "privacy_acknowledged_at"):
        if getattr(keep, column) is None:
            setattr(keep, column, getattr(other, column))
    session.execute(update(ChannelAccount).where(ChannelAccount.citizen_id == other.id)
                    .values(citizen_id=keep.id))
    for model in (Booking, UrgentRequest, DocumentRequest, Complaint, NoticeAnswer,
                  SurveyResponse):
        session.execute(update(model).where(model.citizen_id == other.id)
                        .values(citizen_id=keep.id))
    _move_unique(session, Subscription, "topic", keep, other)
    _move_unique(session, NoticeRecipient, "notice_id", keep, other)
    session.flush()
    session.expire(keep, ["accounts"])
    session.expire(other, ["accounts"])
    session.delete(other)


def _move_unique(session: Session, model: type[Subscription] | type[NoticeRecipient],
                 unique_with: str, keep: Citizen, other: Citizen) -> None:
    """Rows unique per (citizen, `unique_with`): moved unless `keep` has the
    same one already, then dropped."""
    kept = set(session.scalars(select(getattr(model, unique_with)).where(
        model.citizen_id == keep.id)))
    rows: list[Subscription | NoticeRecipient] = list(session.scalars(
        select(model).where(model.citizen_id == other.id)))
    for row in rows:
        if getattr(row, unique_with) in kept:
            session.delete(row)
        else:
            row.citizen_id = keep.id


def unlink(session: Session, account: ChannelAccount, now: datetime) -> bool:
    """This account becomes a citizen of its own again (with the same
    language); submissions stay where they were made. False when it was
    not linked to anything."""
    citizen = session.get(Citizen, account.citizen_id)
    assert citizen is not None
    others = session.scalars(select(ChannelAccount.id).where(
        ChannelAccount.citizen_id == citizen.id, ChannelAccount.id != account.id)).all()
    if not others:
        return False
    alone = Citizen(language=citizen.language, settlement=citizen.settlement,
                    country=citizen.country,
                    privacy_acknowledged_at=citizen.privacy_acknowledged_at,
                    created_at=now, last_seen_at=now)
    session.add(alone)
    session.flush()
    account.citizen_id = alone.id
    if citizen.notice_account_id == account.id:
        citizen.notice_account_id = None
    session.expire(citizen, ["accounts"])
    return True
