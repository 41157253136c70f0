"""A local fake of the Telegram Bot API, plus builders of incoming update dicts.

Point python-telegram-bot at it with::

    with FakeTelegramAPI() as tg:
        bot = telegram.Bot(tg.token, base_url=f"{tg.url}/bot", base_file_url=f"{tg.url}/file/bot")

Every request is recorded as a :class:`Call` (refused ones too, with their HTTP status).
The chats are kept as a phone would show them: each message the bot sent, as
its edits left it (``messages``, ``live_keyboards``), and the reply keyboard
up under the input field (``reply_keyboard``). Edits are refused as Telegram
refuses them: a message that was never sent or that the user deleted
(``delete_by_user``), one too old to edit (``make_uneditable``), and an edit
that changes nothing.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._base import (
    Call,
    FakeServer,
    Request,
    Response,
    SlidingWindow,
    UploadedFile,
    decode_params,
    http_phrase,
)

__all__ = [
    "BOT_FIRST_NAME",
    "BOT_USERNAME",
    "Call",
    "FakeTelegramAPI",
    "UploadedFile",
    "tg_callback_update",
    "tg_command_update",
    "tg_contact_update",
    "tg_edited_message_update",
    "tg_location_update",
    "tg_message_update",
    "tg_my_chat_member_update",
    "tg_photo_update",
    "tg_sticker_update",
    "tg_voice_update",
]

BOT_USERNAME = "klokot_test_bot"
BOT_FIRST_NAME = "Klokot Test Bot"
DEFAULT_TOKEN = "123:TEST"
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
# What the Bot API answers an edit it refuses (the descriptions, verbatim).
EDIT_NOT_FOUND = "Bad Request: message to edit not found"
EDIT_TOO_OLD = "Bad Request: message can't be edited"
EDIT_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply "
    "markup are exactly the same as a current content and reply markup of the message"
)
EDIT_NO_TEXT = "Bad Request: there is no text in the message to edit"

Result = Any | Callable[[dict[str, Any]], Any]


class ApiError(Exception):
    def __init__(
        self, status: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


@dataclass
class _Failure:
    status: int
    retry_after: int | None
    description: str | None
    remaining: int


def _error_body(status: int, description: str, parameters: dict[str, Any] | None) -> dict:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


def _default_description(status: int, retry_after: int | None) -> str:
    return {
        400: "Bad Request: injected failure",
        401: "Unauthorized",
        403: "Forbidden: bot was blocked by the user",
        404: "Not Found",
        409: "Conflict: terminated by other getUpdates request",
        429: f"Too Many Requests: retry after {retry_after}",
        500: "Internal Server Error",
        502: "Bad Gateway",
    }.get(status, http_phrase(status))


def _unique_id(file_id: str) -> str:
    return "AgAD" + hashlib.sha1(file_id.encode()).hexdigest()[:12]


def _chat_key(chat_id: Any) -> str:
    return str(chat_id)


def _inline_rows(markup: Any) -> list[Any]:
    """The inline buttons of a reply_markup (none for a reply keyboard or none at all)."""
    if not isinstance(markup, dict):
        return []
    return [row for row in markup.get("inline_keyboard") or [] if row]


def _is_send(lower: str) -> bool:
    return lower.startswith(("send", "forward", "copy"))


class FakeTelegramAPI(FakeServer):
    """Fake ``https://api.telegram.org``: ``{url}/bot{token}/{method}`` and
    ``{url}/file/bot{token}/{file_path}``."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        username: str = BOT_USERNAME,
        first_name: str = BOT_FIRST_NAME,
    ) -> None:
        super().__init__()
        self.token = token
        prefix = token.split(":", 1)[0]
        self.bot_id = int(prefix) if prefix.isdigit() else 123
        self.username = username
        self.first_name = first_name
        self._handlers: dict[str, tuple[str, Callable[[dict[str, Any]], Any]]] = {}
        for name in (
            "getMe", "sendMessage", "sendDocument", "sendPhoto", "sendLocation",
            "sendChatAction", "answerCallbackQuery", "setWebhook", "deleteWebhook",
            "getWebhookInfo", "setMyCommands", "getMyCommands", "deleteMyCommands", "getFile",
            "getUpdates", "editMessageText", "editMessageReplyMarkup", "deleteMessage",
            "getChat", "logOut", "close",
        ):  # fmt: skip
            self._handlers[name.lower()] = (name, getattr(self, f"_m_{name}"))
        self._files: dict[str, bytes] = {}
        self._paths: dict[str, str] = {}
        self._init_state()

    def _init_state(self) -> None:
        self._updates: list[dict[str, Any]] = []
        self._failures: dict[str, deque[_Failure]] = {}
        self._blocked: set[str] = set()
        self._global_limit: SlidingWindow | None = None
        self._chat_limit: SlidingWindow | None = None
        self._results: dict[str, tuple[str, Result]] = {}
        self._message_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._webhook: dict[str, Any] = {}
        self._webhook_error: tuple[str, int] | None = None
        self._commands: list[Any] = []
        self._downloads: list[str] = []
        # (chat, message_id) → the message as the chat shows it now, in sending order.
        self._messages: dict[tuple[str, int], dict[str, Any]] = {}
        self._uneditable: set[tuple[str, int]] = set()
        self._reply_keyboards: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ public API
    @property
    def bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    @property
    def webhook_url(self) -> str:
        with self._lock:
            return str(self._webhook.get("url", ""))

    @property
    def downloads(self) -> list[str]:
        """File paths requested from ``/file/bot{token}/...`` (found or not)."""
        with self._lock:
            return list(self._downloads)

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._updates)

    def queue_update(self, update: dict[str, Any]) -> None:
        """Queue an update for ``getUpdates`` (wakes up a waiting long poll)."""
        if "update_id" not in update:
            raise ValueError("an update needs an update_id")
        with self._changed:
            self._updates.append(update)
            self._updates.sort(key=lambda u: u["update_id"])
            self._changed.notify_all()

    def add_file(self, file_id: str, data: bytes) -> str:
        """Register downloadable bytes; returns the file_path getFile will report."""
        path = f"photos/{file_id}.jpg"
        with self._lock:
            self._files[file_id] = data
            self._paths[path] = file_id
        return path

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int | None = None,
        description: str | None = None,
        times: int = 1,
    ) -> None:
        """The next ``times`` calls to ``method`` fail with ``status``.

        429 answers carry ``parameters.retry_after`` (default 1: PTB only raises RetryAfter
        for a truthy value).
        """
        if status == 429 and retry_after is None:
            retry_after = 1
        with self._lock:
            self._failures.setdefault(method.lower(), deque()).append(
                _Failure(status, retry_after, description, times)
            )

    def webhook_error(self, message: str, at: float | None = None) -> None:
        """getWebhookInfo reports ``message`` as its last delivery error (at
        ``at``, epoch seconds; default now), as Telegram does after our
        webhook failed to answer."""
        with self._lock:
            self._webhook_error = (message, int(time.time() if at is None else at))

    def block_chat(self, chat_id: int | str) -> None:
        """Every send/edit to ``chat_id`` answers 403 "bot was blocked by the user"."""
        with self._lock:
            self._blocked.add(_chat_key(chat_id))

    def unblock_chat(self, chat_id: int | str) -> None:
        with self._lock:
            self._blocked.discard(_chat_key(chat_id))

    def rate_limit(
        self, per_second: float | None, per_chat_per_second: float | None = None
    ) -> None:
        """Sends beyond the limit (sliding 1 s window, global and per chat_id) answer 429
        with retry_after 1. ``None`` disables a limit. sendChatAction is not counted."""
        with self._lock:
            self._global_limit = SlidingWindow(per_second) if per_second else None
            self._chat_limit = SlidingWindow(per_chat_per_second) if per_chat_per_second else None

    def set_result(self, method: str, result: Result) -> None:
        """Answer ``method`` (known or not) with ``result``, or ``result(params)`` if callable."""
        with self._lock:
            self._results[method.lower()] = (method, result)

    def delivered(self, method: str = "sendMessage") -> list[Call]:
        return super().delivered(method)

    def messages(self, chat_id: int | str) -> list[dict[str, Any]]:
        """The bot's messages in this chat as it shows them now (edits applied,
        deleted ones gone), oldest first."""
        chat = _chat_key(chat_id)
        with self._lock:
            return [dict(m) for (c, _), m in self._messages.items() if c == chat]

    def live_keyboards(self, chat_id: int | str) -> list[dict[str, Any]]:
        """The messages in this chat whose inline buttons can still be pressed."""
        return [m for m in self.messages(chat_id) if _inline_rows(m.get("reply_markup"))]

    def reply_keyboard(self, chat_id: int | str) -> dict[str, Any] | None:
        """The reply keyboard (contact, location, label buttons) up in this chat:
        the last one sent, until a message with ``remove_keyboard`` takes it away."""
        with self._lock:
            markup = self._reply_keyboards.get(_chat_key(chat_id))
            return dict(markup) if markup else None

    def delete_by_user(self, chat_id: int | str, message_id: int) -> None:
        """The user deleted this message: editing it now finds nothing."""
        with self._lock:
            self._messages.pop((_chat_key(chat_id), int(message_id)), None)

    def make_uneditable(self, chat_id: int | str, message_id: int) -> None:
        """This message can no longer be edited (Telegram's answer for one too old)."""
        with self._lock:
            self._uneditable.add((_chat_key(chat_id), int(message_id)))

    def reset(self) -> None:
        """Forget calls, queued updates, injected failures, blocks, limits and counters.
        Files registered with add_file are kept."""
        with self._changed:
            self._init_state()
            super().reset()

    # ------------------------------------------------------------------ dispatch
    def _dispatch(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/file/bot"):
            return self._serve_file(path[len("/file/bot") :])
        if not path.startswith("/bot"):
            return Response.json(404, _error_body(404, "Not Found", None))
        token, _, method = path[len("/bot") :].partition("/")
        method = method.strip("/")
        arrived = time.time()
        try:
            params = decode_params(request.headers.get("content-type"), request.body, request.query)
        except Exception:
            params = {}
        if token != self.token:
            resp = Response.json(401, _error_body(401, "Unauthorized", None))
            self._record(Call(method, params, arrived, 401, resp.decoded))
            return resp
        lower = method.lower()
        with self._lock:
            handler = self._handlers.get(lower)
            override = self._results.get(lower)
        if handler is None and override is None:
            resp = Response.json(404, _error_body(404, "Not Found", None))
            self._record(Call(method, params, arrived, 404, resp.decoded))
            return resp
        name = handler[0] if handler else override[0]  # type: ignore[index]
        try:
            self._gatekeep(lower, params)
            if override is not None:
                value = override[1]
                result = value(params) if callable(value) else value
            else:
                result = handler[1](params)  # type: ignore[index]
            resp = Response.json(200, {"ok": True, "result": result})
        except ApiError as err:
            headers = {}
            if err.parameters and "retry_after" in err.parameters:
                headers["Retry-After"] = str(err.parameters["retry_after"])
            resp = Response.json(
                err.status, _error_body(err.status, err.description, err.parameters), headers
            )
        self._record(Call(name, params, arrived, resp.status, resp.decoded))
        return resp

    def _gatekeep(self, lower: str, params: dict[str, Any]) -> None:
        with self._lock:
            queue = self._failures.get(lower)
            if queue:
                failure = queue[0]
                failure.remaining -= 1
                if failure.remaining <= 0:
                    queue.popleft()
                parameters = None
                if failure.retry_after is not None:
                    parameters = {"retry_after": failure.retry_after}
                description = failure.description or _default_description(
                    failure.status, failure.retry_after
                )
                raise ApiError(failure.status, description, parameters)
            chat = _chat_key(params.get("chat_id"))
            if (_is_send(lower) or lower.startswith("edit")) and chat in self._blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            if _is_send(lower) and lower != "sendchataction":
                now = time.monotonic()
                limited = (self._global_limit and not self._global_limit.allow("*", now)) or (
                    self._chat_limit and not self._chat_limit.allow(chat, now)
                )
                if limited:
                    raise ApiError(429, "Too Many Requests: retry after 1", {"retry_after": 1})
                # admitted: occupy the window slot(s) atomically with the check
                if self._global_limit:
                    self._global_limit.add("*", now)
                if self._chat_limit:
                    self._chat_limit.add(chat, now)

    def _serve_file(self, rest: str) -> Response:
        token, _, file_path = rest.partition("/")
        if token != self.token:
            return Response.json(401, _error_body(401, "Unauthorized", None))
        with self._lock:
            self._downloads.append(file_path)
            file_id = self._paths.get(file_path)
            if file_id is None:
                stem = os.path.splitext(os.path.basename(file_path))[0]
                file_id = stem if stem in self._files else None
            data = self._files.get(file_id) if file_id is not None else None
        if data is None:
            return Response.json(404, _error_body(404, "Not Found", None))
        return Response(200, data, "application/octet-stream")

    # ------------------------------------------------------------------ helpers
    def _chat(self, chat_id: Any) -> dict[str, Any]:
        if chat_id is None or chat_id == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            digest = int(hashlib.sha1(chat_id.encode()).hexdigest()[:9], 16)
            return {
                "id": -1_000_000_000_000 - digest,
                "type": "channel",
                "title": chat_id[1:],
                "username": chat_id[1:],
            }
        try:
            cid = int(chat_id)
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: chat not found") from None
        if cid > 0:
            return {"id": cid, "type": "private", "first_name": "Test"}
        if str(cid).startswith("-100"):
            return {"id": cid, "type": "supergroup", "title": "Test Group"}
        return {"id": cid, "type": "group", "title": "Test Group"}

    def _message(self, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        chat = self._chat(params.get("chat_id"))
        markup = params.get("reply_markup")
        msg: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "from": {
                "id": self.bot_id,
                "is_bot": True,
                "first_name": self.first_name,
                "username": self.username,
            },
            "chat": chat,
            "date": int(time.time()),
        }
        msg.update({k: v for k, v in content.items() if v is not None})
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            msg["reply_markup"] = markup
        return msg

    def _keep(self, params: dict[str, Any], msg: dict[str, Any]) -> dict[str, Any]:
        """Remember a sent message as the chat shows it, and what its reply
        markup does to the chat's reply keyboard."""
        chat = _chat_key(params.get("chat_id"))
        markup = params.get("reply_markup")
        with self._lock:
            self._messages[(chat, msg["message_id"])] = dict(msg)
            if isinstance(markup, dict) and "keyboard" in markup:
                self._reply_keyboards[chat] = markup
            elif isinstance(markup, dict) and markup.get("remove_keyboard"):
                self._reply_keyboards.pop(chat, None)
        return msg

    def _to_edit(self, params: dict[str, Any]) -> tuple[tuple[str, int], dict[str, Any]]:
        """The message an edit names, or the refusal Telegram gives."""
        self._chat(params.get("chat_id"))
        try:
            key = (_chat_key(params.get("chat_id")), int(params.get("message_id") or 0))
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: message identifier is not specified") from None
        with self._lock:
            found = self._messages.get(key)
            if found is None:
                raise ApiError(400, EDIT_NOT_FOUND)
            if key in self._uneditable:
                raise ApiError(400, EDIT_TOO_OLD)
            return key, dict(found)

    def _apply_edit(self, key: tuple[str, int], msg: dict[str, Any],
                    params: dict[str, Any], **content: Any) -> dict[str, Any]:
        """Change the stored message, refusing an edit that changes nothing.
        An edit without ``reply_markup`` (or with an empty inline keyboard)
        takes the buttons away, as Telegram does."""
        rows = _inline_rows(params.get("reply_markup"))
        if all(msg.get(k) == v for k, v in content.items()) and (
                rows == _inline_rows(msg.get("reply_markup"))):
            raise ApiError(400, EDIT_NOT_MODIFIED)
        msg.update(content)
        msg["edit_date"] = int(time.time())
        if rows:
            msg["reply_markup"] = {"inline_keyboard": rows}
        else:
            msg.pop("reply_markup", None)
        with self._lock:
            if key in self._messages:
                self._messages[key] = dict(msg)
        return msg

    @staticmethod
    def _check_markup(params: dict[str, Any]) -> None:
        markup = params.get("reply_markup")
        if markup is None:
            return
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        for row in markup.get("inline_keyboard", []) or []:
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
                if not button.get("text"):
                    raise ApiError(400, "Bad Request: inline keyboard button text is empty")

    @staticmethod
    def _check_caption(params: dict[str, Any]) -> str | None:
        caption = params.get("caption")
        if caption is not None and len(str(caption)) > MAX_CAPTION:
            raise ApiError(400, "Bad Request: message caption is too long")
        return None if caption is None else str(caption)

    def _media_file(self, value: Any, kind: str, default_name: str) -> tuple[str, dict[str, Any]]:
        """Returns (file_id, extra attributes) for an uploaded file, file_id or URL."""
        if value is None or value == "":
            raise ApiError(400, f"Bad Request: there is no {kind} in the request")
        if isinstance(value, UploadedFile):
            file_id = f"BQACAgIAAxkBAAI{next(self._file_ids):06d}"
            with self._lock:
                self._files[file_id] = value.data
            return file_id, {
                "file_name": value.filename or default_name,
                "mime_type": value.content_type,
                "file_size": len(value.data),
            }
        text = str(value)
        if text.startswith(("http://", "https://")):
            file_id = f"BQACAgIAAxkBAAI{next(self._file_ids):06d}"
            name = text.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0] or default_name
            return file_id, {"file_name": name}
        with self._lock:
            size = len(self._files[text]) if text in self._files else None
        return text, {"file_size": size}

    # ------------------------------------------------------------------ methods
    def _m_getMe(self, params: dict[str, Any]) -> Any:
        return self.bot_user

    def _m_sendMessage(self, params: dict[str, Any]) -> Any:
        chat = params.get("chat_id")
        self._chat(chat)
        text = params.get("text")
        if text is None or str(text).strip() == "":
            raise ApiError(400, "Bad Request: message text is empty")
        if len(str(text)) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        self._check_markup(params)
        return self._keep(params, self._message(params, text=str(text)))

    def _m_sendDocument(self, params: dict[str, Any]) -> Any:
        self._chat(params.get("chat_id"))
        caption = self._check_caption(params)
        self._check_markup(params)
        file_id, extra = self._media_file(params.get("document"), "document", "document")
        document = {"file_id": file_id, "file_unique_id": _unique_id(file_id)}
        document.update({k: v for k, v in extra.items() if v is not None})
        return self._keep(params, self._message(params, document=document, caption=caption))

    def _m_sendPhoto(self, params: dict[str, Any]) -> Any:
        self._chat(params.get("chat_id"))
        caption = self._check_caption(params)
        self._check_markup(params)
        file_id, extra = self._media_file(params.get("photo"), "photo", "photo.jpg")
        size = extra.get("file_size") or 65_536
        thumb_id = f"{file_id}-s"
        photo = [
            {"file_id": thumb_id, "file_unique_id": _unique_id(thumb_id), "width": 90,
             "height": 67, "file_size": 1_234},
            {"file_id": file_id, "file_unique_id": _unique_id(file_id), "width": 1280,
             "height": 960, "file_size": size},
        ]  # fmt: skip
        return self._keep(params, self._message(params, photo=photo, caption=caption))

    def _m_sendLocation(self, params: dict[str, Any]) -> Any:
        self._chat(params.get("chat_id"))
        try:
            location = {
                "latitude": float(params["latitude"]),
                "longitude": float(params["longitude"]),
            }
        except (KeyError, TypeError, ValueError):
            raise ApiError(400, "Bad Request: wrong latitude or longitude") from None
        return self._keep(params, self._message(params, location=location))

    def _m_sendChatAction(self, params: dict[str, Any]) -> Any:
        self._chat(params.get("chat_id"))
        return True

    def _m_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        if not params.get("callback_query_id"):
            raise ApiError(400, "Bad Request: query is too old and response timeout expired")
        return True

    def _m_setWebhook(self, params: dict[str, Any]) -> Any:
        url = str(params.get("url") or "")
        with self._changed:
            if params.get("drop_pending_updates"):
                self._updates.clear()
            if url:
                self._webhook = {
                    "url": url,
                    "max_connections": params.get("max_connections", 40),
                    "allowed_updates": params.get("allowed_updates"),
                    "secret_token": params.get("secret_token"),
                }
            else:
                self._webhook = {}
        return True

    def _m_deleteWebhook(self, params: dict[str, Any]) -> Any:
        with self._changed:
            self._webhook = {}
            if params.get("drop_pending_updates"):
                self._updates.clear()
        return True

    def _m_getWebhookInfo(self, params: dict[str, Any]) -> Any:
        with self._lock:
            info: dict[str, Any] = {
                "url": self._webhook.get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            }
            if self._webhook:
                info["ip_address"] = "127.0.0.1"
                info["max_connections"] = self._webhook.get("max_connections") or 40
                if self._webhook.get("allowed_updates") is not None:
                    info["allowed_updates"] = self._webhook["allowed_updates"]
            if self._webhook_error is not None:
                info["last_error_message"], info["last_error_date"] = self._webhook_error
        return info

    def _m_setMyCommands(self, params: dict[str, Any]) -> Any:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        with self._lock:
            self._commands = commands
        return True

    def _m_getMyCommands(self, params: dict[str, Any]) -> Any:
        with self._lock:
            return list(self._commands)

    def _m_deleteMyCommands(self, params: dict[str, Any]) -> Any:
        with self._lock:
            self._commands = []
        return True

    def _m_getFile(self, params: dict[str, Any]) -> Any:
        file_id = params.get("file_id")
        if not file_id:
            raise ApiError(400, "Bad Request: file_id is empty")
        file_id = str(file_id)
        path = f"photos/{file_id}.jpg"
        with self._lock:
            self._paths.setdefault(path, file_id)
            data = self._files.get(file_id)
        result: dict[str, Any] = {
            "file_id": file_id,
            "file_unique_id": _unique_id(file_id),
            "file_path": path,
        }
        if data is not None:
            result["file_size"] = len(data)
        return result

    def _m_getUpdates(self, params: dict[str, Any]) -> Any:
        offset = params.get("offset")
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + min(max(timeout, 0.0), 1.0)
        with self._changed:
            if self._webhook:
                raise ApiError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            while True:
                if isinstance(offset, int) and offset > 0:
                    self._updates = [u for u in self._updates if u["update_id"] >= offset]
                elif isinstance(offset, int) and offset < 0:
                    self._updates = self._updates[offset:]
                remaining = deadline - time.monotonic()
                if self._updates or remaining <= 0 or not self.running:
                    return list(self._updates[:limit])
                self._changed.wait(remaining)

    def _m_editMessageText(self, params: dict[str, Any]) -> Any:
        if params.get("inline_message_id"):
            return True
        text = params.get("text")
        if text is None or str(text).strip() == "":
            raise ApiError(400, "Bad Request: message text is empty")
        if len(str(text)) > MAX_TEXT:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self._check_markup(params)
        key, msg = self._to_edit(params)
        if "text" not in msg:
            raise ApiError(400, EDIT_NO_TEXT)
        return self._apply_edit(key, msg, params, text=str(text))

    def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> Any:
        if params.get("inline_message_id"):
            return True
        self._check_markup(params)
        key, msg = self._to_edit(params)
        return self._apply_edit(key, msg, params)

    def _m_deleteMessage(self, params: dict[str, Any]) -> Any:
        self._chat(params.get("chat_id"))
        with self._lock:
            self._messages.pop((_chat_key(params.get("chat_id")),
                                int(params.get("message_id") or 0)), None)
        return True

    def _m_getChat(self, params: dict[str, Any]) -> Any:
        return self._chat(params.get("chat_id")) | {"accent_color_id": 0, "max_reaction_count": 11}

    def _m_logOut(self, params: dict[str, Any]) -> Any:
        return True

    def _m_close(self, params: dict[str, Any]) -> Any:
        return True


# ====================================================================== update builders

_counter_lock = threading.Lock()
_callback_ids = itertools.count(4_382_000_000_000_000_001)


def _user(user_id: int, first_name: str, language_code: str | None) -> dict[str, Any]:
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if language_code:
        user["language_code"] = language_code
    return user


def _private_chat(chat_id: int, first_name: str) -> dict[str, Any]:
    if chat_id < 0:
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        return {"id": chat_id, "type": kind, "title": "Test Group"}
    return {"id": chat_id, "type": "private", "first_name": first_name}


def _base_message(
    message_id: int,
    user_id: int,
    *,
    language_code: str | None = "en",
    first_name: str = "Test",
    chat_id: int | None = None,
) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "from": _user(user_id, first_name, language_code),
        "chat": _private_chat(chat_id if chat_id is not None else user_id, first_name),
        "date": int(time.time()),
    }


def tg_message_update(
    update_id: int,
    user_id: int,
    text: str,
    *,
    language_code: str = "en",
    first_name: str = "Test",
    chat_id: int | None = None,
    message_id: int | None = None,
) -> dict[str, Any]:
    """A private text message (message_id defaults to update_id)."""
    msg = _base_message(
        message_id if message_id is not None else update_id, user_id,
        language_code=language_code, first_name=first_name, chat_id=chat_id,
    )  # fmt: skip
    msg["text"] = text
    return {"update_id": update_id, "message": msg}


def tg_command_update(
    update_id: int,
    user_id: int,
    command: str = "/start",
    *,
    language_code: str = "en",
    first_name: str = "Test",
    chat_id: int | None = None,
) -> dict[str, Any]:
    """A command message such as "/start" or "/start deep-link-payload", with its
    bot_command entity covering only the command word."""
    text = command if command.startswith("/") else f"/{command}"
    update = tg_message_update(
        update_id, user_id, text,
        language_code=language_code, first_name=first_name, chat_id=chat_id,
    )  # fmt: skip
    word = text.split(maxsplit=1)[0]
    update["message"]["entities"] = [{"type": "bot_command", "offset": 0, "length": len(word)}]
    return update


def tg_callback_update(
    update_id: int,
    user_id: int,
    data: str,
    *,
    message_id: int = 1,
    language_code: str = "en",
    first_name: str = "Test",
) -> dict[str, Any]:
    """A tap on an inline button under bot message ``message_id``."""
    with _counter_lock:
        query_id = str(next(_callback_ids))
    bot_id = int(DEFAULT_TOKEN.split(":")[0])
    return {
        "update_id": update_id,
        "callback_query": {
            "id": query_id,
            "from": _user(user_id, first_name, language_code),
            "chat_instance": str(-7_000_000_000_000_000_000 + user_id),
            "data": data,
            "message": {
                "message_id": message_id,
                "from": {
                    "id": bot_id, "is_bot": True,
                    "first_name": BOT_FIRST_NAME, "username": BOT_USERNAME,
                },
                "chat": _private_chat(user_id, first_name),
                "date": int(time.time()) - 5,
                "text": "…",
            },
        },
    }  # fmt: skip


def tg_contact_update(
    update_id: int,
    user_id: int,
    phone: str,
    *,
    own: bool = True,
    first_name: str = "Test",
    language_code: str = "en",
) -> dict[str, Any]:
    """A shared contact; with ``own=False`` it is somebody else's (contact.user_id differs)."""
    msg = _base_message(update_id, user_id, language_code=language_code, first_name=first_name)
    msg["contact"] = {
        "phone_number": phone,
        "first_name": first_name if own else "Other",
        "user_id": user_id if own else user_id + 1,
    }
    return {"update_id": update_id, "message": msg}


def tg_location_update(
    update_id: int, user_id: int, lat: float, lon: float, *, language_code: str = "en"
) -> dict[str, Any]:
    msg = _base_message(update_id, user_id, language_code=language_code)
    msg["location"] = {"latitude": lat, "longitude": lon}
    return {"update_id": update_id, "message": msg}


def tg_photo_update(
    update_id: int,
    user_id: int,
    file_id: str,
    *,
    caption: str | None = None,
    language_code: str = "en",
) -> dict[str, Any]:
    """A photo; the largest (last) size has ``file_id``, the thumbnail ``{file_id}-s``."""
    msg = _base_message(update_id, user_id, language_code=language_code)
    thumb = f"{file_id}-s"
    msg["photo"] = [
        {"file_id": thumb, "file_unique_id": _unique_id(thumb), "width": 90, "height": 67,
         "file_size": 1_234},
        {"file_id": file_id, "file_unique_id": _unique_id(file_id), "width": 1280,
         "height": 960, "file_size": 98_765},
    ]  # fmt: skip
    if caption is not None:
        msg["caption"] = caption
    return {"update_id": update_id, "message": msg}


def tg_voice_update(
    update_id: int,
    user_id: int,
    file_id: str,
    *,
    duration: int = 42,
    file_size: int | None = 16_384,
    audio: bool = False,
    file_name: str | None = None,
    mime_type: str | None = None,
    caption: str | None = None,
    language_code: str = "en",
) -> dict[str, Any]:
    """A voice note (``voice``, OGG/Opus as the apps record it) or, with
    ``audio=True``, an audio file (``audio``, e.g. an MP3 with a file name)."""
    msg = _base_message(update_id, user_id, language_code=language_code)
    recording: dict[str, Any] = {
        "file_id": file_id, "file_unique_id": _unique_id(file_id), "duration": duration,
        "mime_type": mime_type or ("audio/mpeg" if audio else "audio/ogg"),
    }  # fmt: skip
    if file_size is not None:
        recording["file_size"] = file_size
    if audio:
        recording["file_name"] = file_name or "recording.mp3"
        recording["title"] = "Recording"
    msg["audio" if audio else "voice"] = recording
    if caption is not None:
        msg["caption"] = caption
    return {"update_id": update_id, "message": msg}


def tg_sticker_update(
    update_id: int, user_id: int, *, emoji: str = "👍", language_code: str = "en"
) -> dict[str, Any]:
    msg = _base_message(update_id, user_id, language_code=language_code)
    file_id = f"CAACAgIAAxkBAAIB{update_id:06d}"
    msg["sticker"] = {
        "file_id": file_id,
        "file_unique_id": _unique_id(file_id),
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "emoji": emoji,
        "set_name": "KlokotTestStickers",
        "file_size": 23_456,
    }
    return {"update_id": update_id, "message": msg}


def _member(user: dict[str, Any], status: str) -> dict[str, Any]:
    member: dict[str, Any] = {"user": user, "status": status}
    if status == "kicked":
        member["until_date"] = 0
    return member


def tg_my_chat_member_update(
    update_id: int,
    user_id: int,
    new_status: str = "kicked",
    *,
    old_status: str | None = None,
    first_name: str = "Test",
) -> dict[str, Any]:
    """The user blocked ("kicked") or unblocked ("member") the bot in their private chat.
    Supported statuses: "member", "kicked", "left"."""
    if old_status is None:
        old_status = "member" if new_status != "member" else "kicked"
    bot = {"id": int(DEFAULT_TOKEN.split(":")[0]), "is_bot": True,
           "first_name": BOT_FIRST_NAME, "username": BOT_USERNAME}  # fmt: skip
    return {
        "update_id": update_id,
        "my_chat_member": {
            "chat": _private_chat(user_id, first_name),
            "from": _user(user_id, first_name, "en"),
            "date": int(time.time()),
            "old_chat_member": _member(bot, old_status),
            "new_chat_member": _member(bot, new_status),
        },
    }


def tg_edited_message_update(
    update_id: int,
    user_id: int,
    text: str,
    *,
    message_id: int = 1,
    language_code: str = "en",
    first_name: str = "Test",
    chat_id: int | None = None,
) -> dict[str, Any]:
    msg = _base_message(
        message_id, user_id, language_code=language_code, first_name=first_name, chat_id=chat_id
    )
    msg["date"] -= 60
    msg["edit_date"] = int(time.time())
    msg["text"] = text
    return {"update_id": update_id, "edited_message": msg}
