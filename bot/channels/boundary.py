"""The typed boundary shared by the Telegram and Viber parsers: field types
with the ranges a platform actually sends, so that what reaches the engine
(and the database) is always a short valid string, a number that fits in 64
bits, a finite coordinate — and everything else is refused with a reason.

A refusal reason names the field and what was wrong with it, never the value
(the body may hold someone's text)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

# Telegram user and chat ids "have at most 52 significant bits"; update ids
# and file sizes are smaller still. Nothing the platforms send comes near 2**53.
MAX_ID = 2**53
MAX_TOKEN = 2**64  # Viber message tokens are unsigned 64-bit; kept as text


class Refused(ValueError):
    """A body that is not what the platform sends: answered 400, stored nowhere."""


def _encodable(value: str) -> str:
    """A lone surrogate (JSON `\\ud800`) cannot be stored as UTF-8 anywhere;
    NUL can be typed into a chat but not stored in PostgreSQL text: dropped."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode") from None
    return value.replace("\x00", "") if "\x00" in value else value


def _identifier(value: str) -> str:
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("control or space characters in an identifier")
    return _encodable(value)


def cut(limit: int) -> AfterValidator:
    """Longer than the platform allows: cut to its limit (the step that reads
    it then refuses politely what is over its own limit)."""
    return AfterValidator(lambda value: value[:limit])


Unicode = Annotated[str, AfterValidator(_encodable)]
Identifier = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_identifier)]
Name = Annotated[Unicode, cut(200)]
LanguageTag = Annotated[str, Field(max_length=16), AfterValidator(_identifier)]
ShortText = Annotated[Unicode, Field(max_length=512)]
Count = Annotated[int, Field(ge=0, lt=MAX_ID)]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]


class Strict(BaseModel):
    """Exact JSON types (no "1" for 1, no true for 1, no 1.0 for an id);
    fields the bot does not read are ignored, so a newer API never breaks us."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


def reason(exc: ValidationError) -> str:
    """Where and what, for the log and the 400 — without the input value."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False)[:3]:
        where = ".".join(str(step) for step in error["loc"]) or "body"
        parts.append(f"{where}: {error['type']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def validate(model: type[Strict], data: Any, what: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Refused(f"malformed {what}: {reason(exc)}") from None
