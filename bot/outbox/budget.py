"""The monthly budget of SMS segments, as the sender keeps it.

A segment counts once its message is sent this calendar month (Klokot's
month), and already while it is on its way (`sending`: the segments the
sender estimated when it claimed the row), so two batches in flight cannot
overspend together. `bot.services.sms` answers the same question for staff.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from bot.models import OutboxMessage, OutboxStatus

SMS = "sms"
BUDGET_REACHED = "sms budget reached"


@dataclass(frozen=True)
class SmsBudget:
    """Segments allowed per calendar month in `tz` (the profile's)."""

    monthly_segments: int
    tz: tzinfo = UTC


def month_start(now: datetime, tz: tzinfo = UTC) -> datetime:
    """The first moment of `now`'s calendar month in `tz`, in UTC."""
    local = now.astimezone(tz)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def segments_used(session: Session, now: datetime, tz: tzinfo = UTC) -> int:
    """Segments of the SMS sent this month, and of those on their way."""
    used = session.scalar(select(func.coalesce(func.sum(OutboxMessage.segments), 0)).where(
        OutboxMessage.channel == SMS,
        or_(and_(OutboxMessage.status == OutboxStatus.sent,
                 OutboxMessage.sent_at >= month_start(now, tz)),
            OutboxMessage.status == OutboxStatus.sending)))
    return int(used or 0)
