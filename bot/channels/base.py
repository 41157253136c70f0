"""The provider protocol every outbound channel implements (GOV.UK Notify
style: provider clients behind one interface), and what a send returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.messages import Reply


@dataclass(frozen=True)
class SendResult:
    """What happened to one message at the platform.

    - `ok`: delivered to the platform; `provider_message_id` is its id there.
    - `retry_after`: the platform asked us to slow down (429); try again then.
    - `blocked`: the user blocked the bot or unsubscribed; send nothing more.
    - `permanent`: the platform refused this message for good (bad request).
    - `skipped`: nothing needed sending on this platform (an edit where
      messages cannot be edited); `error` says why.
    - `ok` with an `error`: delivered, with a note worth keeping (an edit
      the platform refused, sent as a new message instead).
    - `segments`: what an SMS was billed as (None on other channels).
    - otherwise a transient error (network, 5xx): retry with backoff; `reason`
      says which kind (`server_error`, `timeout`, `connection`, `other`) for
      the retry metrics.
    """

    ok: bool
    provider_message_id: str | None = None
    retry_after: float | None = None
    blocked: bool = False
    permanent: bool = False
    skipped: bool = False
    error: str | None = None
    reason: str | None = None
    segments: int | None = None


@dataclass(frozen=True)
class RateLimits:
    per_second: float
    per_chat_per_second: float
    chat_burst: int


@dataclass(frozen=True)
class WebhookStatus:
    """What a platform says about our bot and its webhook (`klokot-bot doctor`):
    the account it knows the token as, the URL it calls, and for Telegram the
    updates waiting and the last delivery error it saw (with its time, UTC
    seconds since the epoch)."""

    account: str
    url: str
    pending_updates: int | None = None
    last_error: str | None = None
    last_error_at: float | None = None


class Provider(Protocol):
    """An outbound channel. `send` never raises for platform errors: it
    classifies them in a SendResult so the sender can decide. A provider
    whose platform can change a sent message says `edits = True` and handles
    `Reply.edit`; to any other the sender gives no edits (`can_edit`)."""

    channel: str
    limits: RateLimits

    async def send(self, chat_id: str, reply: Reply) -> SendResult: ...

    async def close(self) -> None: ...


class MediaRefused(Exception):
    """The platform will never give this file (gone, or too big to fetch);
    retrying cannot help. Other exceptions from `fetch_media` are transient."""


class MediaTooBig(MediaRefused):
    """The file is over the size we accept (known before or while downloading)."""


class MediaSource(Protocol):
    """A channel that can hand over a file the user sent: by the platform's
    file id (Telegram) or by the URL it gave us (Viber)."""

    async def fetch_media(self, file_id: str | None, url: str | None,
                          max_bytes: int) -> bytes: ...


def can_edit(provider: object) -> bool:
    """Whether this provider changes sent messages (Telegram) or only sends new ones."""
    return bool(getattr(provider, "edits", False))
