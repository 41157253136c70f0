"""The part of a Viber REST callback the bot reads, as checked types.

Names and limits follow Viber's REST bot API ("Callbacks" and "Receive
message from user"); fields the bot does not read are not looked at.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bot.channels.boundary import (
    MAX_ID,
    MAX_TOKEN,
    Count,
    Identifier,
    LanguageTag,
    Latitude,
    Longitude,
    Name,
    Strict,
    Unicode,
    cut,
)

TEXT_MAX = 7000  # a message's text, in Viber's own limit
URL_MAX = 2048


class Envelope(Strict):
    """What every callback has: the event, when Viber sent it (ms since the
    epoch) and, for most events, the message token."""

    event: Annotated[Identifier, Field(max_length=64)]
    timestamp: Annotated[int, Field(ge=0, lt=MAX_ID)]
    message_token: Annotated[int, Field(ge=0, lt=MAX_TOKEN)] | None = None


class User(Strict):
    id: Identifier
    name: Name | None = None
    language: LanguageTag | None = None


class Contact(Strict):
    name: Name | None = None
    phone_number: Annotated[Unicode, Field(max_length=64)] | None = None


class Location(Strict):
    lat: Latitude
    lon: Longitude


class Message(Strict):
    type: Annotated[str, Field(min_length=1, max_length=32)]
    text: Annotated[Unicode, cut(TEXT_MAX)] | None = None
    media: Annotated[Unicode, Field(max_length=URL_MAX)] | None = None
    size: Count | None = None
    file_name: Annotated[Unicode, Field(max_length=255)] | None = None
    contact: Contact | None = None
    location: Location | None = None


class MessageEvent(Envelope):
    sender: User
    message: Message


class UserEvent(Envelope):
    """conversation_started and subscribed."""

    user: User


class UnsubscribedEvent(Envelope):
    user_id: Identifier


class FailedEvent(Envelope):
    """Viber could not deliver or show one of our messages: `message_token`
    is ours, `desc` says why."""

    user_id: Identifier
    desc: Annotated[Unicode, cut(500)] | None = None
