"""Staff accounts as services: the command line, the API and the pages all
call these, so a rule (lock-outs, revocation on disable) lives in one place."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.db import Database, utcnow
from bot.models import CalendarFeed, ChannelAccount
from bot.models.staff import AuditEntry, Role, StaffToken, StaffUser
from bot.profile import Profile
from bot.refusals import Conflict, Invalid
from bot.services import code_attempts
from bot.staff import audit, throttle
from bot.staff.security import (
    failure_delay,
    hash_password,
    new_link_code,
    new_token,
    normal_link_code,
    token_hash,
    verify_password,
)

USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,63}$"
LINK_CODE_MINUTES = 10
SESSION = "session"  # a browser's token, as opposed to an API client's ("api")


def _snapshot(staff: StaffUser) -> dict[str, object]:
    return {"username": staff.username, "role": staff.role.value,
            "department": staff.department, "disabled": staff.disabled_at is not None}


def create_staff(session: Session, profile: Profile, *, username: str, password: str,
                 role: Role, department: str | None = None, full_name: str | None = None,
                 language: str = "en", by: StaffUser | None = None) -> StaffUser:
    import re

    username = username.strip().lower()
    if not re.match(USERNAME_PATTERN, username):
        raise Invalid("invalid_username",
                           "usernames are 2–64 of a-z, 0-9, '.', '_' or '-'")
    if role is Role.department:
        if not department or profile.department(department) is None:
            codes = ", ".join(d.code for d in profile.departments)
            raise Invalid("invalid_department",
                               f"a department officer needs --department, one of: {codes}")
    elif department is not None:
        raise Invalid("invalid_department", "only the department role has a department")
    if session.scalar(select(StaffUser.id).where(StaffUser.username == username)):
        raise Conflict("username_taken", f"there is already an account {username!r}")
    staff = StaffUser(username=username, password_hash=hash_password(password), role=role,
                      department=department, full_name=full_name, language=language,
                      created_at=utcnow())
    session.add(staff)
    session.flush()
    audit.record(session, by, "account.create", object_type="staff", object_id=staff.username,
                 after=_snapshot(staff))
    return staff


def find(session: Session, username: str) -> StaffUser | None:
    name = username.replace("\x00", "").strip().lower()
    return session.scalar(select(StaffUser).where(StaffUser.username == name))


def revoke_all(session: Session, staff: StaffUser, now: datetime | None = None) -> None:
    """Every secret the officer holds stops working: sign-in tokens, browser
    sessions and calendar feed links (a feed URL is a password too)."""
    for model in (StaffToken, CalendarFeed):
        session.execute(
            update(model)
            .where(model.staff_id == staff.id, model.revoked_at.is_(None))
            .values(revoked_at=now or utcnow())
        )


def sign_out_everywhere(session: Session, staff: StaffUser, ip: str | None,
                        now: datetime) -> int:
    """The officer ends every session and token they hold (a shared office
    PC, a lost laptop): each browser is signed out at its next page, each
    API client gets 401. Returns how many sessions and tokens ended."""
    ended = int(session.scalar(select(func.count()).select_from(StaffToken).where(
        StaffToken.staff_id == staff.id, StaffToken.revoked_at.is_(None),
        StaffToken.expires_at > now)) or 0)
    revoke_all(session, staff, now)
    audit.record(session, staff, "logout.everywhere", object_type="staff",
                 object_id=staff.username, ip=ip,
                 detail=f"{ended} sessions and tokens ended, calendar feed links revoked")
    return ended


def disable(session: Session, staff: StaffUser, by: StaffUser | None = None) -> None:
    """Disabled accounts lose access at once: every token is revoked too."""
    before = _snapshot(staff)
    now = utcnow()
    staff.disabled_at = staff.disabled_at or now
    revoke_all(session, staff, now)
    audit.record(session, by, "account.disable", object_type="staff", object_id=staff.username,
                 before=before, after=_snapshot(staff))


def enable(session: Session, staff: StaffUser, by: StaffUser | None = None) -> None:
    before = _snapshot(staff)
    staff.disabled_at = None
    throttle.clear_name(session, staff.username)
    audit.record(session, by, "account.enable", object_type="staff", object_id=staff.username,
                 before=before, after=_snapshot(staff))


def set_password(session: Session, staff: StaffUser, password: str,
                 by: StaffUser | None = None) -> None:
    staff.password_hash = hash_password(password)
    throttle.clear_name(session, staff.username)
    revoke_all(session, staff)  # sessions opened with the old password end
    audit.record(session, by, "account.password", object_type="staff", object_id=staff.username)


def count_admins(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(StaffUser).where(
        StaffUser.role == Role.admin, StaffUser.disabled_at.is_(None))) or 0)


@dataclass
class LoginResult:
    staff: StaffUser | None
    # invalid_credentials | account_disabled (answered alike) | account_locked
    # (the name) | too_many_attempts (the address)
    code: str | None = None
    retry_after: int | None = None
    delay: float = 0.0
    token: str | None = None  # issued in the same transaction as the sign-in
    lifetime: int = 0


def authenticate(db: Database, settings: Settings, username: str, password: str,
                 ip: str | None = None, *, token_kind: str = "api",
                 idle: timedelta | None = None,
                 clock: Callable[[], datetime] | None = None) -> LoginResult:
    """Check a password; count attempts, refuse past the limits of
    `bot.staff.throttle` (by address, by name from everywhere, by name from
    this address), record it all, and on success issue a token.

    Each attempt is counted *before* its password is checked, with one atomic
    upsert per counter, so thirty wrong passwords sent at once are not all
    checked. The counters are keyed by the name typed, and a name with no
    account is verified against a dummy hash: an unknown username gets the
    same answer, the same delay and the same 429 as a real one. The password
    is verified with no write transaction open (argon2 is slow; on SQLite a
    write transaction would hold up every webhook), and the lock is checked
    again after it. `clock` gives "now" (None: the wall clock)."""
    tick = clock or utcnow
    name = throttle.name_key(username)
    address = throttle.address_key(ip)
    typed = username.replace("\x00", "")[:64] or "?"
    with db.session() as session:  # 1. claim an attempt
        now = tick()
        claimed, refused = throttle.claim(session, settings, name, address, now)
        if refused is not None:
            if refused.code == "too_many_attempts":
                if refused.first:
                    audit.record(session, None, "login.throttled", ip=ip, username=typed,
                                 detail=f"over {settings.login_address_limit} sign-in "
                                        f"attempts from this address")
            elif refused.first:
                audit.record(session, None, "login.lockout", object_type="staff",
                             object_id=name, ip=ip, username=typed,
                             detail=f"over {settings.login_account_limit} failed sign-ins "
                                    f"from all addresses")
            else:
                audit.record(session, None, "login.locked", object_type="staff",
                             object_id=name, ip=ip, username=typed)
            return LoginResult(None, refused.code, retry_after=refused.retry_after)
        staff = find(session, name) if name else None
        password_hash = staff.password_hash if staff is not None else None
        staff_id = staff.id if staff is not None else None
    ok = verify_password(password_hash, password)  # 2. no transaction open
    with db.session() as session:  # 3. record the outcome
        now = tick()
        found = session.get(StaffUser, staff_id) if staff_id is not None else None
        if found is None or not ok:
            if claimed >= settings.login_max_failures:
                throttle.lock_pair(session, settings, name, address, now)
                audit.record(session, found, "login.lockout", object_type="staff",
                             object_id=name, ip=ip, username=typed,
                             detail=f"{claimed} failed sign-ins from this address")
            audit.record(session, found, "login.failed", ip=ip, username=typed)
            return LoginResult(None, "invalid_credentials",
                               delay=failure_delay(claimed, settings.login_delay_seconds))
        until = throttle.pair_locked_until(session, name, address, now)
        if until is not None:  # locked while we checked
            audit.record(session, found, "login.locked", object_type="staff",
                         object_id=name, ip=ip)
            return LoginResult(None, "account_locked",
                               retry_after=max(int((until - now).total_seconds()) + 1, 1))
        if found.disabled_at is not None:
            audit.record(session, found, "login.disabled", ip=ip)
            return LoginResult(None, "account_disabled")
        throttle.succeeded(session, name, address, now)
        found.last_login_at = now
        audit.record(session, found, "login", ip=ip)
        token, lifetime = issue_token(session, found, token_kind, settings.staff_token_hours,
                                      idle)
        return LoginResult(found, token=token, lifetime=lifetime)


def issue_token(session: Session, staff: StaffUser, kind: str, hours: float,
                idle: timedelta | None = None) -> tuple[str, int]:
    """A new opaque token (only its hash is stored) and its lifetime in
    seconds. A browser session (`idle` given) ends after that long unused,
    and after `hours` at the most."""
    token = new_token()
    now = utcnow()
    lifetime = timedelta(hours=hours)
    expires = now + min(lifetime, idle) if idle is not None else now + lifetime
    session.add(StaffToken(token_hash=token_hash(token), staff_id=staff.id, kind=kind,
                           created_at=now, expires_at=expires))
    return token, int(lifetime.total_seconds())


def staff_for_token(session: Session, token: str, *, hours: float | None = None,
                    idle: timedelta | None = None) -> tuple[StaffUser, StaffToken] | None:
    """The active officer behind a token that is unexpired, unrevoked, and not
    disabled. A browser session that is used lives `idle` longer (never past
    `hours` from sign-in): on a shared office PC, one left alone ends."""
    now = utcnow()
    row = session.execute(
        select(StaffUser, StaffToken)
        .join(StaffToken, StaffToken.staff_id == StaffUser.id)
        .where(StaffToken.token_hash == token_hash(token), StaffToken.revoked_at.is_(None),
               StaffToken.expires_at > now, StaffUser.disabled_at.is_(None))
    ).one_or_none()
    if row is None:
        return None
    staff, used = row[0], row[1]
    if used.kind == SESSION and idle is not None and hours is not None:
        used.expires_at = min(used.created_at + timedelta(hours=hours), now + idle)
    return staff, used


def start_chat_link(session: Session, staff: StaffUser) -> str:
    """A one-time code (10 minutes) the officer sends the bot as `/staff CODE`."""
    code = new_link_code()
    staff.link_code_hash = token_hash(normal_link_code(code))
    staff.link_code_expires_at = utcnow() + timedelta(minutes=LINK_CODE_MINUTES)
    audit.record(session, staff, "account.chat_code", object_type="staff",
                 object_id=staff.username)
    return code


class ChatLinkRefused(Conflict):
    """Why `/staff CODE` did not link: "invalid" (wrong, used or expired),
    or "too_many" (with `until`) while the chat is stopped for guessing."""

    def __init__(self, code: str, until: datetime | None = None) -> None:
        super().__init__(code, code)
        self.until = until


def chat_label(account: ChannelAccount) -> str:
    """Which chat this is, for the officer to recognise (or not): the app,
    the name the app gives, and the end of the chat id."""
    name = (account.display_name or "").strip()[:40]
    masked = f"…{account.chat_id[-4:]}"
    return f"{account.channel.capitalize()} · {name} ({masked})" if name else (
        f"{account.channel.capitalize()} · {masked}")


def linked_chat(session: Session, staff: StaffUser) -> tuple[str, datetime | None] | None:
    """The officer's linked chat as `chat_label` shows it, and when it was
    linked; None when no chat is linked."""
    account = (session.get(ChannelAccount, staff.chat_account_id)
               if staff.chat_account_id is not None else None)
    if account is None:
        return None
    at = session.scalar(select(AuditEntry.at).where(
        AuditEntry.staff_id == staff.id, AuditEntry.action == "account.chat_link")
        .order_by(AuditEntry.id.desc()).limit(1))
    return chat_label(account), at


def link_chat(session: Session, code: str, account: ChannelAccount,
              now: datetime) -> StaffUser:
    """`/staff CODE` from a chat: the officer whose unexpired code it is gets
    this chat for their alerts; the code works once. Guessing is limited as
    for /link (`bot.services.code_attempts`): five wrong codes stop the chat
    for fifteen minutes, and a right code is not even looked at then."""
    until = code_attempts.locked_until(session, code_attempts.STAFF, account, now)
    if until is not None:
        raise ChatLinkRefused("too_many", until)
    staff = session.scalar(select(StaffUser).where(
        StaffUser.link_code_hash == token_hash(normal_link_code(code)),
        StaffUser.link_code_expires_at > now, StaffUser.disabled_at.is_(None)))
    if staff is None:
        until = code_attempts.wrong(session, code_attempts.STAFF, account, now)
        if until is None:
            raise ChatLinkRefused("invalid")
        audit.record(session, None, "account.chat_code_locked", object_type="channel_account",
                     object_id=account.id, username="(chat)",
                     after={"channel": account.channel, "chat": chat_label(account),
                            "until": until.isoformat()},
                     detail=f"{code_attempts.MAX_WRONG} wrong /staff codes from this chat")
        raise ChatLinkRefused("too_many", until)
    code_attempts.right(session, code_attempts.STAFF, account)
    staff.chat_account_id = account.id
    staff.link_code_hash = staff.link_code_expires_at = None
    audit.record(session, staff, "account.chat_link", object_type="staff",
                 object_id=staff.username,
                 after={"channel": account.channel, "chat_account_id": account.id,
                        "chat": chat_label(account)})
    return staff


def unlink_chat(session: Session, staff: StaffUser, by: StaffUser | None = None,
                detail: str | None = None) -> None:
    """The officer's chat gets no more alerts (from the pages, or `/staff off`)."""
    before = {"chat_account_id": staff.chat_account_id}
    staff.chat_account_id = None
    staff.link_code_hash = staff.link_code_expires_at = None
    audit.record(session, by or staff, "account.chat_unlink", object_type="staff",
                 object_id=staff.username, before=before, after={"chat_account_id": None},
                 detail=detail)


def unlink_account(session: Session, account: ChannelAccount) -> int:
    """`/staff off` from a chat: every officer linked to it is unlinked."""
    linked = session.scalars(
        select(StaffUser).where(StaffUser.chat_account_id == account.id)).all()
    for staff in linked:
        unlink_chat(session, staff, detail="from the chat")
    return len(linked)
