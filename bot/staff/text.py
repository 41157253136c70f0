"""Officers' text as the database and the chats take it: no control
characters (no database stores a NUL) and no lone surrogates."""

from __future__ import annotations

import unicodedata

_DROPPED = {"Cc", "Cs"}


def tidy(text: str | None) -> str:
    """A multi-line text (a reply, a notice), line breaks and tabs kept."""
    return "".join(ch for ch in text or "" if unicodedata.category(ch) not in _DROPPED
                   or ch in "\t\n\r").strip()


def clean(text: str | None) -> str:
    """One line (a reason, a name, an address): white space folded to single spaces."""
    return " ".join(tidy(text).split())
