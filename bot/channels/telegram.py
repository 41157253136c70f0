"""Telegram: checked `telegram_update` models in, python-telegram-bot's `Bot` out.

The webhook hands the parsed update to our engine inside the request; PTB's
`Application` update queue is deliberately not used on this path (it answers
before handling and drops queued updates on stop).
"""

from __future__ import annotations

import hmac
import logging
import os
from dataclasses import replace
from typing import Any

import httpx
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from telegram.constants import ChatType
from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest

from bot.channels import telegram_update as schema
from bot.channels.base import MediaRefused, MediaTooBig, RateLimits, SendResult, WebhookStatus
from bot.channels.boundary import MAX_ID, Refused, validate
from bot.messages import Contact, Incoming, Kind, Location, Media, Reply

log = logging.getLogger(__name__)
CHANNEL = "telegram"

# The command list of SPEC §3.1, registered with setMyCommands (English
# descriptions; Telegram shows them in the command menu).
COMMANDS = [
    ("start", "Start / welcome"),
    ("menu", "Main menu"),
    ("reception", "Book the mayor's reception"),
    ("documents", "Request public documents"),
    ("complaint", "Complaint or suggestion"),
    ("survey", "Surveys"),
    ("status", "My submissions"),
    ("notices", "Notices and subscriptions"),
    ("link", "One account on Telegram and Viber"),
    ("language", "Change language"),
    ("help", "Help and contacts"),
    ("cancel", "Leave the current step"),
    ("mydata", "What is stored about me"),
    ("forget", "Erase my data"),
]
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]


def secret_matches(expected: str | None, header: str | None) -> bool:
    """Constant-time comparison on bytes (compare_digest raises on non-ASCII str)."""
    if not expected or header is None:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), header.encode("utf-8", "surrogateescape"))


def parse_update(data: dict[str, Any]) -> tuple[Incoming, str | None]:
    """A Bot API update as a neutral message, plus the callback query id to
    acknowledge (if any). Raises `Refused` (a ValueError) for what is not an
    update Telegram would send: every field read is checked for type and range
    first (`telegram_update`), so nothing unchecked is stored or handled."""
    update_id = data.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool) or not (
            0 <= update_id < MAX_ID):
        raise Refused("not a Telegram update: no update_id in range")
    if not any(kind in data for kind in ALLOWED_UPDATES):
        # Edits, channel posts, polls…: acknowledged without parsing, so a field
        # a newer Bot API adds to a kind we ignore can never make us refuse it.
        return _ignored(str(update_id), data), None
    update: schema.Update = validate(schema.Update, data, "Telegram update")
    key = str(update.update_id)
    chat: schema.Chat | None
    user: schema.User | None
    if update.callback_query is not None:
        query = update.callback_query
        chat = query.message.chat if query.message else None
        user = query.from_user
    elif update.my_chat_member is not None:
        chat, user = update.my_chat_member.chat, update.my_chat_member.from_user
    elif update.message is not None:
        chat, user = update.message.chat, update.message.from_user
    else:
        return _ignored(key, data), None
    if user is None or (chat is not None and chat.type != ChatType.PRIVATE):
        return _ignored(key, data), None
    sender = user

    def base(kind: Kind, **fields: Any) -> Incoming:
        name = " ".join(p for p in (sender.first_name, sender.last_name) if p) or None
        return Incoming(
            channel=CHANNEL, user_id=str(sender.id),
            chat_id=str(chat.id if chat else sender.id), kind=kind, update_key=key,
            display_name=name, language_hint=sender.language_code, raw=data,
            buttons_stay=True, **fields,
        )

    if update.callback_query is not None:
        payload = update.callback_query.data or ""
        under = update.callback_query.message
        source = str(under.message_id) if under and under.message_id else None
        return (base(Kind.button, payload=payload, source_message_id=source),
                update.callback_query.id)
    if update.my_chat_member is not None:
        status = update.my_chat_member.new_chat_member.status
        kind = Kind.blocked if status in ("kicked", "left") else Kind.unblocked
        return base(kind), None
    assert update.message is not None
    return _from_message(update.message, base), None


def _ignored(key: str, data: dict[str, Any]) -> Incoming:
    return Incoming(channel=CHANNEL, user_id="", chat_id="", kind=Kind.ignored,
                    update_key=key, raw=data)


def _from_message(message: schema.Message, base: Any) -> Incoming:
    text = message.text
    if text is not None:
        entity = message.entities[0] if message.entities else None
        if entity is not None and entity.type == "bot_command" and entity.offset == 0:
            command = text[1 : entity.length].split("@", 1)[0].lower()
            return base(Kind.command, text=text, command=command,
                        args=text[entity.length :].strip())
        return base(Kind.text, text=text)
    if message.contact is not None:
        contact = message.contact
        own = contact.user_id is not None and message.from_user is not None and (
            contact.user_id == message.from_user.id
        )
        return base(Kind.contact, contact=Contact(
            phone=contact.phone_number, first_name=contact.first_name,
            last_name=contact.last_name, is_own=own,
        ))
    if message.venue is not None:
        venue = message.venue
        return base(Kind.location, location=Location(
            venue.location.latitude, venue.location.longitude,
            address=f"{venue.title}, {venue.address}",
        ))
    if message.location is not None:
        return base(Kind.location, location=Location(
            message.location.latitude, message.location.longitude
        ))
    if message.photo:
        largest = message.photo[-1]
        media = Media(file_id=largest.file_id, size=largest.file_size, mime_type="image/jpeg")
        return base(Kind.photo, media=(media,), text=message.caption)
    if message.document is not None:
        doc = message.document
        media = Media(file_id=doc.file_id, size=doc.file_size, mime_type=doc.mime_type,
                      file_name=doc.file_name)
        # A recording sent "as a file" is still a recording (its length comes
        # from the bytes once fetched); the bytes decide whether it is one.
        recorded = (doc.mime_type or "").lower().startswith("audio/")
        return base(Kind.voice if recorded else Kind.file, media=(media,), text=message.caption)
    recording = message.voice or message.audio
    if recording is not None:
        media = Media(file_id=recording.file_id, size=recording.file_size,
                      mime_type=recording.mime_type or ("audio/ogg" if message.voice else None),
                      file_name=recording.file_name, duration=recording.duration)
        return base(Kind.voice, media=(media,), text=message.caption)
    if message.sticker is not None:
        return base(Kind.sticker)
    return base(Kind.unsupported)  # video, poll, dice, …


def render_markup(reply: Reply) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove:
    """Buttons become an inline keyboard; a contact or location request needs
    a reply keyboard, on which the other buttons travel as their labels (the
    engine maps a label typed or tapped back to its payload)."""
    if reply.request in ("contact", "location"):
        label = reply.request_label or reply.request
        first = KeyboardButton(
            label,
            request_contact=reply.request == "contact" or None,
            request_location=reply.request == "location" or None,
        )
        rows = [[first]] + [[KeyboardButton(b.label) for b in row] for row in reply.buttons]
        return ReplyKeyboardMarkup(rows, resize_keyboard=True, one_time_keyboard=True)
    if reply.buttons:
        return InlineKeyboardMarkup(
            [[InlineKeyboardButton(b.label, callback_data=b.payload) for b in row]
             for row in reply.buttons]
        )
    return ReplyKeyboardRemove()


def _fault_kind(exc: Exception) -> str:
    """What kind of transient fault PTB reported: it raises TimedOut for a
    timeout, NetworkError caused by an httpx error for a refused or reset
    connection, and a bare NetworkError for a 5xx answer."""
    if isinstance(exc, TimedOut):
        return "timeout"
    if isinstance(exc, OSError) or isinstance(exc.__cause__, httpx.HTTPError | OSError):
        return "connection"
    if isinstance(exc, NetworkError):
        return "server_error"
    return "other"


class TelegramProvider:
    """Sends outbox rows through PTB's `Bot` against `TELEGRAM_API_URL`."""

    channel = CHANNEL
    edits = True  # a sent message can be changed (the sender asks; Viber's cannot)

    def __init__(self, token: str, api_url: str, limits: RateLimits,
                 timeout: float = 15.0) -> None:
        api_url = api_url.rstrip("/")
        self.limits = limits
        self.bot = Bot(
            token,
            base_url=f"{api_url}/bot",
            base_file_url=f"{api_url}/file/bot",
            request=HTTPXRequest(connection_pool_size=64, read_timeout=timeout,
                                 write_timeout=timeout, connect_timeout=min(5.0, timeout)),
            get_updates_request=HTTPXRequest(connection_pool_size=2, read_timeout=40),
        )

    async def send(self, chat_id: str, reply: Reply) -> SendResult:
        try:
            if reply.edit is not None and reply.edit.isdigit():
                return await self._edit(chat_id, int(reply.edit), reply)
            message_id = await self._send_new(chat_id, reply)
        except RetryAfter as exc:
            seconds = exc.retry_after
            wait = seconds.total_seconds() if hasattr(seconds, "total_seconds") else float(seconds)
            return SendResult(ok=False, retry_after=wait, error=str(exc))
        except Forbidden as exc:
            return SendResult(ok=False, blocked=True, permanent=True, error=str(exc))
        except BadRequest as exc:
            blocked = "chat not found" in str(exc).lower()
            return SendResult(ok=False, permanent=True, blocked=blocked, error=str(exc))
        except (TelegramError, OSError) as exc:  # NetworkError, TimedOut, 5xx
            return SendResult(ok=False, error=f"{type(exc).__name__}: {exc}",
                              reason=_fault_kind(exc))
        return SendResult(ok=True, provider_message_id=message_id)

    async def _send_new(self, chat_id: str, reply: Reply) -> str:
        markup = render_markup(reply)
        if reply.file is not None:
            # Upload our own copy when we have it; a URL only as a fallback.
            path = reply.file.path
            document: Any = (open(path, "rb") if path and os.path.exists(path)  # noqa: SIM115
                             else reply.file.url)
            try:
                message = await self.bot.send_document(
                    chat_id=chat_id, document=document, caption=reply.text or None,
                    filename=reply.file.file_name, reply_markup=markup,
                )
            finally:
                if hasattr(document, "close"):
                    document.close()
        else:
            message = await self.bot.send_message(
                chat_id=chat_id, text=reply.text, reply_markup=markup
            )
        return str(message.message_id)

    async def _edit(self, chat_id: str, message_id: int, reply: Reply) -> SendResult:
        """Change a sent message: a settle takes its buttons away (and shows the
        choice under its text), a redraw changes it to the reply. An edit Telegram refuses
        (the message is too old, deleted, or not found) is recorded on the row
        and a new message goes instead; "not modified" means it already shows
        what we wanted."""
        try:  # an edit without reply_markup takes the inline buttons away
            if reply.settles and not (reply.above and reply.text):
                await self.bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id)
            else:
                text = f"{reply.above}\n\n{reply.text}" if reply.settles else reply.text
                markup = render_markup(reply) if reply.buttons and not reply.settles else None
                await self.bot.edit_message_text(
                    chat_id=chat_id, message_id=message_id, text=text,
                    reply_markup=markup)  # type: ignore[arg-type]
        except BadRequest as exc:
            refusal = str(exc)
            if "chat not found" in refusal.lower():
                raise
            if "not modified" in refusal.lower():
                return SendResult(ok=True, provider_message_id=str(message_id),
                                  error=f"edit not needed: {refusal}")
            log.info("telegram refused an edit (%s); sending a new message", refusal)
            if reply.settles and not reply.text:
                return SendResult(ok=True, error=f"edit refused: {refusal}; nothing to send")
            new = Reply(reply.text) if reply.settles else replace(reply, edit=None)
            return SendResult(ok=True, provider_message_id=await self._send_new(chat_id, new),
                              error=f"edit refused: {refusal}; sent as a new message")
        return SendResult(ok=True, provider_message_id=str(message_id))

    async def fetch_media(self, file_id: str | None, url: str | None,
                          max_bytes: int) -> bytes:
        """getFile, then the download from TELEGRAM_API_URL's file path (only
        there: Telegram's file ids name no other host)."""
        if not file_id:
            raise MediaRefused("a Telegram file needs its file_id")
        try:
            file = await self.bot.get_file(file_id)
        except BadRequest as exc:  # unknown file id, or over the Bot API's 20 MB
            raise (MediaTooBig if "too big" in str(exc).lower() else MediaRefused)(
                str(exc)) from exc
        if file.file_size and file.file_size > max_bytes:
            raise MediaTooBig(f"{file.file_size} bytes")
        # PTB reads a `file_path` naming a file on this machine from the disk;
        # the bytes come from TELEGRAM_API_URL's file server and nowhere else.
        if not (file.file_path or "").startswith(f"{self.bot.base_file_url}/"):
            raise MediaRefused("getFile named a file outside TELEGRAM_API_URL")
        data = bytes(await file.download_as_bytearray())
        if len(data) > max_bytes:
            raise MediaTooBig(f"{len(data)} bytes")
        return data

    async def webhook_status(self) -> WebhookStatus:
        """getMe (is the token good?) and getWebhookInfo (where Telegram
        delivers, what waits, what failed last); raises what PTB raises."""
        me = await self.bot.get_me()
        info = await self.bot.get_webhook_info()
        error_at = info.last_error_date.timestamp() if info.last_error_date else None
        return WebhookStatus(account=f"@{me.username}", url=info.url or "",
                             pending_updates=info.pending_update_count,
                             last_error=info.last_error_message or None,
                             last_error_at=error_at)

    async def close(self) -> None:
        try:
            await self.bot.shutdown()
        except Exception:  # pragma: no cover - best effort on shutdown
            log.debug("telegram bot shutdown failed", exc_info=True)
