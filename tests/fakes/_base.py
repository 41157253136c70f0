"""Shared machinery of the fake platform API servers.

Standard library only: a ``ThreadingHTTPServer`` on 127.0.0.1 (port 0) served from
a daemon thread, so the fakes work from sync tests, async tests and from code
under test that runs in another thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message as EmailMessage
from email.parser import BytesParser
from email.policy import HTTP
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, unquote, urlsplit

Predicate = Callable[[list["Call"]], bool]


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request (e.g. the ``document`` of sendDocument)."""

    filename: str | None
    content_type: str | None
    data: bytes

    def __repr__(self) -> str:
        return (
            f"UploadedFile(filename={self.filename!r}, content_type={self.content_type!r}, "
            f"size={len(self.data)})"
        )


@dataclass(frozen=True)
class Call:
    """One request the fake received.

    ``at`` is ``time.time()`` when the request arrived; ``status`` is the HTTP status the
    fake answered with; ``response`` is the decoded JSON body it answered with (or None).
    """

    method: str
    params: dict[str, Any]
    at: float
    status: int = 200
    response: Any = field(default=None, compare=False)

    def short(self) -> str:
        params = {
            k: (v if len(repr(v)) <= 60 else repr(v)[:57] + "...") for k, v in self.params.items()
        }
        return f"{self.method} -> {self.status} {params}"


# --------------------------------------------------------------------------- body decoding

# Keys whose form-encoded values are integers / booleans / floats (PTB JSON-encodes every
# non-string parameter before form-encoding it, so ``chat_id=42`` arrives as the text "42").
INT_KEYS = frozenset(
    {
        "chat_id", "from_chat_id", "message_id", "user_id", "offset", "limit", "timeout",
        "reply_to_message_id", "message_thread_id", "max_connections", "cache_time",
        "until_date", "duration", "width", "height", "live_period", "heading",
    }
)  # fmt: skip
BOOL_KEYS = frozenset(
    {
        "disable_notification", "protect_content", "show_alert", "drop_pending_updates",
        "disable_web_page_preview", "allow_sending_without_reply", "has_spoiler",
        "disable_content_type_detection", "allow_paid_broadcast", "is_anonymous",
        "supports_streaming", "is_personal",
    }
)  # fmt: skip
FLOAT_KEYS = frozenset({"latitude", "longitude", "horizontal_accuracy"})
# Free-text keys are never JSON-decoded, even when they look like JSON.
TEXT_KEYS = frozenset(
    {
        "text", "caption", "data", "callback_data", "query", "title", "description",
        "short_description", "name", "url", "secret_token", "question", "explanation",
        "payload", "first_name", "last_name", "phone_number", "address", "file_id",
        "callback_query_id", "receiver", "id",
    }
)  # fmt: skip


def maybe_json(key: str, value: Any) -> Any:
    """Decode a nested JSON string (``reply_markup``, ``entities``, ``commands`` ...)."""
    if isinstance(value, str) and key not in TEXT_KEYS:
        stripped = value.strip()
        if stripped[:1] in ("{", "["):
            with contextlib.suppress(ValueError):
                return json.loads(stripped)
    return value


def coerce_form_value(key: str, value: str) -> Any:
    """Turn a form/query string value back into what the client meant to send."""
    if key in INT_KEYS:
        with contextlib.suppress(ValueError):
            return int(value)
        return value
    if key in FLOAT_KEYS:
        with contextlib.suppress(ValueError):
            return float(value)
        return value
    if key in BOOL_KEYS and value in ("true", "false", "True", "False"):
        return value.lower() == "true"
    return maybe_json(key, value)


def decode_json_object(body: bytes) -> dict[str, Any]:
    data = json.loads(body.decode("utf-8"))
    if not isinstance(data, dict):
        raise ValueError("JSON body is not an object")
    return {k: maybe_json(k, v) for k, v in data.items()}


def decode_form(text: str) -> dict[str, Any]:
    return {k: coerce_form_value(k, v) for k, v in parse_qsl(text, keep_blank_values=True)}


def decode_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    msg: EmailMessage = BytesParser(policy=HTTP).parsebytes(head + body)
    out: dict[str, Any] = {}
    if not msg.is_multipart():
        return out
    for part in msg.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            out[name] = UploadedFile(filename, part.get_content_type(), payload)
        else:
            charset = part.get_content_charset() or "utf-8"
            out[name] = coerce_form_value(name, payload.decode(charset, "replace"))
    return out


def decode_params(content_type: str | None, body: bytes, query: str = "") -> dict[str, Any]:
    """Decode query string + JSON / form-urlencoded / multipart body into one dict."""
    params = decode_form(query) if query else {}
    if not body:
        return params
    ctype = (content_type or "").lower()
    if ctype.startswith("multipart/form-data"):
        params.update(decode_multipart(content_type or "", body))
    elif ctype.startswith("application/x-www-form-urlencoded"):
        params.update(decode_form(body.decode("utf-8", "replace")))
    else:  # application/json, or no content type at all (viberbot sends none)
        try:
            params.update(decode_json_object(body))
        except ValueError:
            params.update(decode_form(body.decode("utf-8", "replace")))
    return params


# --------------------------------------------------------------------------- rate limiting


class SlidingWindow:
    """``per_second`` events in any sliding one-second window (for rates below 1/s the
    window widens to ``1 / per_second`` seconds with one event allowed)."""

    def __init__(self, per_second: float) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self.window = max(1.0, 1.0 / per_second)
        self.limit = max(1.0, per_second) if per_second >= 1 else 1.0
        self._events: dict[str, deque[float]] = {}

    def allow(self, key: str, now: float) -> bool:
        events = self._events.setdefault(key, deque())
        while events and now - events[0] >= self.window:
            events.popleft()
        return len(events) < self.limit

    def add(self, key: str, now: float) -> None:
        self._events.setdefault(key, deque()).append(now)


# --------------------------------------------------------------------------- server base


@dataclass
class _Fault:
    kind: str
    remaining: int
    method: str | None
    seconds: float


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    decoded: Any = None

    @classmethod
    def json(cls, status: int, obj: Any, headers: dict[str, str] | None = None) -> Response:
        body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        return cls(status, body, "application/json", dict(headers or {}), obj)

    @classmethod
    def text(cls, status: int, text: str) -> Response:
        return cls(status, text.encode("utf-8"), "text/plain; charset=utf-8")


@dataclass(frozen=True)
class Request:
    verb: str
    path: str
    query: str
    headers: dict[str, str]  # lower-cased names
    body: bytes


class FakeServer:
    """Base class: lifecycle, call recording and waiting helpers."""

    name = "fake"

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._calls: list[Call] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self.count_429 = 0
        # Fault injection and slowness (see `slow`, `fault_next`, `hold`).
        self._delay = 0.0
        self._faults: deque[_Fault] = deque()
        self._released = threading.Event()
        self._released.set()
        self.in_flight = 0  # requests read but not yet answered
        self.held: list[dict[str, Any]] = []  # params of requests held until `release`
        self.faults_done: list[tuple[str, str]] = []  # (kind, path) of injected faults

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> Self:
        if self._httpd is not None:
            return self
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = f"{type(fake).__name__}/1.0"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes; without this, Nagle's
                # algorithm and the client's delayed ACK add 40 ms to every answer.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with fake._lock:
                    fake._connections.add(self.connection)

            def finish(self) -> None:
                with fake._lock:
                    fake._connections.discard(self.connection)
                with contextlib.suppress(OSError):
                    super().finish()

            def _read_body(self) -> bytes:
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    chunks: list[bytes] = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _serve(self) -> None:
                body = self._read_body()
                parts = urlsplit(self.path)
                request = Request(
                    verb=self.command,
                    path=unquote(parts.path),  # PTB percent-encodes file URLs (":" -> %3A)
                    query=parts.query,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                with fake._in_flight():
                    fault = fake._take_fault(request.path)
                    if fault is not None and fault.kind == "reset":
                        # Close with RST before the platform processed anything.
                        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                                   struct.pack("ii", 1, 0))
                        self.close_connection = True
                        with contextlib.suppress(OSError):
                            self.connection.close()
                        return
                    try:
                        resp = fake._dispatch(request)
                    except Exception as exc:  # surface bugs in the fake as a 500
                        resp = Response.text(500, f"fake server error: {exc!r}")
                    fake._before_answer(request, fault)
                try:
                    self.send_response(resp.status)
                    self.send_header("Content-Type", resp.content_type)
                    self.send_header("Content-Length", str(len(resp.body)))
                    for key, value in resp.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(resp.body)
                except OSError:  # the client gave up (timeout) or died meanwhile
                    self.close_connection = True

            do_GET = _serve
            do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        httpd.block_on_close = False
        thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{httpd.server_address[1]}",
            daemon=True,
        )
        thread.start()
        self._httpd, self._thread = httpd, thread
        return self

    # -- faults and slowness ------------------------------------------------------------
    def slow(self, seconds: float) -> None:
        """Every request is processed at once but answered only `seconds` later."""
        with self._lock:
            self._delay = seconds

    def fault_next(self, kind: str, *, times: int = 1, method: str | None = None,
                   seconds: float = 0.0) -> None:
        """The next `times` requests (to `method`, the last path segment, if given) meet
        a fault: ``"reset"`` closes the connection with a TCP reset before the request
        is processed (nothing delivered); ``"timeout"`` processes it, then answers only
        after `seconds` (longer than the client's timeout: the answer is lost)."""
        if kind not in ("reset", "timeout"):
            raise ValueError(f"unknown fault {kind!r}")
        with self._lock:
            self._faults.append(_Fault(kind, times, method.lower() if method else None,
                                       seconds))

    def hold(self) -> None:
        """From now on requests are processed (and recorded) but not answered until
        `release`: what a process killed now had on the wire is exactly `held`."""
        with self._lock:
            self._released.clear()

    def release(self) -> None:
        self._released.set()

    def wait_in_flight(self, predicate: Callable[[int], bool], timeout: float = 10.0) -> int:
        """Block until `predicate(in_flight)` holds; returns the count."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self.in_flight):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{type(self).__name__}: {self.in_flight} requests "
                                         f"in flight after {timeout:.1f}s")
                self._changed.wait(min(remaining, 0.05))
            return self.in_flight

    @contextlib.contextmanager
    def _in_flight(self) -> Iterator[None]:
        with self._changed:
            self.in_flight += 1
            self._changed.notify_all()
        try:
            yield
        finally:
            with self._changed:
                self.in_flight -= 1
                self._changed.notify_all()

    def _take_fault(self, path: str) -> _Fault | None:
        method = path.rstrip("/").rsplit("/", 1)[-1].lower()
        with self._lock:
            for fault in self._faults:
                if fault.method is None or fault.method == method:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    self.faults_done.append((fault.kind, path))
                    return fault
        return None

    def _before_answer(self, request: Request, fault: _Fault | None) -> None:
        with self._lock:
            delay = self._delay
        if fault is not None and fault.kind == "timeout":
            time.sleep(fault.seconds)
        elif delay:
            time.sleep(delay)
        with self._changed:
            holding = not self._released.is_set()
        if not holding:
            return
        try:
            params = decode_params(request.headers.get("content-type"), request.body,
                                   request.query)
        except Exception:
            params = {}
        with self._changed:
            self.held.append({"path": request.path, **params})
            self._changed.notify_all()
        self._released.wait()

    def wait_held(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Block until `count` requests are held (see `hold`); returns them."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.held) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{type(self).__name__}: {len(self.held)} requests "
                                         f"held after {timeout:.1f}s, not {count}")
                self._changed.wait(min(remaining, 0.05))
            return list(self.held)

    def stop(self) -> None:
        self._released.set()
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        with self._lock:  # drop keep-alive connections so nothing is served after stop()
            connections, self._connections = list(self._connections), set()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if thread is not None:
            thread.join(timeout=5)
        with self._changed:
            self._changed.notify_all()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def running(self) -> bool:
        return self._httpd is not None

    # -- recording -----------------------------------------------------------------------
    @property
    def calls(self) -> list[Call]:
        """A snapshot (copy) of every call received so far, in completion order."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        wanted = method.lower()
        with self._lock:
            return [c for c in self._calls if c.method.lower() == wanted]

    def _is_delivered(self, call: Call) -> bool:
        return call.status == 200

    def delivered(self, method: str) -> list[Call]:
        """Successful calls to ``method`` (refused/failed ones are left out)."""
        return [c for c in self.calls_to(method) if self._is_delivered(c)]

    def _record(self, call: Call) -> None:
        with self._changed:
            self._calls.append(call)
            if call.status == 429:
                self.count_429 += 1
            self._changed.notify_all()

    def forget_calls(self) -> None:
        """Forget the recorded calls only: what the fake holds (the chats'
        messages, their ids) stays, so later edits of earlier messages still work."""
        with self._changed:
            self._calls.clear()

    def reset(self) -> None:
        """Forget recorded calls and counters (subclasses also drop injected behaviour)."""
        with self._changed:
            self._calls.clear()
            self.count_429 = 0
            self._delay = 0.0
            self._faults.clear()
            self.held = []
            self.faults_done = []
            self._released.set()
            self._changed.notify_all()

    # -- waiting -------------------------------------------------------------------------
    def _check(
        self, predicate_or_count: int | Predicate, method: str | None
    ) -> tuple[bool, list[Call]]:
        calls = self.calls_to(method) if method else self.calls
        if isinstance(predicate_or_count, int):
            return len(calls) >= predicate_or_count, calls
        return bool(predicate_or_count(calls)), calls

    def _timeout_error(
        self, predicate_or_count: int | Predicate, method: str | None, timeout: float
    ) -> AssertionError:
        if isinstance(predicate_or_count, int):
            what = f"at least {predicate_or_count} call(s)"
        else:
            what = f"predicate {getattr(predicate_or_count, '__name__', predicate_or_count)!r}"
        scope = f" to {method!r}" if method else ""
        recorded = self.calls
        lines = [c.short() for c in recorded[-25:]]
        if len(recorded) > 25:
            lines.insert(0, f"... {len(recorded) - 25} earlier call(s) omitted")
        listing = "\n  ".join(lines) if lines else "(none)"
        return AssertionError(
            f"{type(self).__name__}: timed out after {timeout:.1f}s waiting for {what}{scope}; "
            f"{len(recorded)} call(s) recorded:\n  {listing}"
        )

    def wait_for(
        self,
        predicate_or_count: int | Predicate,
        timeout: float = 5.0,
        *,
        method: str | None = None,
    ) -> list[Call]:
        """Block until ``len(calls) >= n`` or ``predicate(calls)`` is true (calls filtered to
        ``method`` if given); return the calls. Raises AssertionError on timeout.

        Blocking: from an async test whose code under test runs on the same event loop,
        use :meth:`wait_for_async` instead.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                ok, calls = self._check(predicate_or_count, method)
                if ok:
                    return calls
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._timeout_error(predicate_or_count, method, timeout)
                self._changed.wait(min(remaining, 0.05))

    async def wait_for_async(
        self,
        predicate_or_count: int | Predicate,
        timeout: float = 5.0,
        *,
        method: str | None = None,
    ) -> list[Call]:
        """Like :meth:`wait_for` but polls with ``asyncio.sleep`` (doesn't block the loop)."""
        deadline = time.monotonic() + timeout
        while True:
            ok, calls = self._check(predicate_or_count, method)
            if ok:
                return calls
            if time.monotonic() >= deadline:
                raise self._timeout_error(predicate_or_count, method, timeout)
            await asyncio.sleep(0.02)

    # -- dispatch ------------------------------------------------------------------------
    def _dispatch(self, request: Request) -> Response:
        raise NotImplementedError


def http_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
