"""One citizen on the chat and by SMS (issue #19): a chat citizen who shares a
phone number that an officer registered for SMS at the counter is asked
whether that is them; on yes, the two citizens become one (as `/link` joins
two apps: bookings, requests, complaints and topics together) and the
citizen says where notices go from then on — by SMS only if they choose it.
On no, nothing changes: a number is not proof of a person."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.models import ChannelAccount, Citizen
from bot.services import linking
from bot.services import sms as sms_service
from bot.services.phones import normalize_phone


def registration_for(session: Session, citizen: Citizen,
                     phone: str | None) -> ChannelAccount | None:
    """The active SMS account of this number when it belongs to another
    (not erased) citizen; None when there is nothing to ask."""
    number = normalize_phone(phone) if phone else None
    if number is None:
        return None
    account = sms_service.sms_account(session, number)
    if account is None or account.citizen_id == citizen.id:
        return None
    if not sms_service.is_active(session, account):
        return None
    owner = session.get(Citizen, account.citizen_id)
    if owner is None or owner.erased_at is not None:
        return None
    return account


def join(session: Session, citizen: Citizen, sms_account: ChannelAccount) -> None:
    """The SMS citizen becomes this chat citizen: their SMS account, topics and
    anything else they have move here. Where notices go stays as it was (the
    chat) until `choose` says otherwise."""
    other = session.get(Citizen, sms_account.citizen_id)
    if other is None or other.id == citizen.id:
        return
    linking.merge(session, citizen, other)
    session.flush()


def choose(session: Session, citizen: Citizen, sms_account_id: int, chat: ChannelAccount,
           *, by_sms: bool) -> None:
    """Where notices (and reminders, and "your request changed") go: the SMS
    number, or this chat."""
    account = session.get(ChannelAccount, sms_account_id)
    if by_sms and account is not None and account.citizen_id == citizen.id:
        citizen.notice_account_id = account.id
    else:
        citizen.notice_account_id = chat.id
