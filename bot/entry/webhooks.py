"""The two webhook endpoints. They verify, parse into a neutral message, hand
it to the engine on a worker thread, and answer 200 once it is stored — a
redelivery is acknowledged without handling it again."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from bot.channels import telegram, viber
from bot.engine.dispatcher import DatabaseUnavailable, HandleResult
from bot.messages import Incoming, Kind
from bot.runtime import Runtime

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
MAX_BODY = 1024 * 1024


class BodyTooLarge(Exception):
    pass


async def read_limited(request: Request, limit: int = MAX_BODY) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"ok": False, "detail": detail}, status_code=status)


async def _raw_body(request: Request) -> bytes | JSONResponse:
    try:
        return await read_limited(request)
    except BodyTooLarge:
        return _problem(413, "request body over 1 MiB")


def _json_object(body: bytes) -> dict[str, Any] | JSONResponse:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _problem(400, "malformed JSON")
    if not isinstance(data, dict):
        return _problem(400, "expected a JSON object")
    return data


async def _handle(runtime: Runtime, incoming: Incoming,
                  inline_first: bool = False) -> HandleResult | JSONResponse:
    try:
        return await run_in_threadpool(runtime.engine.handle, incoming, inline_first=inline_first)
    except DatabaseUnavailable:
        log.error("database unavailable; asking the platform to deliver again later")
        return _problem(503, "database unavailable, try again later")


@router.post("/webhooks/telegram")
async def telegram_webhook(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    if runtime.telegram is None:
        return _problem(404, "Telegram is not configured")
    header = request.headers.get("x-telegram-bot-api-secret-token")
    if not telegram.secret_matches(runtime.settings.telegram_webhook_secret, header):
        return _problem(403, "wrong or missing secret token")
    if not request.headers.get("content-type", "").lower().startswith("application/json"):
        return _problem(415, "expected application/json")
    body = await _raw_body(request)
    if isinstance(body, JSONResponse):
        return body
    data = _json_object(body)
    if isinstance(data, JSONResponse):
        return data
    try:
        incoming, callback_id = telegram.parse_update(data)
    except ValueError as exc:
        return _problem(400, str(exc))
    result = await _handle(runtime, incoming)
    if isinstance(result, JSONResponse):
        return result
    if callback_id:  # stop the button's spinner, in the response: no extra call
        return JSONResponse({"method": "answerCallbackQuery", "callback_query_id": callback_id})
    return JSONResponse({})


@router.post("/webhooks/viber")
async def viber_webhook(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    if runtime.viber is None:
        return _problem(404, "Viber is not configured")
    body = await _raw_body(request)
    if isinstance(body, JSONResponse):
        return body
    header = request.headers.get("x-viber-content-signature")
    if not viber.signature_matches(runtime.settings.viber_auth_token, body, header):
        return _problem(403, "wrong or missing signature")
    data = _json_object(body)
    if isinstance(data, JSONResponse):
        return data
    try:
        incoming = viber.parse_callback(data)
    except ValueError as exc:
        return _problem(400, str(exc))
    started = incoming.kind is Kind.started
    result = await _handle(runtime, incoming, inline_first=started)
    if isinstance(result, JSONResponse):
        return result
    if started and result.inline is not None:
        return JSONResponse(runtime.viber.welcome_body(result.inline))
    return JSONResponse({"status": 0})
