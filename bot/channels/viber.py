"""Viber: viberbot parses callbacks and builds messages; we verify the
signature ourselves (constant time, on the raw bytes, before parsing — the
library compares with `==`) and send through httpx with a timeout (the
library's sender blocks, has none, and raises a bare Exception)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
from typing import Any

import httpx
from viberbot.api import messages as vmessages
from viberbot.api.viber_requests import (
    ViberConversationStartedRequest,
    ViberMessageRequest,
    ViberSubscribedRequest,
    ViberUnsubscribedRequest,
    create_request,
)

from bot.channels.base import MediaRefused, MediaTooBig, RateLimits, SendResult
from bot.messages import Contact, Incoming, Kind, Location, Media, Reply

log = logging.getLogger(__name__)
CHANNEL = "viber"
MIN_API_VERSION = 3  # share-phone buttons need 3
# Our button payloads (`prefix:argument`, no spaces). Viber reply buttons send
# their ActionBody back as a text message; this tells them from typed text.
PAYLOAD_RE = re.compile(r"^[a-z][a-z0-9_]*:[^\s]*$")
_KNOWN_EVENTS = {"message", "conversation_started", "subscribed", "unsubscribed",
                 "delivered", "seen", "failed", "webhook"}
_BLOCKED_STATUSES = {5, 6}  # receiverNotRegistered, notSubscribed
_RETRY_STATUSES = {12}  # tooManyRequests
_TRANSIENT_STATUSES = {2, 7, 8, 9, 10, 11, 13}  # auth, internal, rate or temporary errors


def signature_matches(token: str | None, body: bytes, header: str | None) -> bool:
    if not token or not header:
        return False
    expected = hmac.new(token.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), header.encode("utf-8", "surrogateescape"))


def parse_callback(data: dict[str, Any]) -> Incoming:
    """A Viber callback as a neutral message. Raises ValueError for what is
    not a Viber callback; event types viberbot does not know are `ignored`."""
    event = data.get("event")
    if not isinstance(event, str):
        raise ValueError("not a Viber callback: no event")
    token = str(data.get("message_token", data.get("timestamp", "")))
    key = f"{event}:{token}"
    if event not in _KNOWN_EVENTS or event in {"delivered", "seen", "failed", "webhook"}:
        return Incoming(channel=CHANNEL, user_id="", chat_id="", kind=Kind.ignored,
                        update_key=key, raw=data)
    try:
        request = create_request(data)
    except Exception as exc:  # viberbot raises bare Exception / KeyError
        raise ValueError(f"malformed Viber {event} callback: {exc}") from exc

    if isinstance(request, ViberUnsubscribedRequest):
        user = str(request.user_id)
        return Incoming(channel=CHANNEL, user_id=user, chat_id=user, kind=Kind.blocked,
                        update_key=key, raw=data)
    if isinstance(request, ViberSubscribedRequest | ViberConversationStartedRequest):
        profile = request.user
        kind = Kind.unblocked if isinstance(request, ViberSubscribedRequest) else Kind.started
        return Incoming(channel=CHANNEL, user_id=str(profile.id), chat_id=str(profile.id),
                        kind=kind, update_key=key, display_name=profile.name,
                        language_hint=profile.language, raw=data)
    assert isinstance(request, ViberMessageRequest)
    sender = request.sender
    fields: dict[str, Any] = {
        "channel": CHANNEL, "user_id": str(sender.id), "chat_id": str(sender.id),
        "update_key": key, "display_name": sender.name, "language_hint": sender.language,
        "raw": data,
    }
    message = request.message
    if isinstance(message, vmessages.TextMessage):
        text = message.text or ""
        if PAYLOAD_RE.match(text):
            return Incoming(kind=Kind.button, payload=text, **fields)
        if text.startswith("/") and len(text) > 1:
            command, _, args = text[1:].partition(" ")
            return Incoming(kind=Kind.command, text=text, command=command.lower(),
                            args=args.strip(), **fields)
        return Incoming(kind=Kind.text, text=text, **fields)
    if isinstance(message, vmessages.ContactMessage):
        contact = message.contact
        return Incoming(kind=Kind.contact, contact=Contact(
            phone=contact.phone_number or "", first_name=contact.name, is_own=True), **fields)
    if isinstance(message, vmessages.LocationMessage):
        loc = message.location
        return Incoming(kind=Kind.location, location=Location(float(loc.latitude),
                                                              float(loc.longitude)), **fields)
    if isinstance(message, vmessages.PictureMessage):
        raw = data.get("message", {})
        media = Media(url=message.media, size=raw.get("size"), file_name=raw.get("file_name"),
                      mime_type="image/jpeg")
        return Incoming(kind=Kind.photo, media=(media,), text=message.text or None, **fields)
    if isinstance(message, vmessages.FileMessage):
        media = Media(url=message.media, size=message.size, file_name=message.file_name)
        return Incoming(kind=Kind.file, media=(media,), **fields)
    if isinstance(message, vmessages.StickerMessage):
        return Incoming(kind=Kind.sticker, **fields)
    return Incoming(kind=Kind.unsupported, **fields)


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
                 timeout: float = 15.0) -> None:
        self.limits = limits
        self.api_url = api_url.rstrip("/")
        self.sender = {"name": sender_name[:28], **({"avatar": avatar} if avatar else {})}
        self.client = httpx.AsyncClient(
            headers={"X-Viber-Auth-Token": auth_token},
            timeout=httpx.Timeout(timeout, connect=min(5.0, timeout)),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )

    def welcome_body(self, reply: Reply) -> dict[str, Any]:
        """conversation_started is answered with the welcome in the response body."""
        return render_message(reply, self.sender)

    async def call(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.post(f"{self.api_url}/{method}", json=body)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    async def send(self, chat_id: str, reply: Reply) -> SendResult:
        body = {"receiver": chat_id, **render_message(reply, self.sender)}
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
        """The media URL Viber gave us, read no further than `max_bytes`.
        Viber's links are plain HTTPS URLs; the auth header is not sent there."""
        if not url or not url.startswith(("https://", "http://")):
            raise MediaRefused("a Viber file needs its http(s) media URL")
        chunks: list[bytes] = []
        size = 0
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0),
                                     follow_redirects=True, max_redirects=3) as client, \
                client.stream("GET", url) as response:
            if response.status_code in (403, 404, 410):
                raise MediaRefused(f"HTTP {response.status_code}")
            response.raise_for_status()
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise MediaTooBig(f"{declared} bytes")
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise MediaTooBig(f"over {max_bytes} bytes")
                chunks.append(chunk)
        return b"".join(chunks)

    async def close(self) -> None:
        await self.client.aclose()
