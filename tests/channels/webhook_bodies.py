"""Hypothesis strategies for webhook bodies: every kind of Telegram update and
Viber callback the bot reads, well-formed, then mutated the way a fuzzer (or
a broken proxy) would — fields deleted, retyped, huge numbers, long and odd
Unicode, deep nesting — and a few raw bodies JSON encoders never write."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from tests.fakes.telegram_api import (
    tg_callback_update,
    tg_command_update,
    tg_contact_update,
    tg_edited_message_update,
    tg_location_update,
    tg_message_update,
    tg_my_chat_member_update,
    tg_photo_update,
    tg_sticker_update,
    tg_voice_update,
)
from tests.fakes.viber_api import (
    viber_client_status,
    viber_conversation_started,
    viber_delivered,
    viber_failed,
    viber_message_event,
    viber_seen,
    viber_subscribed,
    viber_unsubscribed,
    viber_webhook_event,
)

Path = tuple[str | int, ...]


def _tg_document(update_id: int, user: int) -> dict[str, Any]:
    update = tg_message_update(update_id, user, "x")
    message = update["message"]
    del message["text"]
    message["document"] = {"file_id": f"DOC{update_id}", "file_unique_id": "u",
                           "file_name": "plan.pdf", "mime_type": "application/pdf",
                           "file_size": 12_345}
    message["caption"] = "the plan"
    return update


def _tg_venue(update_id: int, user: int) -> dict[str, Any]:
    update = tg_location_update(update_id, user, 42.37, 21.37)
    update["message"]["venue"] = {"location": {"latitude": 42.37, "longitude": 21.37},
                                  "title": "Shkolla", "address": "Rruga 1"}
    return update


def _tg_voice(update_id: int, user: int) -> dict[str, Any]:
    update = tg_message_update(update_id, user, "x")
    del update["message"]["text"]
    update["message"]["voice"] = {"file_id": "V", "file_unique_id": "v", "duration": 3}
    return update


TELEGRAM_KINDS: dict[str, Callable[[int, int], dict[str, Any]]] = {
    "text": lambda u, user: tg_message_update(u, user, "Rruga kryesore ka gropa"),
    "command": lambda u, user: tg_command_update(u, user, "/start"),
    "command_args": lambda u, user: tg_command_update(u, user, "/link ABC123"),
    "callback": lambda u, user: tg_callback_update(u, user, "lang:sq"),
    "contact": lambda u, user: tg_contact_update(u, user, "+38344123456"),
    "location": lambda u, user: tg_location_update(u, user, 42.37, 21.37),
    "venue": _tg_venue,
    "photo": lambda u, user: tg_photo_update(u, user, f"PH{u}", caption="gropa"),
    "document": _tg_document,
    "sticker": lambda u, user: tg_sticker_update(u, user),
    "voice": _tg_voice,
    "audio": lambda u, user: tg_voice_update(u, user, f"AU{u}", duration=61, audio=True,
                                             caption="gropa"),
    "blocked": lambda u, user: tg_my_chat_member_update(u, user, "kicked"),
    "unblocked": lambda u, user: tg_my_chat_member_update(u, user, "member"),
    "edited": lambda u, user: tg_edited_message_update(u, user, "edit"),
}

VIBER_KINDS: dict[str, Callable[[str], dict[str, Any]]] = {
    "text": lambda user: viber_message_event(user, "Rruga kryesore ka gropa"),
    "command": lambda user: viber_message_event(user, "/start"),
    "button": lambda user: viber_message_event(user, "lang:sq"),
    "contact": lambda user: viber_message_event(
        user, contact={"name": "Test", "phone_number": "+38344123456"}),
    "location": lambda user: viber_message_event(user, location=(42.37, 21.37)),
    "picture": lambda user: viber_message_event(user, "gropa",
                                                media="https://dl-media.viber.com/p.jpg"),
    "video": lambda user: viber_message_event(user, message_type="video",
                                              media="https://dl-media.viber.com/v.mp4",
                                              size=1000),
    "file": lambda user: viber_message_event(user, media="https://dl-media.viber.com/f.pdf",
                                             file_name="plan.pdf", size=2048),
    "audio_file": lambda user: viber_message_event(
        user, media="https://dl-media.viber.com/a.m4a", file_name="zeri.m4a", size=4096),
    "sticker": lambda user: viber_message_event(user, sticker_id=40100),
    "url": lambda user: viber_message_event(user, "https://example.org",
                                            message_type="url", media="https://example.org"),
    "conversation_started": lambda user: viber_conversation_started(user, language="sq"),
    "subscribed": lambda user: viber_subscribed(user),
    "unsubscribed": lambda user: viber_unsubscribed(user),
    "delivered": lambda user: viber_delivered(user, 5_000_000_000_000_000_001),
    "seen": lambda user: viber_seen(user, 5_000_000_000_000_000_002),
    "failed": lambda user: viber_failed(user, 5_000_000_000_000_000_003),
    "webhook": lambda user: viber_webhook_event(),
    "client_status": lambda user: viber_client_status(user),
}

ODD_TEXT = st.sampled_from([
    "", " ", "\x00", "\x00start", "\ud800", "a\udfffb", "\u202e\u2066", "\ufeff/start",
    "🇽🇰" * 50, "ё" * 5000, "x" * 4097, "y" * 70_000, "/" + "a" * 300, "lang:" + "z" * 300,
    "/start@" + "b" * 100, "rsvp:yes:9" * 20, "\n" * 1000, "٣٤٥", "𝟘𝟙𝟚",
])
HUGE_INTS = st.sampled_from([
    2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, -(2**64), 10**30, 10**4000,
    -1, 0, 253402300800000, 253402300800, -62135596800,
])


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for index in range(depth):
        value = [value] if index % 2 else {"a": value}
    return value


def weird_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(), HUGE_INTS,
        st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40), ODD_TEXT,
    )
    return st.one_of(
        scalars,
        st.lists(scalars, max_size=4),
        st.dictionaries(st.text(max_size=8), scalars, max_size=4),
        st.sampled_from([20, 200, 900]).map(_nested),
    )


def _paths(value: Any, prefix: Path = ()) -> list[Path]:
    found: list[Path] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append((*prefix, key))
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.append((*prefix, index))
            found += _paths(item, (*prefix, index))
    return found


def _parent(body: Any, path: Path) -> Any:
    for step in path[:-1]:
        body = body[step]
    return body


def mutate(data: st.DataObject, body: dict[str, Any]) -> dict[str, Any]:
    """Zero to three mutations: delete a field, replace it, or add one."""
    body = copy.deepcopy(body)
    for _ in range(data.draw(st.integers(0, 3), label="mutations")):
        paths = _paths(body)
        if not paths:
            break
        path = data.draw(st.sampled_from(paths), label="path")
        parent = _parent(body, path)
        operation = data.draw(st.sampled_from(["delete", "replace", "replace", "add"]),
                              label="operation")
        if operation == "delete":
            if isinstance(parent, dict):
                del parent[path[-1]]
            else:
                parent.pop(path[-1])
        elif operation == "replace":
            parent[path[-1]] = data.draw(weird_values(), label="value")
        elif isinstance(parent, dict):
            parent[data.draw(st.sampled_from(
                ["text", "message", "callback_query", "location", "contact", "photo",
                 "entities", "data", "user", "sender", "timestamp", "message_token"]))] = (
                data.draw(weird_values(), label="added"))
    return body


def encode(body: Any) -> bytes:
    """JSON as a platform (or an attacker) might write it: huge integers and
    NaN included (Python's encoder refuses integers past 4300 digits)."""
    import sys

    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        return json.dumps(body).encode("utf-8", "surrogatepass")
    finally:
        sys.set_int_max_str_digits(limit)


# Bodies no encoder writes but a client can send: deep nesting, a number of
# a million digits, duplicate keys, a BOM, a lone surrogate escaped.
RAW_TELEGRAM = [
    b'{"update_id": 1, "message": ' + b"[" * 200_000 + b"]" * 200_000 + b"}",
    b'{"update_id": 1, "message": ' + b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"}",
    b'{"update_id": ' + b"9" * 500_000 + b"}",
    b'{"update_id": 1, "message": {"text": 1e999999}}',
    b'{"update_id": 1, "update_id": "x", "message": {}}',
    b'\xef\xbb\xbf{"update_id": 1}',
    b'{"update_id": 3, "message": {"message_id": 1, "date": 1, "text": "\\ud800",'
    b' "chat": {"id": 5, "type": "private"}, "from": {"id": 5, "is_bot": false,'
    b' "first_name": "\\udfff"}}}',
    b"[]", b"null", b'"x"', b"{", b"\xff\xfe",
]
RAW_VIBER = [
    b'{"event": "message", "timestamp": ' + b"9" * 500_000 + b"}",
    b'{"event": "message", "sender": ' + b"[" * 200_000 + b"]" * 200_000 + b"}",
    b'{"event": "webhook", "timestamp": NaN, "message_token": Infinity}',
    b'{"event": "message", "message_token": 1, "timestamp": 1, "sender": {"id": "\\ud800"},'
    b' "message": {"type": "text", "text": "\\udfff"}}',
    b"[]", b"{}", b'{"event": 1}',
]
