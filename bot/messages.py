"""Channel-neutral messages: what a handler receives and what it returns.

Only `bot/channels/` turns these into Telegram or Viber objects; flows never
see a platform type.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field, fields
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
    # A recording: Telegram's voice note or audio file, or a Viber file whose
    # name says it is audio (Viber sends no mime type).
    voice = "voice"
    unsupported = "unsupported"  # video, poll, …: acknowledged, explained
    started = "started"  # the user opened the chat (Viber conversation_started)
    blocked = "blocked"  # the user blocked the bot / unsubscribed
    unblocked = "unblocked"  # the user came back (Viber subscribed, Telegram unblock)
    ignored = "ignored"  # a delivery receipt, an edit: recorded, not handled
    # The platform could not show one of our messages (Viber's `failed`
    # callback): `payload` is its message id there, `text` the reason given.
    undelivered = "undelivered"


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
    """A photo, file or recording: a platform file id (Telegram) or a URL
    (Viber). `duration` is a recording's length in seconds, where the
    platform says it (Telegram)."""

    file_id: str | None = None
    url: str | None = None
    mime_type: str | None = None
    size: int | None = None
    file_name: str | None = None
    duration: int | None = None


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
    # The platform's id of the message whose button was pressed (Telegram says
    # which; Viber, the terminal and a typed label do not): what an edit targets.
    source_message_id: str | None = None
    # Buttons sent earlier stay pressable in this chat (Telegram: inline buttons
    # under every message, a contact keyboard until taken away), and sent
    # messages can be edited: the engine takes old buttons away once their step
    # is done. On Viber only the last message's keyboard exists.
    buttons_stay: bool = False
    raw: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def handled_kinds(self) -> bool:
        return self.kind not in {Kind.blocked, Kind.unblocked, Kind.ignored, Kind.undelivered}


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


# Reply fields stored only when they differ from their default, so that the
# bodies of ordinary messages stay as they were.
_OPTIONAL = {"free_text": True, "page": 0, "more_label": None, "locale": None}

# A handler's `Reply.edit` for "the message the pressed button came on"; the
# engine puts that message's platform id in its place (or None when unknown).
EDIT_SOURCE = "source"


class EditKind(enum.StrEnum):
    """How a reply with `edit` changes the message it names."""

    redraw = "redraw"  # it becomes this reply (a toggle redrawn); else a new message
    settle = "settle"  # it loses its buttons and shows `text`, the choice, under its text


@dataclass
class Reply:
    """One outbound message. `request` asks the platform for a contact or a
    location with a one-tap button labelled `request_label`.

    Hints a channel may use or ignore: `free_text=False` says only a button
    makes sense at this step (Viber hides its input field); `page` is which
    page of a keyboard too long for the platform to show (Viber's 12 rows),
    and `more_label` the label of the button that turns to the next one, in
    the reader's language.

    With `edit` (a platform message id) it changes that message instead, as
    `edit_kind` says: where the platform cannot edit (Viber) a `redraw` is sent
    as a new message and a `settle` is nothing. For a settle, `above` is the
    message's own text kept above the choice (None: only its buttons go).
    `closes_request` marks the short note that takes a contact or location
    keyboard away where the platform keeps one up under other buttons
    (Telegram); elsewhere it is not sent."""

    text: str
    buttons: list[list[Button]] = field(default_factory=list)
    request: str | None = None  # "contact" | "location"
    request_label: str | None = None
    file: FileRef | None = None
    free_text: bool = True
    page: int = 0
    more_label: str | None = None
    edit: str | None = None
    edit_kind: EditKind = EditKind.redraw
    above: str | None = None
    closes_request: bool = False
    # The language it is written in (the Viber sender name follows it); None: several or unknown.
    locale: str | None = None

    @property
    def settles(self) -> bool:
        """An edit that only takes a message's buttons away and shows the choice."""
        return self.edit is not None and self.edit_kind is EditKind.settle

    def to_json(self) -> dict[str, Any]:
        # What `dataclasses.asdict` gives, built directly: it runs on every reply.
        data = {name: getattr(self, name) for name in _REPLY_FIELDS}
        data["buttons"] = [[{"label": b.label, "payload": b.payload} for b in row]
                           for row in self.buttons]
        if self.file is not None:
            data["file"] = asdict(self.file)
        # Plain messages keep the shape they always had in the outbox.
        for name, default in _OPTIONAL.items():
            if data[name] == default:
                del data[name]
        for name, empty in (("edit", None), ("above", None), ("closes_request", False)):
            if data[name] == empty:
                del data[name]
        if self.edit is None:
            del data["edit_kind"]
        else:
            data["edit_kind"] = self.edit_kind.value
        return data

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
            free_text=bool(data.get("free_text", True)),
            page=int(data.get("page") or 0),
            more_label=data.get("more_label"),
            edit=data.get("edit"),
            edit_kind=EditKind(data.get("edit_kind") or EditKind.redraw),
            above=data.get("above"),
            closes_request=bool(data.get("closes_request")),
            locale=data.get("locale"),
        )


_REPLY_FIELDS = tuple(f.name for f in fields(Reply))


def split_payload(payload: str) -> tuple[str, str]:
    """`"lang:sq"` → `("lang", "sq")`: the prefix routes, the rest is the argument."""
    prefix, _, rest = payload.partition(":")
    return prefix, rest
