"""The API keys of Open311 clients. A key is shown once, when it is made;
only its SHA-256 is stored, so a leaked database does not leak keys. Each
key files at most OPEN311_REQUESTS_PER_HOUR service requests in any hour
(`wait_before_filing`), so a leaked or runaway client cannot flood the
departments."""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.models import Complaint, Open311Key
from bot.refusals import Conflict

# The name is written into the complaint's history as "open311:NAME" (64 characters).
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$")
KEY_MAX = 200
RATE_WINDOW = timedelta(hours=1)


class Open311KeyError(Conflict):
    """A key cannot be made or revoked; the message says why."""

    def __init__(self, detail: str) -> None:
        super().__init__("open311_key", detail)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


def new_key() -> str:
    return secrets.token_urlsafe(32)


def find(session: Session, name: str) -> Open311Key | None:
    return session.scalar(select(Open311Key).where(Open311Key.name == name))


def add_key(session: Session, name: str, *, now: datetime) -> tuple[Open311Key, str]:
    """A new key for the client NAME; returns the row and the key itself,
    which is never seen again."""
    if not NAME.fullmatch(name):
        raise Open311KeyError(
            f"invalid name {name!r}: 1–48 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit")
    existing = find(session, name)
    if existing is not None:
        state = " (revoked)" if existing.revoked_at else ""
        raise Open311KeyError(f"a key named {name!r} exists already{state}; "
                              "choose another name")
    key = new_key()
    row = Open311Key(name=name, key_hash=hash_key(key), created_at=now)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError as exc:
        raise Open311KeyError(f"a key named {name!r} exists already") from exc
    return row, key


def list_keys(session: Session) -> list[Open311Key]:
    return list(session.scalars(select(Open311Key).order_by(Open311Key.name)))


def revoke_key(session: Session, name: str, *, now: datetime) -> tuple[Open311Key, bool]:
    """Revoke NAME's key at once; returns the row and whether it was active."""
    row = find(session, name)
    if row is None:
        raise Open311KeyError(f"no Open311 key named {name!r}")
    if row.revoked_at is not None:
        return row, False
    row.revoked_at = now
    return row, True


def authenticate(session: Session, key: str | None) -> Open311Key | None:
    """The active key row for this key, or None (missing, unknown or revoked)."""
    if not key or len(key) > KEY_MAX:
        return None
    row = session.scalar(select(Open311Key).where(Open311Key.key_hash == hash_key(key)))
    if row is None or row.revoked_at is not None:
        return None
    return row


def wait_before_filing(session: Session, key: Open311Key, *, now: datetime,
                       per_hour: int) -> int | None:
    """Seconds until KEY may file again, or None when it may file now: the
    service requests it filed in the last hour are counted (they are the
    record; nothing else is kept). Call it with the key's row locked in the
    transaction that files, so that requests sent at once cannot all slip
    under the limit."""
    since = now - RATE_WINDOW
    recent = list(session.scalars(
        select(Complaint.created_at)
        .where(Complaint.source == "open311", Complaint.open311_client == key.name,
               Complaint.created_at > since)
        .order_by(Complaint.created_at.desc()).limit(per_hour)))
    if len(recent) < per_hour:
        return None
    oldest_counted = recent[-1]  # the first of them to leave the window
    return max(1, math.ceil((oldest_counted + RATE_WINDOW - now).total_seconds()))
