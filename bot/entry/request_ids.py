"""A request id for every HTTP request (webhooks, the staff API and pages,
Open311), so that an operator can find all the lines one request logged —
uvicorn's access line included — and a caller can quote it.

The id is the caller's `X-Request-ID` when that is a sane token (at most 64
characters of letters, digits, `.`, `_`, `-`: a proxy's id, kept so the two
logs line up), otherwise a new random one; anything else in the header (log
injection, a megabyte of text) is dropped. The id is echoed in the response's
`X-Request-ID` header and set in `bot.logs.REQUEST_ID` while the request runs."""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.logs import REQUEST_ID

HEADER = b"x-request-id"
SANE = re.compile(r"[A-Za-z0-9._-]{1,64}")


def request_id_from(given: bytes | None) -> str:
    """The caller's id when it is a sane token, else a new one."""
    if given is not None:
        try:
            text = given.decode("ascii")
        except UnicodeDecodeError:
            text = ""
        if SANE.fullmatch(text):
            return text
    return uuid.uuid4().hex


class RequestIds:
    """Pure ASGI (no task switch, so the id is seen by everything the request
    runs, threads included, and by the server's access log, which is written
    when the response starts)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((value for name, value in scope.get("headers", [])
                      if name.lower() == HEADER), None)
        request_id = request_id_from(given)

        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(name, value) for name, value in message.get("headers", [])
                           if name.lower() != HEADER]
                message = {**message, "headers": [*headers,
                                                  (HEADER, request_id.encode("ascii"))]}
            await send(message)

        token = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, tagged)
        finally:
            REQUEST_ID.reset(token)
