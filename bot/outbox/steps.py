"""The step's question again after a bulk message. A notice or a survey
invitation that reaches a citizen in the middle of a flow brings its own
keyboard — on Viber the chat's only one — and pushes the question up, so
the citizen would be told to "choose a button" no longer on screen. Once
such a message is sent, the question of the step the citizen is at *then*
(the engine keeps it in the conversation, `STEP_KEY`) is queued again.

It is queued on the reply lane, so it goes in the sender's next round, and
only after the last bulk message waiting for that chat: two notices in a
row are followed by one question, after the second."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from bot.models import ChannelAccount, Conversation, Lane, OutboxMessage, OutboxStatus
from bot.outbox.queue import wake_sender

# Where the engine keeps the last question (a reply with a keyboard) of the
# step a conversation is at; removed when the conversation leaves its flow.
STEP_KEY = "_step"
ORIGIN = "step"


def repeat_after_bulk(session: Session, account_ids: Collection[int], now: datetime) -> int:
    """For each account a bulk message was just sent to, queue the question
    of its current step — when it is in a flow, not blocked, and no later
    bulk message for it is still to go (that one brings the question after
    it). Returns how many were queued."""
    if not account_ids:
        return 0
    waiting = set(session.scalars(
        select(OutboxMessage.account_id).where(
            OutboxMessage.account_id.in_(set(account_ids)),
            OutboxMessage.lane == int(Lane.bulk),
            OutboxMessage.status.in_((OutboxStatus.queued, OutboxStatus.sending)))
    ).all())
    found = session.execute(
        select(ChannelAccount, Conversation)
        .join(Conversation, Conversation.account_id == ChannelAccount.id)
        .where(ChannelAccount.id.in_(set(account_ids) - waiting),
               ChannelAccount.blocked_at.is_(None), Conversation.state.is_not(None))
    ).all()
    rows = []
    for account, conversation in found:
        body = (conversation.data or {}).get(STEP_KEY)
        if not isinstance(body, dict) or not body.get("text"):
            continue
        rows.append({"channel": account.channel, "chat_id": account.chat_id,
                     "account_id": account.id, "lane": int(Lane.reply), "origin": ORIGIN,
                     "body": body, "status": OutboxStatus.queued, "next_attempt_at": now,
                     "created_at": now, "attempts": 0})
    if rows:
        session.execute(insert(OutboxMessage), rows)
        wake_sender(session)
    return len(rows)
