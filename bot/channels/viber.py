"""Viber: callbacks are checked and read with our own `viber_event` models
(viberbot's parser takes any type), viberbot builds the messages we send; we
verify the signature ourselves (constant time, on the raw bytes, before
parsing — the library compares with `==`) and send through httpx with a
timeout (the library's sender blocks, has none, and raises a bare Exception)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from typing import Any

import httpx
from viberbot.api import messages as vmessages

from bot.channels import viber_event as schema
from bot.channels.base import MediaRefused, RateLimits, SendResult, WebhookStatus
from bot.channels.boundary import Refused, validate
from bot.channels.media_hosts import MediaHosts, fetch_allowed
from bot.messages import Contact, Incoming, Kind, Location, Media, Reply

log = logging.getLogger(__name__)
CHANNEL = "viber"
SENDER_NAME_MAX = 28  # Viber's limit on `sender.name`
MIN_API_VERSION = 3  # share-phone buttons need 3
# The events the bot acts on; delivered, seen, failed, webhook and newer ones
# are acknowledged and ignored.
_READ_EVENTS = {"message", "conversation_started", "subscribed", "unsubscribed"}
_BLOCKED_STATUSES = {5, 6}  # receiverNotRegistered, notSubscribed
_RETRY_STATUSES = {12}  # tooManyRequests
_TRANSIENT_STATUSES = {2, 7, 8, 9, 10, 11, 13}  # auth, internal, rate or temporary errors


def signature_matches(token: str | None, body: bytes, header: str | None) -> bool:
    if not token or not header:
        return False
    expected = hmac.new(token.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), header.encode("utf-8", "surrogateescape"))


def parse_callback(data: dict[str, Any]) -> Incoming:
    """A Viber callback as a neutral message. Raises `Refused` (a ValueError)
    for what is not a callback Viber would send: every field read is checked
    for type and range first (`viber_event`). Receipts and event types the bot
    does not read are `ignored` once their envelope is checked."""
    if not isinstance(data.get("event"), str):
        raise Refused("not a Viber callback: no event")
    envelope: schema.Envelope = validate(schema.Envelope, data, "Viber callback")
    event = envelope.event
    token = envelope.message_token if envelope.message_token is not None else envelope.timestamp
    key = f"{event}:{token}"
    if event not in _READ_EVENTS:
        return Incoming(channel=CHANNEL, user_id="", chat_id="", kind=Kind.ignored,
                        update_key=key, raw=data)
    what = f"Viber {event} callback"
    if event == "unsubscribed":
        left: schema.UnsubscribedEvent = validate(schema.UnsubscribedEvent, data, what)
        return Incoming(channel=CHANNEL, user_id=left.user_id, chat_id=left.user_id,
                        kind=Kind.blocked, update_key=key, raw=data)
    if event in ("subscribed", "conversation_started"):
        profile = validate(schema.UserEvent, data, what).user
        kind = Kind.unblocked if event == "subscribed" else Kind.started
        return Incoming(channel=CHANNEL, user_id=profile.id, chat_id=profile.id,
                        kind=kind, update_key=key, display_name=profile.name,
                        language_hint=profile.language, raw=data)
    request: schema.MessageEvent = validate(schema.MessageEvent, data, what)
    sender, message = request.sender, request.message
    fields: dict[str, Any] = {
        "channel": CHANNEL, "user_id": sender.id, "chat_id": sender.id,
        "update_key": key, "display_name": sender.name, "language_hint": sender.language,
        "raw": data,
    }
    if message.type == "text":
        # A reply button sends its ActionBody (our payload) back as a text:
        # indistinguishable from typing it, so the engine decides whether it
        # was offered (`bot.engine.typed`); a pasted link is never a button.
        text = message.text or ""
        if text.startswith("/") and len(text) > 1:
            command, _, args = text[1:].partition(" ")
            return Incoming(kind=Kind.command, text=text, command=command.lower(),
                            args=args.strip(), **fields)
        return Incoming(kind=Kind.text, text=text, **fields)
    if message.type == "contact":
        if message.contact is None:
            raise Refused(f"malformed {what}: message.contact: missing")
        return Incoming(kind=Kind.contact, contact=Contact(
            phone=message.contact.phone_number or "", first_name=message.contact.name,
            is_own=True), **fields)
    if message.type == "location":
        if message.location is None:
            raise Refused(f"malformed {what}: message.location: missing")
        return Incoming(kind=Kind.location, location=Location(
            message.location.lat, message.location.lon), **fields)
    if message.type == "picture":
        media = Media(url=message.media, size=message.size, file_name=message.file_name,
                      mime_type="image/jpeg")
        return Incoming(kind=Kind.photo, media=(media,), text=message.text or None, **fields)
    if message.type == "file":
        media = Media(url=message.media, size=message.size, file_name=message.file_name)
        return Incoming(kind=Kind.file, media=(media,), **fields)
    if message.type == "sticker":
        return Incoming(kind=Kind.sticker, **fields)
    return Incoming(kind=Kind.unsupported, **fields)  # video, url, rich media, …


def sent_at_ms(data: dict[str, Any]) -> int:
    """The callback's `timestamp` (ms since the epoch); call after `parse_callback`."""
    return int(data["timestamp"])


def sender_name_fit(name: str) -> str:
    """Viber shows at most 28 characters of a sender name: a longer one is cut
    at a word, not in the middle of one."""
    name = " ".join(name.split())
    if len(name) <= SENDER_NAME_MAX:
        return name
    cut = name[:SENDER_NAME_MAX + 1].rsplit(" ", 1)[0]
    return cut if len(cut) >= SENDER_NAME_MAX // 2 else name[:SENDER_NAME_MAX]


def render_keyboard(reply: Reply) -> dict[str, Any] | None:
    """Buttons as a Viber custom keyboard; silent so payloads don't show."""
    rows: list[list[dict[str, Any]]] = []
    if reply.request in ("contact", "location"):
        rows.append([{
            "ActionType": "share-phone" if reply.request == "contact" else "location-picker",
            "ActionBody": f"req:{reply.request}",
            "Text": reply.request_label or reply.request,
        }])
    for row in reply.buttons:
        rows.append([{"ActionType": "reply", "ActionBody": b.payload, "Text": b.label,
                      "Silent": True} for b in row])
    if not rows:
        return None
    buttons: list[dict[str, Any]] = []
    for keys in rows:
        width = max(1, 6 // len(keys))
        buttons += [{"Columns": width, "Rows": 1, "TextSize": "regular", **key} for key in keys]
    return {"Type": "keyboard", "DefaultHeight": False, "InputFieldState": "regular",
            "Buttons": buttons}


def render_message(reply: Reply, sender: dict[str, str]) -> dict[str, Any]:
    """The body of a send_message call (without the receiver)."""
    message: vmessages.TextMessage | vmessages.FileMessage
    keyboard = render_keyboard(reply)
    if reply.file is not None and reply.file.url:
        path = reply.file.path
        size = os.path.getsize(path) if path and os.path.exists(path) else 0  # Viber wants it
        message = vmessages.FileMessage(media=reply.file.url, size=size,
                                        file_name=reply.file.file_name or "document",
                                        keyboard=keyboard, min_api_version=MIN_API_VERSION)
    else:
        message = vmessages.TextMessage(text=reply.text, keyboard=keyboard,
                                        min_api_version=MIN_API_VERSION)
    return {"sender": sender, **message.to_dict()}


class ViberProvider:
    """Sends outbox rows to `{VIBER_API_URL}/send_message` with httpx."""

    channel = CHANNEL

    def __init__(self, auth_token: str, api_url: str, sender_name: str,
                 limits: RateLimits, avatar: str | None = None,
                 media_hosts: MediaHosts | None = None,
                 timeout: float = 15.0,
                 sender_names: dict[str, str] | None = None) -> None:
        self.limits = limits
        self.media_hosts = media_hosts or MediaHosts()
        self.api_url = api_url.rstrip("/")
        self.avatar = {"avatar": avatar} if avatar else {}
        self.sender = {"name": sender_name_fit(sender_name), **self.avatar}
        # The name the citizen sees above each message, in their language.
        self.senders = {locale: {"name": sender_name_fit(name), **self.avatar}
                        for locale, name in (sender_names or {}).items() if name.strip()}
        self.client = httpx.AsyncClient(
            headers={"X-Viber-Auth-Token": auth_token},
            timeout=httpx.Timeout(timeout, connect=min(5.0, timeout)),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )

    def sender_for(self, reply: Reply) -> dict[str, str]:
        return self.senders.get(reply.locale or "", self.sender)

    def welcome_body(self, reply: Reply) -> dict[str, Any]:
        """conversation_started is answered with the welcome in the response body."""
        return render_message(reply, self.sender_for(reply))

    async def call(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.post(f"{self.api_url}/{method}", json=body)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    async def send(self, chat_id: str, reply: Reply) -> SendResult:
        body = {"receiver": chat_id, **render_message(reply, self.sender_for(reply))}
        try:
            response = await self.client.post(f"{self.api_url}/send_message", json=body)
        except httpx.HTTPError as exc:
            kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection"
            return SendResult(ok=False, error=f"{type(exc).__name__}: {exc}", reason=kind)
        if response.status_code == 429:
            retry = float(response.headers.get("Retry-After", "1") or 1)
            return SendResult(ok=False, retry_after=retry, error="HTTP 429")
        if response.status_code >= 500:
            return SendResult(ok=False, error=f"HTTP {response.status_code}",
                              reason="server_error")
        if response.status_code >= 400:
            return SendResult(ok=False, permanent=True, error=f"HTTP {response.status_code}")
        try:
            result = response.json()
            status = int(result.get("status", -1))
        except (ValueError, TypeError, AttributeError):
            return SendResult(ok=False, error="unreadable Viber answer", reason="other")
        message = str(result.get("status_message", ""))
        if status == 0:
            return SendResult(ok=True, provider_message_id=str(result.get("message_token", "")))
        if status in _BLOCKED_STATUSES:
            return SendResult(ok=False, blocked=True, permanent=True, error=message)
        if status in _RETRY_STATUSES:
            return SendResult(ok=False, retry_after=1.0, error=message)
        if status in _TRANSIENT_STATUSES:
            return SendResult(ok=False, error=f"status {status}: {message}",
                              reason="server_error")
        return SendResult(ok=False, permanent=True, error=f"status {status}: {message}")

    async def fetch_media(self, file_id: str | None, url: str | None,
                          max_bytes: int) -> bytes:
        """The media URL Viber gave us, read no further than `max_bytes` —
        only from the allowed media hosts (MEDIA_HOSTS), public addresses and
        checked redirects: see `bot.channels.media_hosts`. The auth header is
        not sent there."""
        if not url or not url.startswith(("https://", "http://")):
            raise MediaRefused("a Viber file needs its http(s) media URL")
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0),
                                     follow_redirects=False, trust_env=False) as client:
            return await fetch_allowed(client, self.media_hosts, url, max_bytes)

    async def webhook_status(self) -> WebhookStatus:
        """get_account_info: the public account the token belongs to and the
        webhook Viber calls; a refusal (a bad token) raises ValueError."""
        answer = await self.call("get_account_info", {})
        if answer.get("status") != 0:
            raise ValueError(f"Viber answered status {answer.get('status')}: "
                             f"{answer.get('status_message')}")
        return WebhookStatus(account=str(answer.get("name") or answer.get("uri") or ""),
                             url=str(answer.get("webhook") or ""))

    async def close(self) -> None:
        await self.client.aclose()
