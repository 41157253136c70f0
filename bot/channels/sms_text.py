"""What a text costs as SMS, and the text itself: pure functions, no I/O.

An SMS is billed in segments. A text made only of the GSM 03.38 alphabet goes
as GSM-7: 160 characters in one segment, 153 per segment when it is split
(the rest is the header that joins them); a character of the extension table
(`€ [ ] { } ^ ~ | \\` and the form feed) takes two. One character outside
the alphabet — Serbian Latin's č ć đ š ž among them (GSM-7 has only é è ù ì ò
Ç Ø å Å Ä Ö Ñ Ü ä ö ñ ü à and the Greek capitals) — makes the whole text UCS-2:
70 UTF-16 code units in one segment, 67 per segment of a longer one. The
profile can replace the diacritics of Serbian Latin (and Albanian) texts so
that they fit 160.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.messages import Reply

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67

# The letters a language's SMS may go without, as the profile chooses (one of
# them makes the whole text UCS-2): Serbian Latin's č ć đ š ž, and Albanian's
# ë and ç (GSM-7 has the capital Ç, not the small one).
_PLAIN = {
    "sr_Latn": {"č": "c", "ć": "c", "đ": "dj", "š": "s", "ž": "z",
                "Č": "C", "Ć": "C", "Đ": "Dj", "Š": "S", "Ž": "Z"},
    "sq": {"ë": "e", "Ë": "E", "ç": "c"},
}
_PLAIN_TABLES = {locale: str.maketrans(letters) for locale, letters in _PLAIN.items()}
# The languages that can go without their diacritics, and which letters those are.
DIACRITICS = {"sr_Latn": "č ć đ š ž", "sq": "ë ç"}
# Typography a catalog uses that GSM-7 lacks, and its plain equivalent:
# one „curly“ quote would otherwise make the whole text UCS-2.
_TYPOGRAPHY = str.maketrans({"„": '"', "“": '"', "”": '"', "‘": "'", "’": "'",
                             "–": "-", "—": "-", "…": "...", "\u00a0": " "})


@dataclass(frozen=True)
class SmsSegments:
    """A text's encoding, its length in that encoding's units (septets for
    GSM-7, an extension character counting two; UTF-16 code units for
    UCS-2) and the number of segments it is billed as."""

    encoding: Literal["GSM-7", "UCS-2"]
    count: int
    length: int


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def sms_segments(text: str) -> SmsSegments:
    """How many segments `text` is billed as (an empty text is still one)."""
    if is_gsm7(text):
        units = [2 if ch in GSM7_EXTENSION else 1 for ch in text]
        return SmsSegments("GSM-7", _count(units, GSM7_SINGLE, GSM7_MULTI), sum(units))
    # A character beyond the BMP (an emoji) is two code units, never split.
    units = [len(ch.encode("utf-16-le")) // 2 for ch in text]
    return SmsSegments("UCS-2", _count(units, UCS2_SINGLE, UCS2_MULTI), sum(units))


def _count(units: list[int], single: int, multi: int) -> int:
    """Segments of a text whose characters take these units: one when it fits
    `single`, else filled `multi` at a time, a character never split in two
    (an escaped GSM-7 character, a UTF-16 surrogate pair)."""
    if sum(units) <= single:
        return 1
    count, used = 1, 0
    for size in units:
        if used + size > multi:
            count, used = count + 1, 0
        used += size
    return count


def without_diacritics(text: str, locale: str = "sr_Latn") -> str:
    """A text without its language's diacritics: Serbian Latin č→c ć→c đ→dj
    š→s ž→z (Đ→Dj), Albanian ë→e ç→c; other languages as they are."""
    table = _PLAIN_TABLES.get(locale)
    return text.translate(table) if table is not None else text


def plain_typography(text: str) -> str:
    """Curly quotes, dashes and the ellipsis as GSM-7 has them."""
    return text.translate(_TYPOGRAPHY)


def sms_body(reply: Reply, *, strip_diacritics: bool) -> str:
    """A Reply as the text of an SMS: buttons, keyboards and files dropped
    (no conversation goes by SMS), typography made plain, and with
    `strip_diacritics` (when the profile asks it for the reply's language;
    Serbian Latin when the reply has none) the diacritics replaced so that
    the text can go as GSM-7."""
    text = plain_typography(reply.above if reply.settles and reply.above else reply.text)
    if strip_diacritics:
        text = without_diacritics(text, reply.locale or "sr_Latn")
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return "\n".join(lines)
