"""Writing to the outbox. Nothing sends directly: a handler's replies, a staff
answer, a reminder and a notice all become rows here, in the transaction of
the change that caused them."""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, event, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db import utcnow
from bot.messages import Reply
from bot.models import ChannelAccount, Lane, OutboxMessage, OutboxStatus
from bot.profile import Profile

VIBER_SESSION = timedelta(hours=24)
# PostgreSQL's channel on which a commit that queued messages wakes the sender,
# wherever it runs (`klokot-bot worker` beside web processes).
WAKE_CHANNEL = "klokot_outbox"
_NOTIFY = text(f"SELECT pg_notify('{WAKE_CHANNEL}', '')")
_QUEUED = "klokot.outbox_queued"  # in Session.info: this transaction queued messages
BRIEF_MAX = 200  # characters of a held message's line in the summary


class Purpose(enum.StrEnum):
    """What a message the bot starts is for: whether it may wait for the
    citizen's next message where the channel may not carry it now, and the
    label it is counted under when it goes out of session."""

    # The law's decisions on a request for public documents (with the appeal
    # route), an extension, a forwarding, silence counted as refusal.
    document_decision = "document_decision"
    document_extended = "document_extended"
    document_forwarded = "document_forwarded"
    document_silence = "document_silence"
    # A reception booking the municipality cancelled (a closed day) or moved,
    # or an officer made for the citizen at the counter or on the phone.
    booking_cancelled = "booking_cancelled"
    booking_moved = "booking_moved"
    booking_made = "booking_made"
    # An officer's alert that cannot wait (an urgent request for the mayor).
    urgent_alert = "urgent_alert"
    # These can wait.
    document_update = "document_update"
    reminder = "reminder"
    complaint_update = "complaint_update"
    notice = "notice"
    survey_invitation = "survey_invitation"
    staff_alert = "staff_alert"
    security = "security"
    other = "other"


# Always sent, whatever the session: what the citizen must be told (and the
# urgent alert an officer acts on at once), accepting Viber's charge.
MUST_REACH = frozenset({
    Purpose.document_decision, Purpose.document_extended, Purpose.document_forwarded,
    Purpose.document_silence, Purpose.booking_cancelled, Purpose.booking_moved,
    Purpose.booking_made, Purpose.urgent_alert,
})

_listeners: list[Callable[[], None]] = []
_listeners_lock = threading.Lock()


def on_enqueued(listener: Callable[[], None]) -> Callable[[], None]:
    """Register a wake-up call for the sender; returns a function that removes it."""
    with _listeners_lock:
        _listeners.append(listener)

    def remove() -> None:
        with _listeners_lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return remove


def flush_before_reading(session: Session) -> None:
    """Before the hot path reads the outbox on the session's connection (Core:
    no autoflush, no ORM result), write what this session has pending that the
    read could see — new rows of any kind, changed outbox rows or accounts — as
    the ORM's autoflush would; a session with nothing of that kind (the usual
    case) costs nothing."""
    if session.new or session.deleted or any(
            isinstance(obj, OutboxMessage | ChannelAccount) for obj in session.dirty):
        session.flush()


def notify_enqueued() -> None:
    """Called after a commit that queued messages, so an idle sender wakes at once."""
    with _listeners_lock:
        listeners = list(_listeners)
    for listener in listeners:
        listener()


def wake_sender(session: Session) -> None:
    """Mark the session's transaction as one that queues messages: its commit
    wakes the sender — on PostgreSQL with one NOTIFY inside the transaction
    (delivered at commit, never for a rollback), and in this process through
    `notify_enqueued`. `enqueue` calls it; code that inserts outbox rows
    without `enqueue` must call it too."""
    session.info[_QUEUED] = True


@event.listens_for(Session, "before_commit")
def _notify_in_transaction(session: Session) -> None:
    """One statement per transaction that queued, at its outermost commit."""
    if session.info.get(_QUEUED) and not session.in_nested_transaction():
        session.info[_QUEUED] = "committing"
        if session.get_bind().dialect.name == "postgresql":
            session.execute(_NOTIFY)


@event.listens_for(Session, "after_commit")
def _wake_in_process(session: Session) -> None:
    if session.info.get(_QUEUED) == "committing":
        del session.info[_QUEUED]
        notify_enqueued()


@event.listens_for(Session, "after_rollback")
def _forget_queued(session: Session) -> None:
    session.info.pop(_QUEUED, None)


def out_of_session(account: ChannelAccount, now: datetime) -> bool:
    """Viber bills a message the bot starts more than 24 hours after the user last wrote."""
    return account.channel == "viber" and now - account.last_inbound_at >= VIBER_SESSION


def bot_started_allowed(account: ChannelAccount, profile: Profile, now: datetime) -> bool:
    """Whether any message the bot starts may go to this chat now (the
    profile may forbid Viber's billed, out-of-session ones)."""
    return profile.viber_bot_initiated or not out_of_session(account, now)


def bot_started_may_wait(account: ChannelAccount, profile: Profile) -> bool:
    """Whether what the bot starts on this chat may have to wait for the
    citizen's next message (a reminder "the day before" cannot be promised)."""
    return account.channel == "viber" and not profile.viber_bot_initiated


def brief_of(text: str, limit: int = BRIEF_MAX) -> str:
    """A message on one line, cut at `limit` characters: its line in a summary."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit - 1].rstrip() + "…"


def outbox_values(
    account: ChannelAccount,
    reply: Reply,
    *,
    profile: Profile,
    lane: Lane = Lane.reply,
    origin: str = "reply",
    dedupe_key: str | None = None,
    now: datetime | None = None,
    status: OutboxStatus = OutboxStatus.queued,
    purpose: Purpose | None = None,
    brief: str | None = None,
    stale_at: datetime | None = None,
) -> dict[str, Any]:
    """The outbox row of one reply to one account, as column values: skipped at
    once when it could never go. A message the bot starts (`origin="bot"`)
    that the channel may not carry now is held for the citizen's next message
    — unless its `purpose` must reach them, when it goes and is marked out of
    session (billed)."""
    now = now or utcnow()
    values: dict[str, Any] = {
        "channel": account.channel,
        "chat_id": account.chat_id,
        "account_id": account.id,
        "lane": int(lane),
        "origin": origin,
        "body": reply.to_json(),
        "status": status,
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": None,
        "dedupe_key": dedupe_key,
        "created_at": now,
        "sent_at": None,
        "purpose": (purpose or Purpose.other).value if origin == "bot" else None,
        "out_of_session": False,
        "brief": None,
        "stale_at": stale_at,
    }
    if status is OutboxStatus.queued:
        if account.blocked_at is not None:
            values.update(status=OutboxStatus.skipped, last_error="blocked by the user")
        elif origin == "bot" and out_of_session(account, now):
            if profile.viber_bot_initiated or purpose in MUST_REACH:
                values["out_of_session"] = True
            else:
                values.update(status=OutboxStatus.held, last_error="waits for the citizen to write",
                              brief=brief or brief_of(reply.text))
    else:
        values["sent_at"] = now
    return values


def enqueue(
    session: Session,
    account: ChannelAccount,
    reply: Reply,
    *,
    profile: Profile,
    lane: Lane = Lane.reply,
    origin: str = "reply",
    dedupe_key: str | None = None,
    now: datetime | None = None,
    status: OutboxStatus = OutboxStatus.queued,
    purpose: Purpose | None = None,
    brief: str | None = None,
    stale_at: datetime | None = None,
) -> OutboxMessage:
    """Queue one reply for one account, as an ORM row of this session
    (`outbox_values` decides its status); written at the session's next flush."""
    row = OutboxMessage(**outbox_values(
        account, reply, profile=profile, lane=lane, origin=origin, dedupe_key=dedupe_key,
        now=now, status=status, purpose=purpose, brief=brief, stale_at=stale_at))
    session.add(row)
    if row.status is OutboxStatus.queued:
        wake_sender(session)
    return row


@dataclass(frozen=True)
class Written:
    """An outbox row `write_replies` wrote: its id and the status it was given."""

    id: int
    status: OutboxStatus


_OUTBOX = cast(Table, OutboxMessage.__table__)
_INSERT_ROWS = _OUTBOX.insert().returning(_OUTBOX.c.id, sort_by_parameter_order=True)


def write_replies(session: Session, account: ChannelAccount, replies: Sequence[Reply], *,
                  profile: Profile, now: datetime, first_sent: bool = False) -> list[Written]:
    """Write the replies of this transaction (the answer to one inbound update)
    to the outbox, in their order, with one INSERT … RETURNING id — not the
    ORM's unit of work, which costs more than it gives on the hot path. With
    `first_sent` the first one was answered in the webhook's response and is
    recorded as sent. Rows other code added to the session are flushed first,
    so ids (and so the per-chat order) follow the order they were queued in."""
    if not replies:
        return []
    if session.new:
        session.flush()
    rows = [outbox_values(account, reply, profile=profile, now=now,
                          status=OutboxStatus.sent if first_sent and index == 0
                          else OutboxStatus.queued)
            for index, reply in enumerate(replies)]
    ids = session.connection().execute(_INSERT_ROWS, rows[0] if len(rows) == 1 else rows
                                       ).scalars().all()
    if any(row["status"] is OutboxStatus.queued for row in rows):
        wake_sender(session)
    return [Written(row_id, row["status"]) for row_id, row in zip(ids, rows, strict=True)]


def enqueue_once(
    session: Session,
    account: ChannelAccount,
    reply: Reply,
    *,
    dedupe_key: str,
    profile: Profile,
    lane: Lane = Lane.reply,
    origin: str = "bot",
    now: datetime | None = None,
    purpose: Purpose | None = None,
    brief: str | None = None,
    stale_at: datetime | None = None,
) -> OutboxMessage | None:
    """For timers: queue a message unless one with this key was ever queued
    (a reminder per booking, a deadline warning per request). Safe to call
    again after a restart; returns None when it had been queued already."""
    try:
        with session.begin_nested():
            row = enqueue(session, account, reply, profile=profile, lane=lane, origin=origin,
                          dedupe_key=dedupe_key, now=now, purpose=purpose, brief=brief,
                          stale_at=stale_at)
            session.flush()
    except IntegrityError:
        return None
    return row


def redeliver_plain(
    session: Session,
    account: ChannelAccount,
    provider_message_id: str,
    reason: str | None,
    type_intro: str,
    *,
    profile: Profile,
    now: datetime | None = None,
) -> OutboxMessage | None:
    """The platform took one of our messages but could not show it (Viber's
    `failed` callback, often a keyboard it rejected): the message is marked
    `failed` and queued again as plain text — its buttons' labels listed
    under `type_intro`, to be typed. Once: a callback delivered again finds
    the message failed already and queues nothing. Returns the new message."""
    now = now or utcnow()
    row = session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.channel == account.channel,
            OutboxMessage.chat_id == account.chat_id,
            OutboxMessage.provider_message_id == provider_message_id,
        ).order_by(OutboxMessage.id.desc()).limit(1)
    ).one_or_none()
    if row is None:
        return None
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row.id, OutboxMessage.status == OutboxStatus.sent)
        .values(status=OutboxStatus.failed,
                last_error=f"the platform could not show it: {reason or 'no reason given'}"[:2000])
    )
    if not int(getattr(result, "rowcount", 0) or 0):
        return None
    failed = Reply.from_json(row.body)
    labels = [button.label for line in failed.buttons for button in line]
    text = failed.text
    if labels:
        text = f"{text}\n\n{type_intro}\n" + "\n".join(f"• {label}" for label in labels)
    plain = Reply(text.strip() or type_intro)
    lane = Lane(row.lane)
    return enqueue(session, account, plain, profile=profile, lane=lane,
                   origin=row.origin, now=now)


def enqueue_to_number(session: Session, channel: str, chat_id: str, reply: Reply, *,
                      now: datetime | None = None) -> OutboxMessage:
    """Queue a reply to a chat that has no account with us, or whose account
    no longer takes messages: the one answer to a stranger's SMS (the
    keywords), and the confirmation of a STOP (the number's account is blocked
    by then). No citizen is made for a stranger."""
    now = now or utcnow()
    row = OutboxMessage(channel=channel, chat_id=chat_id, account_id=None, lane=int(Lane.reply),
                        origin="reply", body=reply.to_json(), status=OutboxStatus.queued,
                        next_attempt_at=now, created_at=now)
    session.add(row)
    wake_sender(session)
    return row
