"""SMS through Twilio, behind the same Provider interface as Telegram and Viber.

Sends go through Twilio's official library (`twilio.rest.Client`,
`messages.create_async`) with an HTTP client of ours plugged in: the library's
documented way to change how it talks HTTP. Ours uses httpx (the timeouts and
connection limits of the other providers) and sends what the library would
send to `https://api.twilio.com` to `TWILIO_API_URL` instead — the tests' fake
of Twilio's REST API, or the real one. Each send names the status callback
(`PUBLIC_URL/webhooks/sms/status`), so Twilio reports the delivery.

No conversation goes by SMS: a Reply is sent as its text (`sms_text.sms_body`),
buttons dropped; Serbian Latin texts lose their diacritics when the profile
asks, to fit 160 GSM-7 characters a segment instead of 70.

Inbound texts and status callbacks are parsed here (`parse_form`) after the
signature check (`signature_valid`, the library's `RequestValidator`).
"""

from __future__ import annotations

import contextvars
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http import AsyncHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from bot.channels.base import RateLimits, SendResult, WebhookStatus
from bot.channels.sms_text import sms_body, sms_segments
from bot.messages import Reply

CHANNEL = "sms"
TWILIO_API = "https://api.twilio.com"
log = logging.getLogger(__name__)

# Twilio's error codes (https://www.twilio.com/docs/api/errors) and what they
# mean for the message: the number said STOP to Twilio (it will refuse every
# message to it); the number or message can never go; try again later.
UNSUBSCRIBED = frozenset({21610})
PERMANENT = frozenset({
    21211,  # invalid 'To' number
    21214,  # 'To' number cannot be reached
    21217,  # not a valid phone number
    21408,  # permission to send to this region not enabled
    21612,  # 'To' cannot be reached with this 'From'
    21614,  # 'To' is not a mobile number
    21617,  # body too long
    21635,  # a landline
    30003, 30004, 30005, 30006, 30007, 30008,  # unreachable, blocked, unknown, landline,
    #                                            filtered by the carrier, unknown error
})
RATE_LIMITED = frozenset({20429, 14107})
# A status callback's states, in Twilio's words; the final ones end a message.
# "partially_delivered": some segments of a long message reached the phone.
DELIVERY_STATES = frozenset({"accepted", "scheduled", "queued", "sending", "sent",
                             "delivered", "partially_delivered", "undelivered", "failed",
                             "read", "canceled"})
DELIVERY_FAILED = frozenset({"undelivered", "failed"})

_retry_after: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "twilio_retry_after", default=None)


class TwilioHttpx(AsyncHttpClient):
    """Twilio's HTTP client interface on httpx, aimed at `api_url`: the
    library builds `https://api.twilio.com/2010-04-01/…` and this sends it to
    `{api_url}/2010-04-01/…`. A 429's Retry-After is kept for the send that
    met it (the library's exception carries no headers)."""

    def __init__(self, api_url: str, timeout: float = 15.0) -> None:
        super().__init__(log, True, timeout)
        self.api_url = api_url.rstrip("/")
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(5.0, timeout)),
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=8),
            trust_env=False)

    def target(self, url: str) -> str:
        if url.startswith(TWILIO_API):
            return self.api_url + url[len(TWILIO_API):]
        return url

    async def request(self, method: str, url: str, params: dict[str, object] | None = None,
                      data: dict[str, object] | None = None,
                      headers: dict[str, str] | None = None,
                      auth: tuple[str, str] | None = None, timeout: float | None = None,
                      allow_redirects: bool = False) -> TwilioResponse:
        response = await self.client.request(
            method.upper(), self.target(url), params=params,  # type: ignore[arg-type]
            data=data, headers=headers, auth=auth,
            timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            follow_redirects=allow_redirects)
        if response.status_code == 429:
            _retry_after.set(_seconds(response.headers.get("Retry-After")))
        return TwilioResponse(response.status_code, response.text, response.headers)

    async def close(self) -> None:
        await self.client.aclose()


def _seconds(value: str | None) -> float:
    try:
        return max(0.0, min(3600.0, float(value))) if value else 1.0
    except ValueError:
        return 1.0


@dataclass(frozen=True)
class SmsIn:
    """One form Twilio posted, as read after its signature was checked: an
    inbound text (`body` set) or a status callback (`status` set)."""

    message_sid: str
    sender: str
    to: str
    body: str | None = None
    status: str | None = None
    error_code: str | None = None


_SID = re.compile(r"^(SM|MM|SMS|MG)[0-9a-zA-Z]{10,40}$")
_NUMBER = re.compile(r"^\+?[0-9]{4,20}$")


class BadForm(ValueError):
    """A signed form that is not what Twilio sends (a 400, never a 500)."""


def parse_form(form: Mapping[str, str], *, status: bool) -> SmsIn:
    """The fields we use from Twilio's form, checked: a message SID, numbers
    that are numbers, a body of at most 1600 characters, a known status."""
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    if not _SID.match(sid):
        raise BadForm("MessageSid missing or malformed")
    sender, to = form.get("From", ""), form.get("To", "")
    if status:
        state = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
        if state not in DELIVERY_STATES:
            raise BadForm("MessageStatus missing or unknown")
        code = form.get("ErrorCode") or None
        if code is not None and not code.isdigit():
            raise BadForm("ErrorCode is not a number")
        return SmsIn(message_sid=sid, sender=sender, to=to, status=state, error_code=code)
    if not _NUMBER.match(sender):
        raise BadForm("From is not a phone number")
    body = form.get("Body")
    if body is None or len(body) > 1600:
        raise BadForm("Body missing or too long")
    return SmsIn(message_sid=sid, sender=sender, to=to, body=body)


def signature_valid(auth_token: str, url: str, form: Mapping[str, str],
                    signature: str | None) -> bool:
    """Twilio's `X-Twilio-Signature` over the public URL and the form, checked
    with the library's validator (constant-time)."""
    if not signature or not auth_token:
        return False
    try:
        return bool(RequestValidator(auth_token).validate(url, dict(form), signature))
    except (ValueError, TypeError):
        return False


class SmsProvider:
    """Sends outbox rows as SMS from the municipality's number."""

    channel = CHANNEL

    def __init__(self, account_sid: str, auth_token: str, from_number: str, *,
                 api_url: str = TWILIO_API, status_callback: str | None = None,
                 limits: RateLimits | None = None,
                 plain_letters: frozenset[str] = frozenset({"sr_Latn"}),
                 timeout: float = 15.0) -> None:
        self.limits = limits or RateLimits(per_second=1.0, per_chat_per_second=1.0,
                                           chat_burst=1)
        self.from_number = from_number
        self.status_callback = status_callback
        self.plain_letters = plain_letters  # the languages sent without diacritics
        self.account_sid = account_sid
        self.http = TwilioHttpx(api_url, timeout)
        self.client = Client(account_sid, auth_token, http_client=self.http)

    def text_of(self, reply: Reply) -> str:
        """What the citizen's phone shows; without diacritics in the
        languages the profile says."""
        return sms_body(reply, strip_diacritics=reply.locale in self.plain_letters)

    def segments_of(self, reply: Reply) -> int:
        """The segments `reply` will be billed as (the sender's budget)."""
        return sms_segments(self.text_of(reply)).count

    async def send(self, chat_id: str, reply: Reply) -> SendResult:
        text = self.text_of(reply)
        if not text:
            return SendResult(ok=False, skipped=True, error="nothing to send by SMS")
        segments = sms_segments(text).count
        options: dict[str, Any] = {"to": chat_id, "from_": self.from_number, "body": text}
        if self.status_callback:
            options["status_callback"] = self.status_callback
        _retry_after.set(None)
        try:
            message = await self.client.messages.create_async(**options)
        except TwilioRestException as exc:
            return self._refused(exc)
        except httpx.TimeoutException as exc:
            return SendResult(ok=False, error=f"{type(exc).__name__}: {exc}", reason="timeout")
        except httpx.HTTPError as exc:
            return SendResult(ok=False, error=f"{type(exc).__name__}: {exc}",
                              reason="connection")
        except (TwilioException, ValueError, KeyError) as exc:  # an answer that is not JSON
            return SendResult(ok=False, error=f"unreadable Twilio answer: {exc}", reason="other")
        billed = _int(getattr(message, "num_segments", None)) or segments
        return SendResult(ok=True, provider_message_id=str(message.sid or ""), segments=billed)

    def _refused(self, exc: TwilioRestException) -> SendResult:
        code = _int(exc.code)
        error = f"Twilio {exc.status}" + (f" error {code}" if code else "") + f": {exc.msg}"
        if exc.status == 429 or code in RATE_LIMITED:
            return SendResult(ok=False, retry_after=_retry_after.get() or 1.0, error=error)
        if code in UNSUBSCRIBED:
            return SendResult(ok=False, blocked=True, permanent=True, error=error)
        if exc.status >= 500:
            return SendResult(ok=False, error=error, reason="server_error")
        if exc.status in (401, 403) and code not in PERMANENT:
            # Our credentials, not the message: it goes once they are fixed.
            return SendResult(ok=False, error=error, reason="other")
        return SendResult(ok=False, permanent=True, error=error)

    async def webhook_status(self) -> WebhookStatus:
        """`klokot-bot doctor`: the account the SID and token open, and where
        Twilio reports deliveries; a refusal raises ValueError."""
        try:
            account = await self.client.api.v2010.accounts(self.account_sid).fetch_async()
        except TwilioRestException as exc:
            raise ValueError(f"Twilio answered {exc.status}: {exc.msg}") from exc
        name = f"{account.friendly_name or self.account_sid} ({account.status}), "
        return WebhookStatus(account=name + f"from {self.from_number}",
                             url=self.status_callback or "")

    async def incoming_url(self) -> str | None:
        """Where Twilio posts the texts the municipality's number receives
        (its "A message comes in" webhook); ValueError when the account does
        not hold the number or refuses."""
        return (await self._own_number()).sms_url or None

    async def set_incoming_url(self, url: str) -> None:
        """`klokot-bot set-webhooks`: point the number's incoming texts at us."""
        number = await self._own_number()
        try:
            await number.update_async(sms_url=url, sms_method="POST")
        except TwilioRestException as exc:
            raise ValueError(f"Twilio answered {exc.status}: {exc.msg}") from exc

    async def _own_number(self) -> Any:
        try:
            found = await self.client.incoming_phone_numbers.list_async(
                phone_number=self.from_number, limit=1)
        except TwilioRestException as exc:
            raise ValueError(f"Twilio answered {exc.status}: {exc.msg}") from exc
        if not found:
            raise ValueError(f"the account holds no number {self.from_number}")
        return found[0]

    async def close(self) -> None:
        await self.http.close()


def _int(value: object) -> int | None:
    try:
        return int(str(value)) if value is not None else None
    except ValueError:
        return None
