"""One citizen, two apps (SPEC §3.6): a one-time code joins a Telegram and a
Viber account into one citizen — one /status, one survey answer, one copy
of each notice — and `/link off` separates them again. A right guess would
hand a stranger the citizen's record, so guessing is limited twice: per chat
(five wrong codes stop it for fifteen minutes, `bot.services.code_attempts`)
and per code (five wrong codes typed anywhere while it is valid, or a chat
stopped meanwhile, cancel it, and its owner is told)."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.i18n import Catalogs, Translate
from bot.messages import Reply
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
from bot.outbox.queue import Purpose
from bot.profile import Profile
from bot.refusals import Conflict
from bot.services import code_attempts
from bot.services.notify import tell_citizen

CODE_MINUTES = 10
CODE_DIGITS = 6


class LinkRefused(Conflict):
    """Why a code does not link; `code` picks the message the citizen gets."""

    def __init__(self, code: str, until: datetime | None = None) -> None:
        super().__init__(code, code)
        self.until = until  # "too_many": when the chat may try again


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


def use_code(session: Session, profile: Profile, catalogs: Catalogs,
             account: ChannelAccount, code: str, now: datetime) -> ChannelAccount:
    """Join the account that sent the code into the citizen who asked for it;
    returns that other account (to tell it). LinkRefused says why not:
    "too_many" (with `until`) while the chat is stopped for guessing — then
    even a right code is not looked at."""
    until = code_attempts.locked_until(session, code_attempts.LINK, account, now)
    if until is not None:
        raise LinkRefused("too_many", until)
    try:
        asking = _join(session, account, code, now)
    except LinkRefused as refused:
        if refused.code in {"wrong", "expired"}:
            until = code_attempts.wrong(session, code_attempts.LINK, account, now)
            _guessed_against_live_codes(session, profile, catalogs, account, now,
                                        stopped=until is not None)
            if until is not None:
                raise LinkRefused("too_many", until) from None
        raise
    code_attempts.right(session, code_attempts.LINK, account)
    return asking


def _live(now: datetime) -> list[Any]:
    return [LinkCode.used_at.is_(None), LinkCode.expires_at > now]


def _guessed_against_live_codes(session: Session, profile: Profile, catalogs: Catalogs,
                                account: ChannelAccount, now: datetime, *,
                                stopped: bool) -> None:
    """A wrong code could have been a guess at any code valid now: each of
    them counts it. One that has seen five (or whose guesser was just
    stopped) is cancelled, and its owner told in their chat."""
    others = [*_live(now), LinkCode.account_id != account.id]
    session.execute(update(LinkCode).where(*others).values(
        wrong_guesses=(code_attempts.MAX_WRONG if stopped
                       else LinkCode.wrong_guesses + 1))
        .execution_options(synchronize_session=False))
    attacked = session.scalars(select(LinkCode).where(
        *others, LinkCode.wrong_guesses >= code_attempts.MAX_WRONG)).all()
    for link in attacked:
        link.expires_at = now
        owner = session.get(ChannelAccount, link.account_id)
        if owner is None:
            continue

        def warning(t: Translate, locale: str) -> Reply:
            return Reply(t("link.code_cancelled"))

        tell_citizen(session, profile, catalogs, citizen_id=owner.citizen_id,
                     account_id=owner.id, message=warning, now=now,
                     dedupe_key=f"link-code-cancelled:{link.id}", purpose=Purpose.security)


def _join(session: Session, account: ChannelAccount, code: str,
          now: datetime) -> ChannelAccount:
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
