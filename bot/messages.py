"""Channel-neutral messages: what a handler receives and what it returns.

Only `bot/channels/` turns these into Telegram or Viber objects; flows never
see a platform type.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

MAX_TEXT = 4096  # Telegram's limit; Viber allows more, terminals don't care.
PAYLOAD_MAX_BYTES = 64  # Telegram callback_data limit.
# The longest button label that still fits a phone's screen in one line.
BUTTON_CHARS = 30


class Kind(enum.StrEnum):
    text = "text"
    command = "command"
    button = "button"
    contact = "contact"
    location = "location"
    photo = "photo"
    file = "file"
    sticker = "sticker"
    unsupported = "unsupported"  # voice, video, poll, …: acknowledged, explained
    started = "started"  # the user opened the chat (Viber conversation_started)
    blocked = "blocked"  # the user blocked the bot / unsubscribed
    unblocked = "unblocked"  # the user came back (Viber subscribed, Telegram unblock)
    ignored = "ignored"  # a delivery receipt, an edit: recorded, not handled


@dataclass(frozen=True)
class Contact:
    phone: str
    first_name: str | None = None
    last_name: str | None = None
    is_own: bool = True  # the contact is the sender's own (Telegram user_id matches)


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float
    address: str | None = None


@dataclass(frozen=True)
class Media:
    """A photo or file: a platform file id (Telegram) or a URL (Viber)."""

    file_id: str | None = None
    url: str | None = None
    mime_type: str | None = None
    size: int | None = None
    file_name: str | None = None


@dataclass(frozen=True)
class Incoming:
    """One inbound update, as a flow sees it."""

    channel: str
    user_id: str
    chat_id: str
    kind: Kind
    update_key: str
    text: str | None = None
    command: str | None = None
    args: str = ""
    payload: str | None = None
    contact: Contact | None = None
    location: Location | None = None
    media: tuple[Media, ...] = ()
    display_name: str | None = None
    language_hint: str | None = None
    raw: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def handled_kinds(self) -> bool:
        return self.kind not in {Kind.blocked, Kind.unblocked, Kind.ignored}


@dataclass(frozen=True)
class Button:
    label: str
    payload: str

    def __post_init__(self) -> None:
        if len(self.payload.encode("utf-8")) > PAYLOAD_MAX_BYTES:
            raise ValueError(f"button payload over {PAYLOAD_MAX_BYTES} bytes: {self.payload!r}")


def fit_label(text: str, limit: int = BUTTON_CHARS) -> str:
    """A label cut to fit a button, at a word where one is near, with "…"; the
    full text belongs in the message above the buttons."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:–—-") + "…"


@dataclass(frozen=True)
class FileRef:
    """A file to send: a path under the media directory or a URL, with a name."""

    path: str | None = None
    url: str | None = None
    file_name: str | None = None
    mime_type: str | None = None


@dataclass
class Reply:
    """One outbound message. `request` asks the platform for a contact or a
    location with a one-tap button labelled `request_label`."""

    text: str
    buttons: list[list[Button]] = field(default_factory=list)
    request: str | None = None  # "contact" | "location"
    request_label: str | None = None
    file: FileRef | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reply:
        buttons = [[Button(**b) for b in row] for row in data.get("buttons", [])]
        file = FileRef(**data["file"]) if data.get("file") else None
        return cls(
            text=data["text"],
            buttons=buttons,
            request=data.get("request"),
            request_label=data.get("request_label"),
            file=file,
        )


def split_payload(payload: str) -> tuple[str, str]:
    """`"lang:sq"` → `("lang", "sq")`: the prefix routes, the rest is the argument."""
    prefix, _, rest = payload.partition(":")
    return prefix, rest
