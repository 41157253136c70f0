"""Old buttons taken away where they would stay pressable (#16, items 1-2).

On a platform where buttons sent earlier stay under their messages and
a contact or location keyboard stays up until taken away (Telegram:
`Incoming.buttons_stay`), the engine leaves the chat as a clean record:

- the message whose button was pressed is settled — its buttons go and the
  choice shows under its text ("✓ Wednesday, 2 December 2026") — or, for a
  toggle the handler redraws `in_place`, changed into the redrawn question;
- the other messages of the last answer that carried buttons lose them when
  the next question comes (a typed answer, a /command, another press);
- a contact or location keyboard goes as soon as its step is done: a message
  without buttons takes it away by itself, before one with buttons a short
  note goes first ("📍 Location received").

All of it is replies in the outbox like any other (per-chat order, rate
limits, retries); an edit the platform refuses becomes a new message there.
Elsewhere (Viber, the terminal) only the last message's keyboard exists, so
nothing of this is queued and a redraw is a new message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select

from bot.engine.context import Context
from bot.messages import EDIT_SOURCE, MAX_TEXT, EditKind, Kind, Reply
from bot.models import OutboxMessage, OutboxStatus
from bot.outbox.queue import Written, flush_before_reading

# Outbox ids of the last answer's messages with inline buttons.
LIVE_KEY = "_live"
# Which contact or location keyboard the last answer left up, if any.
REQUEST_KEY = "_request"
_RECEIVED = {Kind.location: "keyboard.location_received", Kind.contact: "keyboard.phone_received"}
_WAITING = (OutboxStatus.queued, OutboxStatus.sending)


# The last answer's messages with buttons, as they are now.
_LIVE_ROWS = (
    select(OutboxMessage.id, OutboxMessage.provider_message_id, OutboxMessage.status)
    .where(OutboxMessage.id.in_(bindparam("ids", expanding=True)),
           OutboxMessage.account_id == bindparam("account_id"))
    .order_by(OutboxMessage.id)
)


@dataclass(frozen=True)
class Earlier:
    """What the last answer left in the chat, read before a handler clears the data."""

    live: tuple[int, ...]
    request: str | None


def before(ctx: Context) -> Earlier:
    return Earlier(tuple(ctx.data.get(LIVE_KEY) or ()), ctx.data.get(REQUEST_KEY))


def tidy(ctx: Context, earlier: Earlier, *, inline_first: bool = False) -> tuple[int, ...]:
    """Add to the handler's replies the edits and notes that take the earlier
    buttons away; returns the earlier messages whose buttons stay for now
    (not sent yet, or nothing new asked)."""
    if not ctx.msg.buttons_stay:
        for reply in ctx.replies:
            if reply.edit == EDIT_SOURCE:
                reply.edit = None
        return ()
    source = ctx.msg.source_message_id if ctx.msg.kind is Kind.button else None
    # The earlier buttons go when a new question comes (or none is left to ask);
    # an answer that only says something keeps them pressable.
    asks = any(reply.buttons or reply.request for reply in ctx.replies) or ctx.state is None
    edits, waiting = _settle_earlier(ctx, earlier.live, source) if asks else ([], earlier.live)
    if not _redraw_source(ctx, source) and source:
        edits.insert(0, _settle(ctx, source))
    ctx.replies[:0] = edits
    _close_request(ctx, earlier.request, inline_first)
    return waiting


def remember(ctx: Context, rows: Sequence[Written], replies: list[Reply],
             waiting: tuple[int, ...]) -> None:
    """After the replies are written (`rows`, one per reply): which of them carry
    buttons to take away next time."""
    if not ctx.msg.buttons_stay:
        return
    live = [*waiting, *(row.id for row, reply in zip(rows, replies, strict=True)
                        if reply.buttons and not reply.request
                        and row.status is not OutboxStatus.skipped)]
    data = {k: v for k, v in ctx.conversation.data.items() if k != LIVE_KEY}
    ctx.conversation.data = {**data, LIVE_KEY: live} if live else data


def _redraw_source(ctx: Context, source: str | None) -> bool:
    """The first reply marked `in_place` takes the pressed message's place;
    the others (and all where nothing was pressed) are new messages."""
    replaced = False
    for reply in ctx.replies:
        if reply.edit == EDIT_SOURCE:
            # A contact/location keyboard or a file cannot be edited in.
            fits = source is not None and not replaced and not reply.request and not reply.file
            reply.edit = source if fits else None
            replaced = replaced or fits
    return replaced


def _settle_earlier(ctx: Context, live: tuple[int, ...],
                    source: str | None) -> tuple[list[Reply], tuple[int, ...]]:
    """Edits that take the buttons off the last answer's messages (the pressed
    one is settled on its own), and the ids of those not sent yet."""
    if not live:
        return [], ()
    flush_before_reading(ctx.session)
    rows = ctx.session.connection().execute(
        _LIVE_ROWS, {"ids": list(live), "account_id": ctx.account.id}).all()
    edits = [Reply("", edit=platform_id, edit_kind=EditKind.settle)
             for _, platform_id, status in rows
             if status is OutboxStatus.sent and platform_id and platform_id != source]
    return edits, tuple(row_id for row_id, _, status in rows if status in _WAITING)


def _settle(ctx: Context, source: str) -> Reply:
    """The edit that leaves the pressed message as a record of the choice:
    its text as we sent it (or as last redrawn), then "✓ <the label>"."""
    body = _sent_body(ctx, source) or {}
    label = next((button.get("label") for row in body.get("buttons") or []
                  for button in row if button.get("payload") == ctx.msg.payload), None)
    if not label:  # not ours any more (retention emptied it), or never: the buttons go
        return Reply("", edit=source, edit_kind=EditKind.settle)
    choice = ctx.t("edit.chosen", choice=label)
    above = None if body.get("file") else body.get("text") or None
    room = MAX_TEXT - len(choice) - 2
    if above and len(above) > room:
        above = above[:room - 1].rstrip() + "…"
    return Reply(choice, edit=source, edit_kind=EditKind.settle, above=above)


def _sent_body(ctx: Context, source: str) -> dict[str, Any] | None:
    """What we last put in the message with this platform id, from the outbox."""
    bodies = ctx.session.scalars(
        select(OutboxMessage.body)
        .where(OutboxMessage.channel == ctx.account.channel,
               OutboxMessage.chat_id == ctx.account.chat_id,
               OutboxMessage.provider_message_id == source,
               OutboxMessage.status == OutboxStatus.sent)
        .order_by(OutboxMessage.id.desc()).limit(4))
    return next((body for body in bodies if body.get("edit_kind") != EditKind.settle), None)


def _close_request(ctx: Context, up: str | None, inline_first: bool) -> None:
    """Follow the contact/location keyboard through the replies: put a note
    before the first one with buttons while it is still up."""
    replies: list[Reply] = []
    for reply in ctx.replies:
        if reply.edit is None:
            if reply.request:
                up = reply.request
            elif not reply.buttons:
                up = None
            elif up:
                if not inline_first:  # an answer in a webhook's response: none
                    note = _RECEIVED.get(ctx.msg.kind, "keyboard.closed")
                    replies.append(Reply(ctx.t(note), closes_request=True))
                up = None
        replies.append(reply)
    ctx.replies[:] = replies
    data = {k: v for k, v in ctx.conversation.data.items() if k != REQUEST_KEY}
    if up or REQUEST_KEY in ctx.conversation.data:
        ctx.conversation.data = {**data, REQUEST_KEY: up} if up else data
