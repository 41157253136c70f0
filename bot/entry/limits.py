"""One limit for every request body, before anything parses it or asks who
sent it: 1 MiB, counted from `Content-Length` and from the bytes as they
stream in. Only the document upload routes take more (the upload limit and
room for the form around it), and only from a signed-in officer — a stranger's
500 MB upload is refused after the first mebibyte, not spooled to disk."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.db import Database
from bot.staff import accounts
from bot.staff.documents import files

DEFAULT_LIMIT = 1024 * 1024
FORM_ROOM = 256 * 1024  # the multipart envelope and the form's other fields
UPLOADS = re.compile(r"^/(api/v1/document-requests|staff/documents)/[^/]+/files$")
SESSION_COOKIE = "klokot_staff"


class BodyTooLarge(HTTPException):
    """An HTTP error, so that the framework's body parsing passes it on as it is."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit // 1024} KiB")


def _credential(scope: Scope) -> str | None:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1")
               for k, v in scope.get("headers", [])}
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == SESSION_COOKIE and value:
            return value
    return None


class BodyLimit:
    """Pure ASGI: refuses with 413 as soon as a body is known to be too large."""

    def __init__(self, app: ASGIApp, db: Callable[[], Database],
                 default_limit: int = DEFAULT_LIMIT) -> None:
        self.app, self.db, self.default_limit = app, db, default_limit

    async def limit_for(self, scope: Scope) -> int:
        if scope.get("method") != "POST" or not UPLOADS.match(scope.get("path", "")):
            return self.default_limit
        token = _credential(scope)
        if token is None:
            return self.default_limit

        def signed_in() -> bool:
            with self.db().read_session() as session:
                return accounts.staff_for_token(session, token) is not None

        return files.MAX_BYTES + FORM_ROOM if await run_in_threadpool(signed_in) else (
            self.default_limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = await self.limit_for(scope)
        declared = dict(scope.get("headers", [])).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(send, limit)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(send, limit)

    @staticmethod
    async def _refuse(send: Send, limit: int) -> None:
        body = (b'{"type":"about:blank","title":"Too large","status":413,"code":"too_large",'
                b'"detail":"the request body is larger than ' + str(limit // 1024).encode()
                + b' KiB"}')
        headers: list[Any] = [(b"content-type", b"application/problem+json"),
                              (b"content-length", str(len(body)).encode()),
                              (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
