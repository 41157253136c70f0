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
from urllib.parse import quote

import httpx
from viberbot.api import messages as vmessages

from bot.channels import viber_event as schema
from bot.channels.base import MediaRefused, RateLimits, SendResult, WebhookStatus
from bot.channels.boundary import Refused, validate
from bot.channels.media_hosts import MediaHosts, fetch_allowed
from bot.messages import Button, Contact, Incoming, Kind, Location, Media, Reply, split_payload

log = logging.getLogger(__name__)
CHANNEL = "viber"
SENDER_NAME_MAX = 28  # Viber's limit on `sender.name`
# The events the bot acts on; delivered, seen, webhook and newer ones are
# acknowledged and ignored.
_READ_EVENTS = {"message", "conversation_started", "subscribed", "unsubscribed", "failed"}
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
    if event == "failed":  # Viber could not show our message (a keyboard it rejected)
        failed: schema.FailedEvent = validate(schema.FailedEvent, data, what)
        return Incoming(channel=CHANNEL, user_id=failed.user_id, chat_id=failed.user_id,
                        kind=Kind.undelivered, update_key=key, raw=data,
                        payload=str(envelope.message_token or ""), text=failed.desc)
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
        # Viber gives no mime type: a name ending like a recording is one, a
        # name ending like a picture is a photo sent from the phone's files
        # (the worker checks the bytes once fetched).
        media = Media(url=message.media, size=message.size, file_name=message.file_name,
                      mime_type=image_type_of(message.file_name))
        kind = Kind.voice if is_audio_name(message.file_name) else Kind.file
        return Incoming(kind=kind, media=(media,), **fields)
    if message.type == "sticker":
        return Incoming(kind=Kind.sticker, **fields)
    return Incoming(kind=Kind.unsupported, **fields)  # video, url, rich media, …


AUDIO_SUFFIXES = frozenset({".ogg", ".oga", ".opus", ".mp3", ".m4a", ".mp4", ".aac",
                            ".amr", ".wav", ".3gp"})


IMAGE_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
               ".webp": "image/webp", ".gif": "image/gif"}


def image_type_of(file_name: str | None) -> str | None:
    """The picture type a file name says by its extension, else None."""
    name = (file_name or "").strip().lower()
    return IMAGE_TYPES.get(name[name.rfind("."):]) if "." in name else None


def is_audio_name(file_name: str | None) -> bool:
    """A file name that names a recording by its extension."""
    name = (file_name or "").strip().lower()
    return "." in name and name[name.rfind("."):] in AUDIO_SUFFIXES


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


# Viber's keyboard grid (REST bot API, "Keyboards"): 6 columns a row; the
# app lays buttons out in order, so every row must add up to 6 or the next
# row's buttons move up into it. At most 12 rows fit a portrait screen; a
# button's text is at most 250 characters.
GRID_COLUMNS = 6
MAX_ROWS = 12
MAX_BUTTONS = 24  # kept well under what Viber takes (rows × columns): one screen
TEXT_MAX_LABEL = 250
PAGE_PREFIX = "more"  # our "More…" button: `more:<page>` (the engine turns the page)
# The API level each feature we use needs; a message says the highest it uses
# in `min_api_version` (clients below it are asked to update Viber).
API_LEVELS = {"keyboard": 1, "share-phone": 3, "location-picker": 3,
              "InputFieldState": 4, "Silent": 4}
# How many columns a label needs to be read whole, by its length: digits of a
# scale in one, times and short words in two, most labels in three.
_WIDTH_BY_LENGTH = ((3, 1), (10, 2), (18, 3))


def _width(label: str) -> int:
    for longest, columns in _WIDTH_BY_LENGTH:
        if len(label) <= longest:
            return columns
    return GRID_COLUMNS


def _row_sizes(count: int, columns: int) -> list[int]:
    """`count` buttons of `columns` each, as rows whose sizes divide 6 (so each
    row fills the grid with buttons of one width), as even as possible: 15
    time slots are five rows of three. Values of a scale (one column each)
    keep their order in rows of up to six, the middle ones a little wider
    when six does not divide them (`_spread`): 1–5 is one row."""
    for per_row in (6, 3, 2, 1):
        if per_row * columns > GRID_COLUMNS:
            continue
        rows = -(-count // per_row)
        base, extra = divmod(count, rows)
        sizes = [base + 1] * extra + [base] * (rows - extra)
        if columns == 1 or all(GRID_COLUMNS % size == 0 for size in sizes):
            return sizes
    return [1] * count


def _spread(count: int) -> list[int]:
    """6 columns among `count` buttons: evenly, the rest to the middle ones."""
    base, rest = divmod(GRID_COLUMNS, count)
    widths = [base] * count
    middle = (count - rest) // 2
    for index in range(middle, middle + rest):
        widths[index] += 1
    return widths


def _merge_key(row: list[Button]) -> tuple[str, int] | None:
    """Rows a flow cut for Telegram (four time slots, six scale values, two
    languages) are one list to Viber: a row of several buttons and the rows
    after it with the same payload prefix and label width are laid out again
    together."""
    if not row:
        return None
    prefixes = {split_payload(b.payload)[0] for b in row}
    if len(prefixes) != 1 or prefixes == {"nav"}:
        return None
    return prefixes.pop(), max(_width(b.label) for b in row)


def _grid(reply: Reply) -> list[list[dict[str, Any]]]:
    """The reply's buttons as rows of Viber buttons, each row 6 columns wide."""
    groups: list[list[Button]] = []
    last_key: tuple[str, int] | None = None
    for row in reply.buttons:
        key = _merge_key(row)
        if key is not None and key == last_key:
            groups[-1].extend(row)
            continue
        if row:
            groups.append(list(row))
        last_key = key if len(row) > 1 else None  # a grid starts with a row of several
    rows: list[list[dict[str, Any]]] = []
    if reply.request in ("contact", "location"):
        rows.append([_key(reply.request_label or reply.request, f"req:{reply.request}",
                          GRID_COLUMNS, "share-phone" if reply.request == "contact"
                          else "location-picker")])
    for group in groups:
        columns = max(_width(b.label) for b in group)
        start = 0
        for size in _row_sizes(len(group), columns):
            rows.append([_key(b.label, b.payload, width)
                         for b, width in zip(group[start:start + size], _spread(size),
                                             strict=True)])
            start += size
    return rows


def _key(label: str, payload: str, columns: int, action: str = "reply") -> dict[str, Any]:
    text = label if len(label) <= TEXT_MAX_LABEL else label[:TEXT_MAX_LABEL - 1] + "…"
    key: dict[str, Any] = {"Columns": columns, "Rows": 1, "ActionType": action,
                           "ActionBody": payload, "Text": text,
                           "TextSize": "small" if len(label) > 40 else "regular"}
    if action == "reply":
        key["Silent"] = True  # the payload is not shown as the citizen's message
    return key


def pages(reply: Reply) -> list[list[list[dict[str, Any]]]]:
    """The keyboard's rows, page by page: all of them when they fit one
    screen; otherwise each page shows what fits, then a "More…" row
    (`more:<next page>`, the last page turning back to the first) and the
    flow's last row (its way back or out), which every page keeps."""
    rows = _grid(reply)
    if len(rows) <= MAX_ROWS and sum(map(len, rows)) <= MAX_BUTTONS:
        return [rows] if rows else []
    tail = [rows.pop()] if len(rows) > 1 and len(reply.buttons) > 1 else []
    room_rows = MAX_ROWS - 1 - len(tail)
    room_buttons = MAX_BUTTONS - 1 - sum(map(len, tail))
    chunks: list[list[list[dict[str, Any]]]] = [[]]
    for row in rows:
        chunk = chunks[-1]
        if chunk and (len(chunk) >= room_rows
                      or sum(map(len, chunk)) + len(row) > room_buttons):
            chunks.append([])
        chunks[-1].append(row)
    label = reply.more_label or "…"
    return [[*chunk, [_key(f"{label} ({(n + 1) % len(chunks) + 1}/{len(chunks)})",
                           f"{PAGE_PREFIX}:{(n + 1) % len(chunks)}", GRID_COLUMNS)], *tail]
            for n, chunk in enumerate(chunks)]


def render_keyboard(reply: Reply) -> dict[str, Any] | None:
    """Buttons as a Viber custom keyboard, the page `reply.page` of it; silent
    so payloads don't show; the input field hidden where only a button makes
    sense (`free_text=False`)."""
    shown = pages(reply)
    if not shown:
        return None
    rows = shown[reply.page % len(shown)]
    return {"Type": "keyboard", "DefaultHeight": False,
            "InputFieldState": "regular" if reply.free_text else "hidden",
            "Buttons": [key for row in rows for key in row]}


def api_level(keyboard: dict[str, Any] | None) -> int:
    """The `min_api_version` a message with this keyboard needs."""
    if keyboard is None:
        return 1
    used = {"keyboard"} | ({"InputFieldState"} if "InputFieldState" in keyboard else set())
    for key in keyboard["Buttons"]:
        used.add(key["ActionType"])
        used |= {name for name in ("Silent",) if name in key}
    return max(API_LEVELS.get(name, 1) for name in used)


def file_link(url: str, file_name: str | None) -> str:
    """Viber asks for a file's name, with its extension, in the link itself:
    `/files/<token>/klokot-mydata.json` (the name part is only for Viber)."""
    name = quote(file_name or "document", safe="")
    return url if url.endswith(f"/{name}") else f"{url.rstrip('/')}/{name}"


def render_messages(reply: Reply, sender: dict[str, str]) -> list[dict[str, Any]]:
    """The bodies of the send_message calls one reply takes (without the
    receiver): a file goes alone — Viber's file messages carry no text —
    and its caption follows as a text message, with the keyboard. A later
    page of a long keyboard comes under a short "More… (2/3)", not the whole
    question again."""
    keyboard = render_keyboard(reply)
    level = api_level(keyboard)
    bodies: list[dict[str, Any]] = []
    if reply.file is not None and reply.file.url:
        path = reply.file.path
        size = os.path.getsize(path) if path and os.path.exists(path) else 0  # Viber wants it
        file_name = reply.file.file_name or "document"
        bodies.append(vmessages.FileMessage(
            media=file_link(reply.file.url, file_name), size=size, file_name=file_name,
            min_api_version=1).to_dict())
    text = reply.text
    count = len(pages(reply))
    if reply.page % max(1, count) and not bodies:
        text = f"{reply.more_label or '…'} ({reply.page % count + 1}/{count})"
    if text or keyboard is not None or not bodies:
        bodies.append(vmessages.TextMessage(text=text, keyboard=keyboard,
                                            min_api_version=level).to_dict())
    return [{"sender": sender, **body} for body in bodies]


def render_message(reply: Reply, sender: dict[str, str]) -> dict[str, Any]:
    """The body of a one-message reply (the welcome, answered in the response):
    its last part, the one that carries the keyboard."""
    return render_messages(reply, sender)[-1]


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
        """One reply, in one call or (a file and its caption) two; the id kept
        is the last call's, the message with the keyboard, which a `failed`
        callback names. A failure after the file went sends it again on the
        retry: twice is better than a caption and keyboard lost."""
        result = SendResult(ok=False, error="nothing to send", permanent=True)
        for body in render_messages(reply, self.sender_for(reply)):
            result = await self._send_body({"receiver": chat_id, **body})
            if not result.ok:
                return result
        return result

    async def _send_body(self, body: dict[str, Any]) -> SendResult:
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
