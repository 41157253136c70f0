"""Phone numbers: Kosovo numbers as people type them, foreign ones with +, stored in E.164."""

from __future__ import annotations

import phonenumbers

DEFAULT_REGION = "XK"


def normalize_phone(text: str, region: str = DEFAULT_REGION) -> str | None:
    """`044 123 456` → `+38344123456`; None for what is not a valid number."""
    cleaned = text.strip()
    if not 5 <= len(cleaned) <= 32:
        return None
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    try:
        number = phonenumbers.parse(cleaned, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
