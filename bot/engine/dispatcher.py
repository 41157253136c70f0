"""The engine: one inbound update → its conversation row → a handler →
replies in the outbox, all in one database transaction.

Every channel (Telegram, Viber, the terminal) calls `Engine.handle` with a
channel-neutral `Incoming`. It is synchronous and meant to run on a worker
thread: the database work is short, and the platform calls happen later in
the sender, never here.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, delete, select, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from bot.db import Database, insert_for, utcnow
from bot.engine import buttons
from bot.engine.context import Context
from bot.engine.router import RouterSet
from bot.engine.typed import read_typed, remember_offered
from bot.filestore import FileStore
from bot.i18n import Catalogs
from bot.messages import Incoming, Kind, Reply, split_payload
from bot.metrics import HANDLER_ERRORS, HANDLING_SECONDS, UPDATES_DUPLICATE, UPDATES_RECEIVED
from bot.models import (
    ChannelAccount,
    Citizen,
    Conversation,
    InboundStatus,
    InboundUpdate,
    OutboxMessage,
)
from bot.models.outbox import OutboxStatus
from bot.outbox.held import away_summary
from bot.outbox.queue import enqueue, notify_enqueued, redeliver_plain, write_replies
from bot.outbox.steps import STEP_KEY
from bot.profile import Profile

log = logging.getLogger(__name__)

# `more:<page>`: the citizen asked for the next page of the keyboard on screen,
# one a channel could not show whole (Viber's "More…" button).
PAGE_PREFIX = "more"
_PAGE_MAX = 99
# Set when a re-opened chat (Viber's conversation_started) was offered
# "continue" or "start over": whatever comes next resumes the step.
RESUME_KEY = "_resume"
# A record of the update, not a copy of the person: big texts are cut.
_PAYLOAD_TEXT_LIMIT = 4096


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached: the webhook answers 503 so the
    platform delivers the update again later."""


@dataclass
class HandleResult:
    duplicate: bool = False
    failed: bool = False
    replies: list[Reply] = field(default_factory=list)
    inline: Reply | None = None


def _is_connection_error(exc: Exception) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError):
        text = str(exc.orig).lower()
        return not ("locked" in text or "deadlock" in text or "serializ" in text)
    return False


_LOAD = (
    select(ChannelAccount, Citizen, Conversation)
    .join(Citizen, Citizen.id == ChannelAccount.citizen_id)
    .join(Conversation, Conversation.account_id == ChannelAccount.id)
    .where(ChannelAccount.channel == bindparam("channel"),
           ChannelAccount.external_id == bindparam("external_id"))
    .with_for_update(of=Conversation)
)
# The inbound record, written once: the same text on SQLite and PostgreSQL, and
# cached (SQLAlchemy 2.0 compiles an `on_conflict_do_nothing()` insert afresh
# on every call), on the session's connection (the ORM adds nothing here).
_INBOUND = InboundUpdate.__table__
_RECORD = text(
    "INSERT INTO inbound_update (channel, update_key, account_id, kind, status, error, payload,"
    " received_at) VALUES (:channel, :update_key, :account_id, :kind, :status, :error, :payload,"
    " :received_at) ON CONFLICT (channel, update_key) DO NOTHING RETURNING id"
).bindparams(bindparam("payload", type_=_INBOUND.c.payload.type),
             bindparam("received_at", type_=_INBOUND.c.received_at.type))
# A Viber session is 24 hours; a minute's precision costs no write per message.
_TOUCH_EVERY = timedelta(minutes=1)


class Engine:
    def __init__(self, db: Database, profile: Profile, catalogs: Catalogs, routes: RouterSet,
                 files: FileStore | None = None, survey_key: str | None = None):
        self.files = files or FileStore(Path("data/media"), None, secrets.token_hex(16))
        self.survey_key = survey_key or secrets.token_hex(16)
        self.db = db
        self.profile = profile
        self.catalogs = catalogs
        self.routes = routes

    # ------------------------------------------------------------------ entry
    def handle(self, msg: Incoming, *, inline_first: bool = False) -> HandleResult:
        """Handle one update exactly once. With `inline_first` the first reply
        is returned to be sent in the webhook's response (Viber's welcome) and
        recorded in the outbox as already sent."""
        started = time.perf_counter()
        UPDATES_RECEIVED.labels(msg.channel).inc()
        msg = _without_nul(msg)
        try:
            result = self._handle_in_transaction(msg, inline_first)
        except DatabaseUnavailable:
            raise
        except Exception as exc:
            if _is_connection_error(exc):
                raise DatabaseUnavailable(str(exc)) from exc
            HANDLER_ERRORS.labels(msg.channel).inc()
            log.exception("handler failed for %s update %s", msg.channel, msg.update_key)
            result = self._record_failure(msg, exc)
        HANDLING_SECONDS.labels(msg.channel).observe(time.perf_counter() - started)
        if result.replies and not result.duplicate:
            notify_enqueued()
        return result

    def _handle_in_transaction(self, msg: Incoming, inline_first: bool) -> HandleResult:
        try:
            with self.db.session() as session:
                now = utcnow()
                if msg.kind is Kind.ignored:  # a receipt or an edit: no one to answer
                    if self._record_once(session, msg, InboundStatus.ignored) is None:
                        UPDATES_DUPLICATE.labels(msg.channel).inc()
                        return HandleResult(duplicate=True)
                    return HandleResult()
                if msg.kind is Kind.undelivered:
                    return self._undelivered(session, msg, now)
                account, citizen, conversation = self._load(session, msg, now)
                if self._record_once(session, msg, InboundStatus.handled, account.id) is None:
                    UPDATES_DUPLICATE.labels(msg.channel).inc()
                    return HandleResult(duplicate=True)
                self._touch(account, citizen, msg, now)
                if not msg.handled_kinds:
                    self._platform_event(account, msg, now)
                    return HandleResult()
                ctx = Context(
                    msg=msg, session=session, account=account, citizen=citizen,
                    conversation=conversation, profile=self.profile, catalogs=self.catalogs,
                    routes=self.routes, now=now, files=self.files, survey_key=self.survey_key,
                )
                earlier = buttons.before(ctx)
                if not read_typed(ctx):
                    self.dispatch(ctx)
                ctx.flush_preface()
                remember_offered(ctx, also=self._step_question(ctx))
                self._keyboard_hints(ctx)
                self._remember_step(ctx)
                waiting = buttons.tidy(ctx, earlier, inline_first=inline_first)
                replies = self._after_summary(ctx, inline_first)
                rows = write_replies(session, account, replies, profile=self.profile, now=now,
                                     first_sent=inline_first)
                inline = replies[0] if inline_first and replies else None
                buttons.remember(ctx, rows, replies, waiting)
                return HandleResult(replies=replies, inline=inline)
        except (OperationalError, DBAPIError) as exc:
            if _is_connection_error(exc):
                raise DatabaseUnavailable(str(exc)) from exc
            raise

    def _after_summary(self, ctx: Context, inline_first: bool) -> list[Reply]:
        """The replies, after one summary of whatever waited for the citizen
        (held while the channel could not carry it). When the first reply is
        the welcome in the webhook's answer (Viber: the chat re-opened), the
        summary goes in that same message, the one the bot may send then."""
        away = away_summary(ctx.session, ctx.citizen.id, self.catalogs.translator(ctx.locale),
                            ctx.now)
        if away is None:
            return ctx.replies
        first = ctx.replies[0] if ctx.replies else None
        if inline_first and first is not None and first.file is None:
            return [replace(first, text=f"{away.text}\n\n{first.text}"), *ctx.replies[1:]]
        return [away, *ctx.replies]

    # ------------------------------------------------------------- storage
    def _record_once(self, session: Session, msg: Incoming, status: InboundStatus,
                     account_id: int | None = None, error: str | None = None) -> int | None:
        """Insert the inbound record; None when this update was seen before."""
        params: dict[str, Any] = {
            "channel": msg.channel,
            "update_key": msg.update_key,
            "account_id": account_id,
            "kind": msg.kind.value,
            "status": status.name,
            "received_at": utcnow(),
            "error": error,
            "payload": _stored_payload(msg) if status is InboundStatus.failed else None,
        }
        return session.connection().execute(_RECORD, params).scalar_one_or_none()

    def _load(self, session: Session, msg: Incoming,
              now: datetime) -> tuple[ChannelAccount, Citizen, Conversation]:
        """Find (or create, race-free) the account, citizen and conversation in
        one query, locking the conversation row for this transaction
        (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers)."""
        params = {"channel": msg.channel, "external_id": msg.user_id}
        row = session.execute(_LOAD, params).one_or_none()
        if row is None:
            self._create_account(session, msg, now)
            row = session.execute(_LOAD, params).one()
        return row[0], row[1], row[2]

    @staticmethod
    def _touch(account: ChannelAccount, citizen: Citizen, msg: Incoming,
               now: datetime) -> None:
        """Keep "last seen" fresh without a write on every message. Opening
        the chat (Viber's conversation_started) is no message: it does not
        open Viber's 24-hour session, which only the user's writing does."""
        if msg.kind is not Kind.started and now - account.last_inbound_at > _TOUCH_EVERY:
            account.last_inbound_at = now
        if now - citizen.last_seen_at > _TOUCH_EVERY:
            citizen.last_seen_at = now
        if msg.display_name and account.display_name != msg.display_name:
            account.display_name = msg.display_name
        if msg.language_hint and account.platform_language != msg.language_hint:
            account.platform_language = msg.language_hint

    def _find_account(self, session: Session, msg: Incoming) -> ChannelAccount | None:
        return session.scalars(
            select(ChannelAccount).where(
                ChannelAccount.channel == msg.channel, ChannelAccount.external_id == msg.user_id
            )
        ).one_or_none()

    def _create_account(self, session: Session, msg: Incoming, now: Any) -> ChannelAccount:
        citizen = Citizen(created_at=now, last_seen_at=now)
        session.add(citizen)
        session.flush()
        insert = insert_for(session)
        inserted = session.execute(  # type: ignore[attr-defined]
            insert(ChannelAccount)
            .values(
                citizen_id=citizen.id, channel=msg.channel, external_id=msg.user_id,
                chat_id=msg.chat_id, display_name=msg.display_name,
                platform_language=msg.language_hint, first_seen_at=now, last_inbound_at=now,
            )
            .on_conflict_do_nothing(index_elements=["channel", "external_id"])
        ).rowcount
        if not inserted:  # another worker created it between our read and insert
            session.execute(delete(Citizen).where(Citizen.id == citizen.id))
            session.expunge(citizen)
        account = self._find_account(session, msg)
        assert account is not None
        session.execute(
            insert(Conversation)
            .values(account_id=account.id, state=None, data={}, updated_at=now)
            .on_conflict_do_nothing(index_elements=["account_id"])
        )
        return account

    def _undelivered(self, session: Session, msg: Incoming, now: datetime) -> HandleResult:
        """The platform could not show one of our messages: it is sent again
        without its keyboard, the buttons listed to be typed. Not the citizen
        writing: nobody is created, and their last message stays the last."""
        account = self._find_account(session, msg)
        status = InboundStatus.handled if account is not None else InboundStatus.ignored
        if self._record_once(session, msg, status,
                             account.id if account is not None else None) is None:
            UPDATES_DUPLICATE.labels(msg.channel).inc()
            return HandleResult(duplicate=True)
        citizen = session.get(Citizen, account.citizen_id) if account is not None else None
        if account is None or citizen is None:
            return HandleResult()
        locale = citizen.language or self.profile.default_locale
        row = redeliver_plain(session, account, msg.payload or "", msg.text,
                              self.catalogs.gettext(locale, "keyboard.type_answer"),
                              profile=self.profile, now=now)
        if row is None:
            return HandleResult()
        return HandleResult(replies=[Reply.from_json(row.body)])

    def _keyboard_hints(self, ctx: Context) -> None:
        """What a channel needs to show a keyboard well, said neutrally: the
        "More…" label in the reader's language (for a keyboard too long for one
        screen), and that only a button makes sense when the step waiting for
        the answer takes nothing else (Viber then hides its input field)."""
        waiting = self.routes.states.get(ctx.state) if ctx.state else None
        buttons_only = waiting is not None and waiting.accepts == frozenset({Kind.button})
        for reply in ctx.replies:
            if not reply.buttons:
                continue
            if reply.more_label is None:
                reply.more_label = ctx.t("button.more")
            if buttons_only and reply is ctx.replies[-1]:
                reply.free_text = False

    def _show_page(self, ctx: Context) -> bool:
        """`more:<page>`: the same question again, at that page of its keyboard —
        the last keyboard sent to this chat. False when there is none."""
        _, argument = split_payload(ctx.msg.payload or "")
        if not argument.isdigit() or int(argument) > _PAGE_MAX:
            return False
        rows = ctx.session.scalars(
            select(OutboxMessage.body)
            .where(OutboxMessage.account_id == ctx.account.id,
                   OutboxMessage.status.in_((OutboxStatus.sent, OutboxStatus.queued,
                                             OutboxStatus.sending)))
            .order_by(OutboxMessage.id.desc()).limit(10))
        for body in rows:
            if body.get("buttons"):
                again = Reply.from_json(body)
                again.page = int(argument)
                ctx.replies.append(again)
                return True
        return False

    def _platform_event(self, account: ChannelAccount, msg: Incoming, now: Any) -> None:
        if msg.kind is Kind.blocked:
            account.blocked_at = now
        elif msg.kind is Kind.unblocked:
            account.blocked_at = None

    def _record_failure(self, msg: Incoming, exc: Exception) -> HandleResult:
        """The handler raised: its transaction is gone. Keep the update (for a
        replay) and apologise, in a transaction of its own."""
        try:
            with self.db.session() as session:
                now = utcnow()
                error = f"{type(exc).__name__}: {exc}"[:2000]
                if msg.kind is Kind.ignored:
                    self._record_once(session, msg, InboundStatus.failed, error=error)
                    return HandleResult(failed=True)
                account, citizen, _ = self._load(session, msg, now)
                if self._record_once(session, msg, InboundStatus.failed, account.id,
                                     error=error) is None:
                    return HandleResult(duplicate=True, failed=True)
                locale = citizen.language or self.profile.default_locale
                apology = Reply(self.catalogs.gettext(locale, "error.internal"), locale=locale)
                enqueue(session, account, apology, profile=self.profile, now=now)
                return HandleResult(failed=True, replies=[apology])
        except Exception as second:
            if _is_connection_error(second):
                raise DatabaseUnavailable(str(second)) from second
            log.exception("could not record the failed update %s", msg.update_key)
            return HandleResult(failed=True)

    # ------------------------------------------------------------ dispatch
    @staticmethod
    def _step_question(ctx: Context) -> list[Reply]:
        """While a re-opened chat is offered "continue or start over?", the
        step's own question stays answerable (typed, on Viber): its buttons."""
        question = ctx.data.get(STEP_KEY) if ctx.data.get(RESUME_KEY) else None
        return [Reply.from_json(question)] if question else []

    @staticmethod
    def _remember_step(ctx: Context) -> None:
        """Keep the question of the step the conversation is at (its last reply
        with a keyboard), for the sender to ask again after a notice or an
        invitation (`bot.outbox.steps`); forget it outside a flow."""
        if ctx.state is None:
            if STEP_KEY in ctx.data:
                ctx.conversation.data = {k: v for k, v in ctx.data.items() if k != STEP_KEY}
            return
        question = next((reply for reply in reversed(ctx.replies)
                         if (reply.buttons or reply.request) and reply.file is None), None)
        if question is not None:
            ctx.update_data(**{STEP_KEY: question.to_json()})

    @staticmethod
    def _resumed(ctx: Context, accepts: frozenset[Kind]) -> bool:
        """After the "continue or start over?" of a re-opened chat, what this
        step cannot take (a word, a sticker) means "continue": its question
        comes again, without an error. An answer it can take is its answer."""
        if not ctx.data.get(RESUME_KEY):
            return False
        ctx.conversation.data = {k: v for k, v in ctx.data.items() if k != RESUME_KEY}
        if ctx.msg.kind in accepts:
            return False
        return ctx.prompt_again()

    def dispatch(self, ctx: Context) -> None:
        """Decide which handler gets the message; see ARCHITECTURE.md."""
        msg, routes = ctx.msg, self.routes
        if (msg.kind is Kind.button and msg.payload
                and split_payload(msg.payload)[0] == PAGE_PREFIX and self._show_page(ctx)):
            return
        if msg.kind is Kind.command and msg.command in routes.commands:
            routes.commands[msg.command](ctx)
            return
        if msg.kind is Kind.button and msg.payload:
            prefix, _ = split_payload(msg.payload)
            if prefix in routes.actions:
                routes.actions[prefix](ctx)
                return
        handler = routes.states.get(ctx.state) if ctx.state else None
        if msg.kind is Kind.started or (ctx.citizen.language is None and handler is None):
            routes.commands["start"](ctx)
            return
        if msg.kind is Kind.command:
            routes.commands["__unknown_command__"](ctx)
            return
        if handler is None:
            if ctx.state:  # a state from an older version of the bot
                ctx.clear()
            routes.commands["__idle__"](ctx)
            return
        if self._resumed(ctx, handler.accepts):
            return
        if msg.kind not in handler.accepts:
            self._explain(ctx, handler.accepts, handler.expects)
            return
        if msg.kind is Kind.text and len(msg.text or "") > handler.max_length:
            ctx.again("error.too_long", max=handler.max_length, got=len(msg.text or ""))
            return
        handler.handler(ctx)

    def _explain(self, ctx: Context, accepts: frozenset[Kind],
                 expects: Kind | None = None) -> None:
        """Say what this step expects instead of what came, then ask again."""
        if ctx.msg.kind is Kind.button:
            key = "error.stale_button"
        elif expects is not None:
            key = f"error.expected_{expects.value}"
        elif Kind.text in accepts:
            key = "error.expected_text"
        elif Kind.contact in accepts:
            key = "error.expected_contact"
        elif Kind.location in accepts:
            key = "error.expected_location"
        elif Kind.photo in accepts:
            key = "error.expected_photo"
        else:
            key = "error.expected_button"
        ctx.again(key)


def _without_nul(msg: Incoming) -> Incoming:
    """NUL can be typed into a chat but not stored in PostgreSQL text: drop it."""
    fields: dict[str, Any] = {}
    for name in ("text", "payload", "display_name"):
        value = getattr(msg, name)
        if isinstance(value, str) and "\x00" in value:
            fields[name] = value.replace("\x00", "")
    contact = msg.contact
    if contact and "\x00" in contact.phone + (contact.first_name or ""):
        fields["contact"] = replace(contact, phone=contact.phone.replace("\x00", ""),
                                    first_name=(contact.first_name or "").replace("\x00", ""))
    return replace(msg, **fields) if fields else msg


def _stored_payload(msg: Incoming) -> dict[str, Any]:
    raw = dict(msg.raw or {})
    return {
        "kind": msg.kind.value,
        "user_id": msg.user_id,
        "text": (msg.text or "")[:_PAYLOAD_TEXT_LIMIT],
        "payload": msg.payload,
        "raw": raw if len(str(raw)) < 64_000 else None,
    }
