"""The webhook endpoints (Telegram, Viber, and SMS's two: inbound texts and
delivery reports). They verify, check every field read (a body
that is not what the platform sends is answered 400 and stored nowhere),
parse into a neutral message, hand it to the engine on a worker thread, and
answer 200 once it is stored — a redelivery is acknowledged without handling
it again."""

from __future__ import annotations

import functools
import json
import logging
import math
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.concurrency import run_in_threadpool

from bot.channels import sms, telegram, viber
from bot.db import utcnow
from bot.engine.dispatcher import DatabaseUnavailable, HandleResult
from bot.messages import Incoming, Kind
from bot.outbox.queue import notify_enqueued
from bot.runtime import Runtime
from bot.services import sms as sms_service

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
MAX_BODY = 1024 * 1024
# Telegram's deepest update (a reply's reply markup) is about ten levels.
MAX_DEPTH = 32
DAY_MS = 86_400_000
MAX_AHEAD_MS = DAY_MS  # clocks differ by seconds; a day ahead is not Viber


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


def _refuse(channel: str, status: int, detail: str) -> JSONResponse:
    """Every refusal is logged once, with the reason and never the body."""
    log.warning("%s webhook refused (%d): %s", channel, status, detail)
    return _problem(status, detail)


async def _raw_body(channel: str, request: Request) -> bytes | JSONResponse:
    try:
        return await read_limited(request)
    except BodyTooLarge:
        return _refuse(channel, 413, "request body over 1 MiB")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("a number out of range")
    return value


def _too_deep(data: Any, limit: int = MAX_DEPTH) -> bool:
    """Deeper than any update a platform sends (walked without recursion)."""
    level: list[Any] = [data]
    for _ in range(limit):
        level = [child for item in level
                 for child in (item.values() if isinstance(item, dict) else item)
                 if isinstance(child, dict | list)]
        if not level:
            return False
    return True


def _json_object(channel: str, body: bytes) -> dict[str, Any] | JSONResponse:
    """The body as a JSON object, in plain JSON: no NaN or Infinity, no number
    past a float's range or 4300 digits, no nesting past MAX_DEPTH (the
    parser's own recursion limit raises RecursionError, which is refused too)."""
    try:
        data = json.loads(body, parse_constant=_no_constant, parse_float=_finite)
    except (UnicodeDecodeError, ValueError):  # JSONDecodeError, int digits, NaN
        return _refuse(channel, 400, "malformed JSON")
    except RecursionError:
        return _refuse(channel, 400, "JSON nested too deep")
    if not isinstance(data, dict):
        return _refuse(channel, 400, "expected a JSON object")
    if _too_deep(data):
        return _refuse(channel, 400, "JSON nested too deep")
    return data


def _stale(runtime: Runtime, sent_at_ms: int) -> str | None:
    """Why a signed Viber callback is too old (or too far ahead) to take: a
    request captured and replayed after its inbound record is purged (the
    profile's retention) would otherwise be handled again."""
    now_ms = int(utcnow().timestamp() * 1000)
    if sent_at_ms < now_ms - runtime.profile.retention_days * DAY_MS:
        return f"older than the {runtime.profile.retention_days}-day retention"
    if sent_at_ms > now_ms + MAX_AHEAD_MS:
        return "timestamp in the future"
    return None


async def _handle(runtime: Runtime, incoming: Incoming,
                  inline_first: bool = False) -> HandleResult | JSONResponse:
    try:
        result = await runtime.handle_off_loop(
            functools.partial(runtime.engine.handle, incoming, inline_first=inline_first))
    except DatabaseUnavailable:
        log.error("database unavailable; asking the platform to deliver again later")
        return _problem(503, "database unavailable, try again later")
    # What happened, never what was said: no text, payload or name.
    outcome = "duplicate" if result.duplicate else "failed" if result.failed else "handled"
    log.info("%s update %s (%s): %s, %d replies", incoming.channel, incoming.update_key,
             incoming.kind.value, outcome, len(result.replies))
    return result


@router.post("/webhooks/telegram")
async def telegram_webhook(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    if runtime.telegram is None:
        return _problem(404, "Telegram is not configured")
    header = request.headers.get("x-telegram-bot-api-secret-token")
    if not telegram.secret_matches(runtime.settings.telegram_webhook_secret, header):
        return _refuse("telegram", 403, "wrong or missing secret token")
    if not request.headers.get("content-type", "").lower().startswith("application/json"):
        return _refuse("telegram", 415, "expected application/json")
    body = await _raw_body("telegram", request)
    if isinstance(body, JSONResponse):
        return body
    data = _json_object("telegram", body)
    if isinstance(data, JSONResponse):
        return data
    try:
        incoming, callback_id = telegram.parse_update(data)
    except ValueError as exc:  # Refused: not what Telegram sends
        return _refuse("telegram", 400, str(exc))
    except Exception:  # a parser bug: an answer all the same, and the connection kept
        log.exception("a Telegram update could not be parsed")
        return _problem(400, "unreadable Telegram update")
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
    body = await _raw_body("viber", request)
    if isinstance(body, JSONResponse):
        return body
    header = request.headers.get("x-viber-content-signature")
    if not viber.signature_matches(runtime.settings.viber_auth_token, body, header):
        return _refuse("viber", 403, "wrong or missing signature")
    data = _json_object("viber", body)
    if isinstance(data, JSONResponse):
        return data
    try:
        incoming = viber.parse_callback(data)
    except ValueError as exc:  # Refused: not what Viber sends
        return _refuse("viber", 400, str(exc))
    except Exception:  # a parser bug: an answer all the same, and the connection kept
        log.exception("a Viber callback could not be parsed")
        return _problem(400, "unreadable Viber callback")
    stale = _stale(runtime, viber.sent_at_ms(data))
    if stale is not None:  # 200: Viber redelivers whatever is not answered 200
        log.warning("viber webhook ignored %s: %s", incoming.update_key, stale)
        return JSONResponse({"status": 0})
    started = incoming.kind is Kind.started
    result = await _handle(runtime, incoming, inline_first=started)
    if isinstance(result, JSONResponse):
        return result
    if started and result.inline is not None:
        return JSONResponse(runtime.viber.welcome_body(result.inline))
    return JSONResponse({"status": 0})


# --- SMS (Twilio) ---------------------------------------------------------------

SMS_MAX_BODY = 64 * 1024  # a form of a few fields; a 1600-character text at most
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


async def _signed_form(request: Request, path: str) -> dict[str, str] | JSONResponse:
    """The form Twilio posted, once its X-Twilio-Signature is right for the
    public URL (PUBLIC_URL + path, and the query if any); otherwise a refusal
    and nothing read further or stored."""
    runtime: Runtime = request.app.state.runtime
    if runtime.sms is None:
        return _problem(404, "SMS is not configured")
    if not request.headers.get("content-type", "").lower().startswith(
            "application/x-www-form-urlencoded"):
        return _refuse("sms", 415, "expected application/x-www-form-urlencoded")
    try:
        body = await read_limited(request, SMS_MAX_BODY)
    except BodyTooLarge:
        return _refuse("sms", 413, "request body over 64 KiB")
    try:
        form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                              max_num_fields=100))
    except (UnicodeDecodeError, ValueError):
        form = None
    public = runtime.settings.public_url
    if not public:
        return _refuse("sms", 403, "PUBLIC_URL is not set: Twilio's signature cannot be "
                                   "checked")
    url = public.rstrip("/") + path + (f"?{request.url.query}" if request.url.query else "")
    signature = request.headers.get("x-twilio-signature")
    if form is None or not sms.signature_valid(runtime.settings.twilio_auth_token or "", url,
                                               form, signature):
        return _refuse("sms", 403, "wrong or missing Twilio signature")
    return form


def _twiml() -> Response:
    """Inbound texts are answered through the outbox; Twilio gets no reply to send."""
    return Response(EMPTY_TWIML, media_type="text/xml")


@router.post("/webhooks/sms")
async def sms_webhook(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    form = await _signed_form(request, "/webhooks/sms")
    if isinstance(form, JSONResponse):
        return form
    try:
        message = sms.parse_form(form, status=False)
    except sms.BadForm as exc:
        return _refuse("sms", 400, str(exc))
    assert message.body is not None

    def handle() -> str:
        with runtime.db.session() as session:
            outcome = sms_service.handle_inbound(
                session, runtime.profile, runtime.catalogs, phone=message.sender,
                text=message.body or "", message_sid=message.message_sid, now=utcnow())
        notify_enqueued()
        return outcome.value

    try:
        outcome = await run_in_threadpool(handle)
    except IntegrityError:  # the same message delivered twice at once
        outcome = "duplicate"
    except OperationalError:
        log.error("database unavailable; SMS %s not handled", message.message_sid)
        return _problem(503, "database unavailable, try again later")
    log.info("sms %s: %s", message.message_sid, outcome)
    return _twiml()


@router.post("/webhooks/sms/status")
async def sms_status_webhook(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    form = await _signed_form(request, "/webhooks/sms/status")
    if isinstance(form, JSONResponse):
        return form
    try:
        report = sms.parse_form(form, status=True)
    except sms.BadForm as exc:
        return _refuse("sms", 400, str(exc))

    def record() -> bool:
        with runtime.db.session() as session:
            return sms_service.record_status(session, message_sid=report.message_sid,
                                             status=report.status or "",
                                             error_code=report.error_code, now=utcnow())

    try:
        known = await run_in_threadpool(record)
    except OperationalError:
        log.error("database unavailable; SMS status of %s not recorded", report.message_sid)
        return _problem(503, "database unavailable, try again later")
    if not known:
        log.info("sms status for an unknown message %s ignored", report.message_sid)
    return Response(status_code=200)
