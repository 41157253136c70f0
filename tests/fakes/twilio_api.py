"""A local fake of Twilio's REST API (the Messages resource and the account),
plus builders of the forms Twilio POSTs to a bot's SMS webhooks, signed.

Point the `twilio` library at it through our HTTP client (``TWILIO_API_URL =
fake.url``)::

    with FakeTwilioAPI() as tw:
        provider = SmsProvider(tw.account_sid, tw.auth_token, tw.number, api_url=tw.url)

Each request is recorded as a :class:`Call` named ``"Messages"`` or
``"Account"`` with the form fields as sent (refused ones too, with their
HTTP status). Errors are answered as Twilio answers them (JSON with
``code``, ``message``, ``more_info``, ``status``): :meth:`fail_next` for any
Twilio error code (21610 an unsubscribed recipient, 21211 an invalid
number, 30007 filtered …) or HTTP status (429, 500, 503), and
:meth:`unsubscribe` for a number that texted STOP to Twilio.

The signature of the webhook forms is computed here from Twilio's
documented rule (HMAC-SHA1 over the URL and the sorted fields, base64), not
with the library, so the bot's check through the library is tested against
an independent implementation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import time
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from ._base import Call, FakeServer, Request, Response

__all__ = [
    "Call",
    "FakeTwilioAPI",
    "twilio_signature",
]

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "twilio-test-token-0123456789abcdef"
NUMBER = "+38345000111"
_GSM = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXT = set("\f^{}\\[~]|€")
_MESSAGES = {
    20003: "Authenticate",
    20429: "Too Many Requests",
    21211: "The 'To' number {to} is not a valid phone number.",
    21408: "Permission to send an SMS has not been enabled for the region indicated by "
           "the 'To' number: {to}.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
    30007: "Message filtered",
}


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """``X-Twilio-Signature``: base64 HMAC-SHA1, keyed with the auth token, of the
    full URL followed by each POST field's name and value, sorted by name."""
    data = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _segments(text: str) -> int:
    if all(ch in _GSM or ch in _GSM_EXT for ch in text):
        length = sum(2 if ch in _GSM_EXT else 1 for ch in text)
        return 1 if length <= 160 else -(-length // 153)
    length = len(text.encode("utf-16-le")) // 2
    return 1 if length <= 70 else -(-length // 67)


@dataclass
class _Failure:
    http_status: int
    code: int | None
    remaining: int
    retry_after: str | None


class FakeTwilioAPI(FakeServer):
    """Twilio's ``/2010-04-01/Accounts/{sid}/Messages.json`` and
    ``/2010-04-01/Accounts/{sid}.json``, with HTTP Basic auth (SID, token)."""

    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN,
                 number: str = NUMBER, friendly_name: str = "Opstina Klokot") -> None:
        super().__init__()
        self.account_sid, self.auth_token, self.number = account_sid, auth_token, number
        self.friendly_name = friendly_name
        self._init_state()

    def _init_state(self) -> None:
        self._sids = itertools.count(1)
        self._failures: deque[_Failure] = deque()
        self._unsubscribed: set[str] = set()
        self.sent: list[dict[str, Any]] = []  # each message accepted, as Twilio stores it
        # The account's one number, as its console shows it ("A message comes in").
        self.number_sid = "PN" + "0" * 31 + "7"
        self.sms_url, self.sms_method = "", "POST"

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._init_state()

    # ------------------------------------------------------------------ public API
    def fail_next(self, code: int | None = None, *, http_status: int = 400, times: int = 1,
                  retry_after: str | None = None) -> None:
        """The next ``times`` message creations are refused with this Twilio error
        ``code`` (None: a bare HTTP error, e.g. a 503 from a proxy) and HTTP status;
        a 429 may carry ``Retry-After``."""
        with self._lock:
            self._failures.append(_Failure(http_status, code, times, retry_after))

    def unsubscribe(self, number: str) -> None:
        """The number texted STOP to Twilio: sends to it answer error 21610."""
        with self._lock:
            self._unsubscribed.add(number)

    def messages(self, to: str | None = None) -> list[dict[str, Any]]:
        """The messages accepted (to one number), oldest first."""
        with self._lock:
            return [m for m in self.sent if to is None or m["to"] == to]

    def texts(self, to: str | None = None) -> list[str]:
        return [m["body"] for m in self.messages(to)]

    def sign(self, url: str, params: dict[str, str]) -> str:
        return twilio_signature(self.auth_token, url, params)

    def inbound(self, url: str, sender: str, body: str, *, sid: str | None = None,
                to: str | None = None) -> tuple[bytes, dict[str, str]]:
        """``(body, headers)`` of an incoming SMS as Twilio posts it to ``url``."""
        sid = sid or f"SM{next(self._sids):032x}"
        params = {
            "ToCountry": "XK", "ToState": "", "SmsMessageSid": sid, "NumMedia": "0",
            "ToCity": "", "FromZip": "", "SmsSid": sid, "FromState": "", "SmsStatus":
            "received", "FromCity": "", "Body": body, "FromCountry": "XK", "To": to or
            self.number, "ToZip": "", "NumSegments": str(_segments(body)), "MessageSid": sid,
            "AccountSid": self.account_sid, "From": sender, "ApiVersion": "2010-04-01",
        }
        return self.form(url, params)

    def status_callback(self, url: str, sid: str, status: str, *,
                        error_code: int | None = None,
                        to: str = "+38344123456") -> tuple[bytes, dict[str, str]]:
        """``(body, headers)`` of a delivery status callback for message ``sid``."""
        params = {"SmsSid": sid, "SmsStatus": status, "MessageStatus": status, "To": to,
                  "MessageSid": sid, "AccountSid": self.account_sid, "From": self.number,
                  "ApiVersion": "2010-04-01"}
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        return self.form(url, params)

    def form(self, url: str, params: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        return urlencode(params).encode(), {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": self.sign(url, params),
        }

    # ------------------------------------------------------------------ serving
    def _dispatch(self, request: Request) -> Response:
        arrived = time.time()
        params = dict(parse_qsl(request.body.decode("utf-8", "replace"),
                                keep_blank_values=True))
        prefix = f"/2010-04-01/Accounts/{self.account_sid}"
        if request.path == prefix + "/Messages.json" and request.verb == "POST":
            name, resp = "Messages", self._create(request, params)
        elif request.path == prefix + ".json" and request.verb == "GET":
            name, resp = "Account", self._account(request)
        elif request.path == prefix + "/IncomingPhoneNumbers.json" and request.verb == "GET":
            params = dict(parse_qsl(request.query))
            name, resp = "IncomingPhoneNumbers", self._numbers(request, params)
        elif (request.path == f"{prefix}/IncomingPhoneNumbers/{self.number_sid}.json"
              and request.verb == "POST"):
            name, resp = "IncomingPhoneNumber", self._update_number(request, params)
        else:
            name, resp = request.path, self._error(404, 20404, "The requested resource was "
                                                              "not found")
        self._record(Call(name, params, arrived, resp.status, resp.decoded))
        return resp

    def _is_delivered(self, call: Call) -> bool:
        return call.status == 201

    def _authorised(self, request: Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return request.headers.get("authorization", "") == f"Basic {expected}"

    def _error(self, status: int, code: int | None, message: str,
               headers: dict[str, str] | None = None) -> Response:
        if code is None:
            return Response.text(status, "upstream unavailable")
        return Response.json(status, {"code": code, "message": message, "status": status,
                                      "more_info": f"https://www.twilio.com/docs/errors/{code}"},
                             headers)

    def _create(self, request: Request, params: dict[str, str]) -> Response:
        if not self._authorised(request):
            return self._error(401, 20003, _MESSAGES[20003])
        to, body = params.get("To", ""), params.get("Body", "")
        with self._lock:
            failure = self._failures[0] if self._failures else None
            if failure is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.popleft()
            unsubscribed = to in self._unsubscribed
        if failure is not None:
            headers = {"Retry-After": failure.retry_after} if failure.retry_after else None
            text = _MESSAGES.get(failure.code or 0, "Error").format(to=to)
            return self._error(failure.http_status, failure.code, text, headers)
        if unsubscribed:
            return self._error(400, 21610, _MESSAGES[21610])
        if not to.startswith("+") or not to[1:].isdigit():
            return self._error(400, 21211, _MESSAGES[21211].format(to=to))
        if params.get("From") != self.number:
            return self._error(400, 21606, "The From phone number is not a valid, "
                                           "SMS-capable inbound phone number for your account")
        if not body or len(body) > 1600:
            return self._error(400, 21617, "The concatenated message body exceeds the 1600 "
                                           "character limit")
        sid = f"SM{next(self._sids):032x}"
        message: dict[str, Any] = {
            "sid": sid, "account_sid": self.account_sid, "to": to, "from": self.number,
            "body": body, "status": "queued", "num_segments": str(_segments(body)),
            "num_media": "0", "direction": "outbound-api", "api_version": "2010-04-01",
            "price": None, "price_unit": "USD", "error_code": None, "error_message": None,
            "status_callback": params.get("StatusCallback"),
            "date_created": "Thu, 03 Dec 2026 19:00:00 +0000", "date_updated":
            "Thu, 03 Dec 2026 19:00:00 +0000", "date_sent": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            "messaging_service_sid": None, "subresource_uris": {},
        }
        with self._lock:
            self.sent.append(message)
        return Response.json(201, message)

    def _account(self, request: Request) -> Response:
        if not self._authorised(request):
            return self._error(401, 20003, _MESSAGES[20003])
        return Response.json(200, {"sid": self.account_sid, "friendly_name": self.friendly_name,
                                   "status": "active", "type": "Full",
                                   "date_created": "Thu, 03 Dec 2026 19:00:00 +0000",
                                   "date_updated": "Thu, 03 Dec 2026 19:00:00 +0000",
                                   "owner_account_sid": self.account_sid, "auth_token": "",
                                   "uri": f"/2010-04-01/Accounts/{self.account_sid}.json",
                                   "subresource_uris": {}})

    def _number(self) -> dict[str, Any]:
        return {"sid": self.number_sid, "account_sid": self.account_sid,
                "phone_number": self.number, "friendly_name": self.number,
                "sms_url": self.sms_url, "sms_method": self.sms_method,
                "capabilities": {"sms": True, "voice": True, "mms": False},
                "uri": f"/2010-04-01/Accounts/{self.account_sid}/IncomingPhoneNumbers/"
                       f"{self.number_sid}.json"}

    def _numbers(self, request: Request, params: dict[str, str]) -> Response:
        if not self._authorised(request):
            return self._error(401, 20003, _MESSAGES[20003])
        wanted = params.get("PhoneNumber")
        with self._lock:
            found = [self._number()] if wanted in (None, self.number) else []
        uri = f"/2010-04-01/Accounts/{self.account_sid}/IncomingPhoneNumbers.json"
        return Response.json(200, {"incoming_phone_numbers": found, "page": 0, "page_size": 50,
                                   "first_page_uri": uri, "next_page_uri": None,
                                   "previous_page_uri": None, "start": 0, "end": len(found),
                                   "uri": uri})

    def _update_number(self, request: Request, params: dict[str, str]) -> Response:
        if not self._authorised(request):
            return self._error(401, 20003, _MESSAGES[20003])
        with self._lock:
            self.sms_url = params.get("SmsUrl", self.sms_url)
            self.sms_method = params.get("SmsMethod", self.sms_method)
            return Response.json(200, self._number())
