"""The part of a Bot API `Update` the bot reads, as checked types.

Field names, required fields and limits follow the Bot API
(https://core.telegram.org/bots/api#update); what the bot does not read
(dates, message ids, reply markup …) is not looked at, so it cannot break us.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field

from bot.channels.boundary import (
    MAX_ID,
    Count,
    Identifier,
    LanguageTag,
    Latitude,
    Longitude,
    Name,
    ShortText,
    Strict,
    Unicode,
    cut,
)

TEXT_MAX = 4096  # a message's text
CAPTION_MAX = 1024
CALLBACK_DATA_MAX_BYTES = 64

ChatId = Annotated[int, Field(gt=-MAX_ID, lt=MAX_ID)]
UserId = Annotated[int, Field(gt=0, lt=MAX_ID)]


def _payload_bytes(value: str) -> str:
    if len(value.encode("utf-8")) > CALLBACK_DATA_MAX_BYTES:
        raise ValueError(f"callback data over {CALLBACK_DATA_MAX_BYTES} bytes")
    return value


class User(Strict):
    id: UserId
    first_name: Name
    last_name: Name | None = None
    language_code: LanguageTag | None = None


class Chat(Strict):
    id: ChatId
    type: Annotated[str, Field(max_length=32)]


class MessageEntity(Strict):
    type: Annotated[str, Field(max_length=32)]
    offset: Count
    length: Count


class Contact(Strict):
    phone_number: Annotated[Unicode, Field(max_length=64)]
    first_name: Name
    last_name: Name | None = None
    user_id: UserId | None = None


class Location(Strict):
    latitude: Latitude
    longitude: Longitude


class Venue(Strict):
    location: Location
    title: ShortText
    address: ShortText


class PhotoSize(Strict):
    file_id: Identifier
    file_size: Count | None = None


class Document(Strict):
    file_id: Identifier
    file_size: Count | None = None
    mime_type: Annotated[Unicode, Field(max_length=255)] | None = None
    file_name: Annotated[Unicode, Field(max_length=255)] | None = None


class Voice(Strict):
    """A voice note (`voice`) or an audio file (`audio`): its length in seconds."""

    file_id: Identifier
    duration: Count
    file_size: Count | None = None
    mime_type: Annotated[Unicode, Field(max_length=255)] | None = None
    file_name: Annotated[Unicode, Field(max_length=255)] | None = None


class Message(Strict):
    from_user: User | None = Field(default=None, alias="from")
    chat: Chat
    text: Annotated[Unicode, cut(TEXT_MAX)] | None = None
    entities: list[MessageEntity] | None = None
    caption: Annotated[Unicode, cut(CAPTION_MAX)] | None = None
    contact: Contact | None = None
    venue: Venue | None = None
    location: Location | None = None
    photo: list[PhotoSize] | None = None
    document: Document | None = None
    voice: Voice | None = None
    audio: Voice | None = None
    sticker: dict[str, Any] | None = None


class CallbackMessage(Strict):
    """The message a button was under: its chat, and its id for the edit that
    takes the buttons away (an "inaccessible message" has nothing else)."""

    chat: Chat
    message_id: Annotated[int, Field(gt=0, lt=MAX_ID)] | None = None


class CallbackQuery(Strict):
    id: Annotated[str, Field(min_length=1, max_length=64)]
    from_user: User = Field(alias="from")
    message: CallbackMessage | None = None
    data: Annotated[Unicode, AfterValidator(_payload_bytes)] | None = None


class ChatMember(Strict):
    status: Annotated[str, Field(max_length=32)]


class ChatMemberUpdated(Strict):
    chat: Chat
    from_user: User = Field(alias="from")
    new_chat_member: ChatMember


class Update(Strict):
    update_id: Annotated[int, Field(ge=0, lt=MAX_ID)]
    message: Message | None = None
    callback_query: CallbackQuery | None = None
    my_chat_member: ChatMemberUpdated | None = None
