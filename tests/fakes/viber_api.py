"""A local fake of the Viber REST bot API (``https://chatapi.viber.com/pa``), plus
builders of the callback bodies Viber POSTs to a bot's webhook.

Our bot's ``VIBER_API_URL`` is ``f"{viber.url}/pa"``. The auth token is taken from the
``X-Viber-Auth-Token`` header, or - when the header is absent and ``accept_body_token`` -
from an ``auth_token`` field of the JSON body, which is what viberbot 1.0.12 sends.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from ._base import (
    Call,
    FakeServer,
    Request,
    Response,
    SlidingWindow,
    decode_json_object,
    http_phrase,
)

__all__ = [
    "CHAT_HOSTNAME",
    "Call",
    "FakeViberAPI",
    "viber_client_status",
    "viber_conversation_started",
    "viber_delivered",
    "viber_failed",
    "viber_message_event",
    "viber_seen",
    "viber_signature",
    "viber_subscribed",
    "viber_unsubscribed",
    "viber_webhook_event",
]

CHAT_HOSTNAME = "SN-CHAT-01_"
DEFAULT_EVENT_TYPES = [
    "delivered", "seen", "failed", "subscribed", "unsubscribed", "conversation_started",
]  # fmt: skip
SEND_METHODS = frozenset({"send_message", "broadcast_message", "post"})
MESSAGE_TYPES = frozenset(
    {"text", "picture", "video", "file", "location", "contact", "sticker", "url",
     "rich_media", "keyboard"}
)  # fmt: skip
TOKEN_BASE = 5_012_661_846_655_238_000


def viber_signature(body: bytes, auth_token: str) -> str:
    """``X-Viber-Content-Signature``: hex HMAC-SHA256 of the raw body keyed with the token."""
    return hmac.new(auth_token.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class _BodyFailure:
    status: int
    message: str
    remaining: int


@dataclass
class _HttpFailure:
    status: int
    remaining: int


class FakeViberAPI(FakeServer):
    """Fake Viber REST API at ``{url}/pa/{method}``; recorded method names are e.g.
    ``"send_message"``."""

    def __init__(
        self,
        auth_token: str = "viber-test-token",
        *,
        accept_body_token: bool = True,
        account_name: str = "Opština Klokot",
        subscribers_count: int = 42,
    ) -> None:
        super().__init__()
        self._media: dict[str, tuple[bytes, str]] = {}
        self._media_downloads: list[str] = []
        self.auth_token = auth_token
        self.accept_body_token = accept_body_token
        self.account_name = account_name
        self.subscribers_count = subscribers_count
        self._handlers = {
            "send_message": self._m_send_message,
            "broadcast_message": self._m_broadcast_message,
            "post": self._m_post,
            "set_webhook": self._m_set_webhook,
            "get_account_info": self._m_get_account_info,
            "get_user_details": self._m_get_user_details,
            "get_online": self._m_get_online,
        }
        self._init_state()

    def _init_state(self) -> None:
        self._tokens = itertools.count(TOKEN_BASE + 1)
        self._body_failures: dict[str, deque[_BodyFailure]] = {}
        self._http_failures: dict[str, deque[_HttpFailure]] = {}
        self._unsubscribed: set[str] = set()
        self._limit: SlidingWindow | None = None
        self._receiver_limit: SlidingWindow | None = None
        self._webhook: dict[str, Any] = {}
        self._media_fail: deque[int] = deque()

    # ------------------------------------------------------------------ public API
    def sign(self, body: bytes) -> str:
        """The ``X-Viber-Content-Signature`` Viber would send with ``body``."""
        return viber_signature(body, self.auth_token)

    def signed(self, event: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        """``(body, headers)`` for POSTing ``event`` to our webhook as Viber would."""
        body = json.dumps(event, ensure_ascii=False).encode("utf-8")
        return body, {
            "Content-Type": "application/json",
            "X-Viber-Content-Signature": self.sign(body),
        }

    @property
    def webhook_url(self) -> str:
        with self._lock:
            return str(self._webhook.get("url", ""))

    def fail_next(
        self,
        status_code_in_body: int,
        status_message: str,
        times: int = 1,
        *,
        method: str = "send_message",
    ) -> None:
        """The next ``times`` calls to ``method`` answer HTTP 200 with this Viber status,
        e.g. ``(6, "notSubscribed")``, ``(5, "receiverNotRegistered")``,
        ``(12, "tooManyRequests")``."""
        with self._lock:
            self._body_failures.setdefault(method, deque()).append(
                _BodyFailure(status_code_in_body, status_message, times)
            )

    def fail_next_http(
        self, http_status: int, times: int = 1, *, method: str = "send_message"
    ) -> None:
        """The next ``times`` calls to ``method`` answer this HTTP status (plain-text body,
        except 429 which gets a JSON tooManyRequests body)."""
        with self._lock:
            self._http_failures.setdefault(method, deque()).append(_HttpFailure(http_status, times))

    def unsubscribe(self, receiver_id: str) -> None:
        """Sends to ``receiver_id`` answer status 6 "notSubscribed"."""
        with self._lock:
            self._unsubscribed.add(receiver_id)

    def resubscribe(self, receiver_id: str) -> None:
        with self._lock:
            self._unsubscribed.discard(receiver_id)

    def rate_limit(
        self, per_second: float | None, per_receiver_per_second: float | None = None
    ) -> None:
        """Sends beyond the limit (sliding 1 s window) answer HTTP 429. None disables."""
        with self._lock:
            self._limit = SlidingWindow(per_second) if per_second else None
            self._receiver_limit = (
                SlidingWindow(per_receiver_per_second) if per_receiver_per_second else None
            )

    def delivered(self, method: str = "send_message") -> list[Call]:
        return super().delivered(method)

    def _is_delivered(self, call: Call) -> bool:
        return (
            call.status == 200
            and isinstance(call.response, dict)
            and call.response.get("status") == 0
        )

    def add_media(self, name: str, data: bytes, content_type: str = "image/jpeg") -> str:
        """Serve ``data`` as Viber's media CDN would; returns the URL a picture
        message carries. Media is kept across ``reset``."""
        with self._lock:
            self._media[name] = (data, content_type)
        return f"{self.url}/media/{name}"

    def fail_media(self, *statuses: int) -> None:
        """The next media downloads answer these HTTP statuses (e.g. 503, 503)."""
        with self._lock:
            self._media_fail.extend(statuses)

    def media_downloads(self) -> list[str]:
        with self._lock:
            return list(self._media_downloads)

    def reset(self) -> None:
        """Forget calls, injected failures, unsubscriptions, limits, webhook and counters."""
        with self._changed:
            self._init_state()
            super().reset()

    # ------------------------------------------------------------------ dispatch
    def _dispatch(self, request: Request) -> Response:
        arrived = time.time()
        if request.path.startswith("/media/"):
            return self._serve_media(request.path[len("/media/") :])
        if not request.path.startswith("/pa/"):
            return Response.text(404, "Not Found")
        method = request.path[len("/pa/") :].strip("/")
        bad_json = False
        try:
            params = decode_json_object(request.body) if request.body.strip() else {}
        except ValueError:
            params, bad_json = {}, True
        resp = self._answer(method, request, params, bad_json)
        self._record(Call(method, params, arrived, resp.status, resp.decoded))
        return resp

    def _serve_media(self, name: str) -> Response:
        with self._lock:
            self._media_downloads.append(name)
            if self._media_fail:
                return Response.text(self._media_fail.popleft(), "unavailable")
            found = self._media.get(name)
        if found is None:
            return Response.text(404, "Not Found")
        data, content_type = found
        return Response(200, data, content_type)

    def _status(self, status: int, message: str, **extra: Any) -> Response:
        return Response.json(200, {"status": status, "status_message": message, **extra})

    def _answer(
        self, method: str, request: Request, params: dict[str, Any], bad_json: bool
    ) -> Response:
        handler = self._handlers.get(method)
        if handler is None:
            return Response.text(404, "Not Found")
        token = request.headers.get("x-viber-auth-token")
        if token is None and self.accept_body_token:
            token = params.get("auth_token")
        if token != self.auth_token:
            return self._status(2, "invalidAuthToken")
        with self._lock:
            http_failures = self._http_failures.get(method)
            if http_failures:
                failure = http_failures[0]
                failure.remaining -= 1
                if failure.remaining <= 0:
                    http_failures.popleft()
                if failure.status == 429:
                    return self._too_many()
                return Response.text(failure.status, http_phrase(failure.status))
            body_failures = self._body_failures.get(method)
            if body_failures:
                bfail = body_failures[0]
                bfail.remaining -= 1
                if bfail.remaining <= 0:
                    body_failures.popleft()
                extra: dict[str, Any] = {}
                if method in SEND_METHODS:
                    extra = {"message_token": next(self._tokens), "chat_hostname": CHAT_HOSTNAME}
                return self._status(bfail.status, bfail.message, **extra)
        if bad_json:
            return self._status(3, "badData")
        return handler(params)

    def _too_many(self) -> Response:
        return Response.json(
            429, {"status": 12, "status_message": "tooManyRequests"}, {"Retry-After": "1"}
        )

    def _admit(self, receivers: list[str]) -> bool:
        """Rate-limit check + slot reservation, atomically."""
        with self._lock:
            now = time.monotonic()
            if self._limit and not self._limit.allow("*", now):
                return False
            if self._receiver_limit and any(
                not self._receiver_limit.allow(r, now) for r in receivers
            ):
                return False
            if self._limit:
                self._limit.add("*", now)
            if self._receiver_limit:
                for r in receivers:
                    self._receiver_limit.add(r, now)
            return True

    @staticmethod
    def _validate_message(params: dict[str, Any]) -> str | None:
        mtype = params.get("type")
        if not mtype:
            return "missing type"
        if mtype not in MESSAGE_TYPES:
            return f"unknown message type {mtype!r}"
        sender = params.get("sender")
        if not isinstance(sender, dict) or not sender.get("name"):
            return "missing sender name"
        if mtype == "text" and not params.get("text"):
            return "missing text"
        if mtype in ("picture", "video", "file", "url") and not params.get("media"):
            return "missing media"
        return None

    # ------------------------------------------------------------------ methods
    def _m_send_message(self, params: dict[str, Any]) -> Response:
        receiver = params.get("receiver")
        if not receiver:
            return self._status(3, "badData: missing receiver")
        problem = self._validate_message(params)
        if problem:
            return self._status(3, f"badData: {problem}")
        if not self._admit([str(receiver)]):
            return self._too_many()
        with self._lock:
            token = next(self._tokens)
            unsubscribed = receiver in self._unsubscribed
        if unsubscribed:
            return self._status(
                6, "notSubscribed", message_token=token, chat_hostname=CHAT_HOSTNAME
            )
        return self._status(0, "ok", message_token=token, chat_hostname=CHAT_HOSTNAME)

    def _m_broadcast_message(self, params: dict[str, Any]) -> Response:
        receivers = params.get("broadcast_list")
        if not isinstance(receivers, list) or not receivers:
            return self._status(3, "badData: missing broadcast_list")
        if len(receivers) > 300:
            return self._status(3, "badData: broadcast_list exceeds 300 receivers")
        problem = self._validate_message(params)
        if problem:
            return self._status(3, f"badData: {problem}")
        if not self._admit([]):
            return self._too_many()
        with self._lock:
            token = next(self._tokens)
            failed = [
                {"receiver": r, "status": 6, "status_message": "Not subscribed"}
                for r in receivers
                if r in self._unsubscribed
            ]
        return self._status(
            0, "ok", message_token=token, chat_hostname=CHAT_HOSTNAME, failed_list=failed
        )

    def _m_post(self, params: dict[str, Any]) -> Response:
        if not params.get("from"):
            return self._status(3, "badData: missing from")
        problem = self._validate_message(params)
        if problem:
            return self._status(3, f"badData: {problem}")
        if not self._admit([]):
            return self._too_many()
        with self._lock:
            token = next(self._tokens)
        return self._status(0, "ok", message_token=token, chat_hostname=CHAT_HOSTNAME)

    def _m_set_webhook(self, params: dict[str, Any]) -> Response:
        if "url" not in params:
            return self._status(3, "badData: missing url")
        url = str(params.get("url") or "")
        if url and not url.startswith(("http://", "https://")):
            return self._status(1, "invalidUrl")
        events = params.get("event_types")
        event_types = list(events) if isinstance(events, list) else list(DEFAULT_EVENT_TYPES)
        with self._lock:
            self._webhook = {"url": url, "event_types": event_types} if url else {}
        return self._status(0, "ok", chat_hostname=CHAT_HOSTNAME, event_types=event_types)

    def _m_get_account_info(self, params: dict[str, Any]) -> Response:
        with self._lock:
            webhook = dict(self._webhook)
        return self._status(
            0,
            "ok",
            id="pa:5012661846655238145",
            chat_hostname=CHAT_HOSTNAME,
            name=self.account_name,
            uri="opstinaklokot",
            icon="https://media-direct.cdn.viber.com/pg_download?id=klokot-icon",
            background="https://media-direct.cdn.viber.com/pg_download?id=klokot-bg",
            category="Government",
            subcategory="Municipality",
            location={"lon": 21.3697, "lat": 42.3706},
            country="XK",
            webhook=webhook.get("url", ""),
            event_types=webhook.get("event_types", []),
            subscribers_count=self.subscribers_count,
            members=[
                {
                    "id": "01234567890A=",
                    "name": "Klokot Admin",
                    "avatar": "https://avatar.example.com/admin.jpg",
                    "role": "admin",
                }
            ],
        )

    def _m_get_user_details(self, params: dict[str, Any]) -> Response:
        user_id = params.get("id")
        if not user_id:
            return self._status(3, "badData: missing id")
        with self._lock:
            token = next(self._tokens)
        user = {
            "id": user_id,
            "name": "Test User",
            "avatar": "https://avatar.example.com/test.jpg",
            "country": "XK",
            "language": "sr",
            "primary_device_os": "Android 14",
            "api_version": 10,
            "viber_version": "23.1.0.0",
            "mcc": 221,
            "mnc": 2,
            "device_type": "Pixel 8",
        }
        return self._status(0, "ok", message_token=token, user=user)

    def _m_get_online(self, params: dict[str, Any]) -> Response:
        ids = params.get("ids")
        if not isinstance(ids, list) or not ids:
            return self._status(3, "badData: missing ids")
        users = [{"id": i, "online_status": 0, "online_status_message": "online"} for i in ids]
        return self._status(0, "ok", users=users)


# ====================================================================== callback builders

_token_lock = threading.Lock()
_event_tokens = itertools.count(4_912_661_846_655_238_145)


def _next_token() -> int:
    with _token_lock:
        return next(_event_tokens)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _profile(user_id: str, name: str, language: str, country: str = "XK") -> dict[str, Any]:
    return {
        "id": user_id,
        "name": name,
        "avatar": "https://avatar.example.com/test.jpg",
        "language": language,
        "country": country,
        "api_version": 10,
    }


def _envelope(event: str, timestamp: int | None, token: int | None) -> dict[str, Any]:
    return {
        "event": event,
        "timestamp": timestamp if timestamp is not None else _now_ms(),
        "chat_hostname": CHAT_HOSTNAME,
        "message_token": token if token is not None else _next_token(),
    }


def viber_message_event(
    user_id: str,
    text: str | None = None,
    *,
    message_type: str = "text",
    token: int | None = None,
    name: str = "Test User",
    language: str = "en",
    contact: dict[str, Any] | None = None,
    location: dict[str, float] | tuple[float, float] | None = None,
    media: str | None = None,
    timestamp: int | None = None,
    tracking_data: str | None = None,
    file_name: str | None = None,
    size: int | None = None,
    sticker_id: int | None = None,
    country: str = "XK",
) -> dict[str, Any]:
    """A "message" callback. With the default ``message_type="text"``, passing ``contact``,
    ``location``, ``sticker_id`` or ``media`` picks "contact", "location", "sticker" or
    "picture" (``file_name`` + ``media`` picks "file"). ``contact`` is
    ``{"name": ..., "phone_number": ...}``; ``location`` is ``{"lat", "lon"}`` or
    ``(lat, lon)``."""
    if message_type == "text":
        if contact is not None:
            message_type = "contact"
        elif location is not None:
            message_type = "location"
        elif sticker_id is not None:
            message_type = "sticker"
        elif media is not None:
            message_type = "file" if file_name else "picture"
    message: dict[str, Any] = {"type": message_type}
    if text is not None:
        message["text"] = text
    if media is not None:
        message["media"] = media
        if message_type in ("picture", "video"):
            message["thumbnail"] = media
    if contact is not None:
        message["contact"] = dict(contact)
    if location is not None:
        if isinstance(location, tuple):
            location = {"lat": location[0], "lon": location[1]}
        message["location"] = dict(location)
    if file_name is not None:
        message["file_name"] = file_name
    if size is not None or message_type == "file":
        message["size"] = size if size is not None else 12_345
    if sticker_id is not None:
        message["sticker_id"] = sticker_id
    if tracking_data is not None:
        message["tracking_data"] = tracking_data
    event = _envelope("message", timestamp, token)
    event["sender"] = _profile(user_id, name, language, country)
    event["message"] = message
    event["silent"] = False
    return event


def viber_conversation_started(
    user_id: str,
    *,
    name: str = "Test User",
    language: str = "en",
    subscribed: bool = False,
    token: int | None = None,
    context: str | None = None,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """The user opened the chat (type "open"); the bot may answer with a welcome message."""
    event = _envelope("conversation_started", timestamp, token)
    event["type"] = "open"
    if context is not None:
        event["context"] = context
    event["user"] = _profile(user_id, name, language)
    event["subscribed"] = subscribed
    return event


def viber_subscribed(
    user_id: str,
    *,
    name: str = "Test User",
    language: str = "en",
    timestamp: int | None = None,
) -> dict[str, Any]:
    event = _envelope("subscribed", timestamp, None)
    event["user"] = _profile(user_id, name, language)
    return event


def viber_unsubscribed(user_id: str, *, timestamp: int | None = None) -> dict[str, Any]:
    event = _envelope("unsubscribed", timestamp, None)
    event["user_id"] = user_id
    return event


def viber_delivered(
    user_id: str, message_token: int, *, timestamp: int | None = None
) -> dict[str, Any]:
    event = _envelope("delivered", timestamp, message_token)
    event["user_id"] = user_id
    return event


def viber_seen(user_id: str, message_token: int, *, timestamp: int | None = None) -> dict[str, Any]:
    event = _envelope("seen", timestamp, message_token)
    event["user_id"] = user_id
    return event


def viber_failed(
    user_id: str,
    message_token: int,
    desc: str = "failure description",
    *,
    timestamp: int | None = None,
) -> dict[str, Any]:
    event = _envelope("failed", timestamp, message_token)
    event["user_id"] = user_id
    event["desc"] = desc
    return event


def viber_webhook_event(*, timestamp: int | None = None) -> dict[str, Any]:
    """The callback Viber sends to verify the URL during set_webhook."""
    return _envelope("webhook", timestamp, None)


def viber_client_status(
    user_id: str, *, status: str = "online", timestamp: int | None = None
) -> dict[str, Any]:
    """An event type viberbot 1.0.12 does not know: ``create_request`` raises on it, so the
    bot's webhook must tolerate unknown events (answer 200 and ignore)."""
    event = _envelope("client_status", timestamp, None)
    event["user_id"] = user_id
    event["status"] = status
    return event
