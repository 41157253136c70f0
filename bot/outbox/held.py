"""Messages that waited for the citizen: on Viber, where the profile forbids
the messages the bot starts more than 24 hours after the citizen last wrote
(Viber bills those), whatever can wait is `held` (a reminder, a complaint's
news, a notice). The citizen's next message — or their re-opening the chat —
brings them all at once: one "while you were away" summary, in their
language, before the answer to what they wrote. The law's messages never
wait (`bot.outbox.queue.MUST_REACH`)."""

from __future__ import annotations

from datetime import datetime, tzinfo

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from bot.i18n import Translate
from bot.messages import Reply
from bot.models import ChannelAccount, OutboxMessage, OutboxStatus
from bot.outbox.queue import brief_of, flush_before_reading

SUMMARY_ITEMS = 15  # the rest: "and more, see /status" (Viber takes 7,000 characters)
TITLE_MAX = 80


_HELD = (
    select(OutboxMessage)
    .join(ChannelAccount, ChannelAccount.id == OutboxMessage.account_id)
    .where(ChannelAccount.citizen_id == bindparam("citizen_id"),
           OutboxMessage.status == OutboxStatus.held)
    .order_by(OutboxMessage.id)
    .with_for_update(of=OutboxMessage)
)

# Whether there is any, on the connection: the ORM's load only when there is.
_ANY_HELD = (
    select(OutboxMessage.id)
    .join(ChannelAccount, ChannelAccount.id == OutboxMessage.account_id)
    .where(ChannelAccount.citizen_id == bindparam("citizen_id"),
           OutboxMessage.status == OutboxStatus.held)
    .limit(1)
)


def take_held(session: Session, citizen_id: int) -> list[OutboxMessage]:
    """The citizen's held messages, on any of their chats, oldest first —
    locked, so that two messages at once cannot both summarise them."""
    flush_before_reading(session)
    params = {"citizen_id": citizen_id}
    if session.connection().execute(_ANY_HELD, params).first() is None:  # the usual case
        return []
    return list(session.scalars(_HELD, params))


def _title(row: OutboxMessage) -> str:
    """An out-of-date message by its beginning only (a notice: its topic and first words)."""
    return brief_of(row.brief or str((row.body or {}).get("text") or ""), TITLE_MAX)


def summary(rows: list[OutboxMessage], t: Translate, now: datetime) -> Reply:
    """One message listing what waited: each on one line; the out-of-date
    ones (a reminder of an appointment gone by, an old notice) by title only."""
    fresh = [r for r in rows if r.stale_at is None or r.stale_at > now]
    stale = [r for r in rows if r.stale_at is not None and r.stale_at <= now]
    lines = [t("away.summary")]
    shown = 0
    for row in fresh[:SUMMARY_ITEMS]:
        lines.append(f"• {row.brief or brief_of(str((row.body or {}).get('text') or ''))}")
        shown += 1
    room = SUMMARY_ITEMS - shown
    if stale and room > 0:
        lines += ["", t("away.out_of_date")]
        lines += [f"• {_title(row)}" for row in stale[:room]]
        shown += min(room, len(stale))
    lines.append("")
    lines.append(t("away.more") if shown < len(rows) else t("away.see_status"))
    return Reply("\n".join(lines))


def mark_summarised(session: Session, rows: list[OutboxMessage], now: datetime) -> None:
    """They reached the citizen in the summary: never sent on their own."""
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_([row.id for row in rows]),
               OutboxMessage.status == OutboxStatus.held)
        .values(status=OutboxStatus.summarised, sent_at=now, last_error=None)
        .execution_options(synchronize_session=False))
    for row in rows:
        row.status = OutboxStatus.summarised


def away_summary(session: Session, citizen_id: int, t: Translate,
                 now: datetime) -> Reply | None:
    """The summary of what waited for this citizen, or None; what it lists is
    marked summarised in the same transaction as the reply it comes with."""
    rows = take_held(session, citizen_id)
    if not rows:
        return None
    reply = summary(rows, t, now)
    mark_summarised(session, rows, now)
    return reply


def out_of_session_counts(session: Session, start: datetime,
                          end: datetime | None = None) -> dict[str, int]:
    """Viber messages the bot started outside the 24-hour session (billed)
    that went between `start` and `end`, by purpose: the monthly numbers."""
    query = (select(OutboxMessage.purpose, func.count())
             .where(OutboxMessage.out_of_session.is_(True),
                    OutboxMessage.status == OutboxStatus.sent,
                    OutboxMessage.sent_at >= start)
             .group_by(OutboxMessage.purpose))
    if end is not None:
        query = query.where(OutboxMessage.sent_at < end)
    return {purpose or "other": count for purpose, count in session.execute(query).all()}


def month_start(now: datetime, tz: tzinfo) -> datetime:
    """The first moment of `now`'s month in the municipality's time zone."""
    return now.astimezone(tz).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
