"""One limit for guessing one-time codes in a chat (`/link CODE` and
`/staff CODE` alike): after five wrong codes the chat's codes are refused for
fifteen minutes. The count is a row per chat account and purpose in the
database (not the conversation's data), counted with one atomic statement, so
no flow change, restart or burst of messages resets or outruns it."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, delete, update
from sqlalchemy.orm import Session

from bot.db import insert_for
from bot.models import ChannelAccount, CodeAttempts

MAX_WRONG = 5
LOCK = timedelta(minutes=15)
FORGET = timedelta(hours=1)  # wrong codes further apart than this start the count again
LINK, STAFF = "link", "staff"


def locked_until(session: Session, purpose: str, account: ChannelAccount,
                 now: datetime) -> datetime | None:
    """When this chat may try a code again, if its codes are refused now
    (nothing is checked then, not even a right code); the refusal is counted."""
    return session.execute(
        update(CodeAttempts)
        .where(CodeAttempts.purpose == purpose, CodeAttempts.account_id == account.id,
               CodeAttempts.locked_until > now)
        .values(refused=CodeAttempts.refused + 1)
        .returning(CodeAttempts.locked_until)
        .execution_options(synchronize_session=False)).scalar_one_or_none()


def wrong(session: Session, purpose: str, account: ChannelAccount,
          now: datetime) -> datetime | None:
    """Count a wrong code. When it reaches the limit, the chat is refused
    until the time returned; after that, each wrong code locks it again,
    until a right one (or an hour without wrong codes)."""
    insert = insert_for(session)
    stmt = insert(CodeAttempts).values(purpose=purpose, account_id=account.id, failures=1,
                                       last_failure_at=now, refused=0)
    failures = session.execute(stmt.on_conflict_do_update(
        index_elements=["purpose", "account_id"],
        set_={"failures": case((CodeAttempts.last_failure_at < now - FORGET, 1),
                               else_=CodeAttempts.failures + 1),
              "last_failure_at": now},
    ).returning(CodeAttempts.failures)).scalar_one()
    if failures < MAX_WRONG:
        return None
    until = now + LOCK
    session.execute(update(CodeAttempts)
                    .where(CodeAttempts.purpose == purpose,
                           CodeAttempts.account_id == account.id)
                    .values(locked_until=until)
                    .execution_options(synchronize_session=False))
    return until


def right(session: Session, purpose: str, account: ChannelAccount) -> None:
    """A right code: the chat's wrong ones are forgotten."""
    session.execute(delete(CodeAttempts).where(CodeAttempts.purpose == purpose,
                                               CodeAttempts.account_id == account.id)
                    .execution_options(synchronize_session=False))
