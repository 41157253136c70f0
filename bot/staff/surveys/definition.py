"""A survey as one JSON document (the shape of issue #7): the example staff
start from, cleaning what they sent, and a stored survey written back as its
definition. The rules of a definition are the service's
(`bot.services.surveys.check_definition`)."""

from __future__ import annotations

import unicodedata
from datetime import UTC
from typing import Any

from bot.models import Survey

EXAMPLE: dict[str, Any] = {
    "slug": "citizens-2026",
    "title": {"sr_Latn": "Anketa građana 2026", "sr_Cyrl": "Анкета грађана 2026",
              "sq": "Anketa e qytetarëve 2026", "en": "Citizens' survey 2026"},
    "anonymous": True,
    "opens_at": "2026-03-01T08:00:00+01:00",
    "closes_at": "2026-03-31T20:00:00+02:00",
    "audience": {"settlements": ["klokot", "vrbovac"], "diaspora": True},
    "questions": [
        {"key": "satisfaction", "type": "scale", "min": 1, "max": 5, "required": True,
         "text": {"sr_Latn": "Koliko ste zadovoljni radom opštine?",
                  "sr_Cyrl": "Колико сте задовољни радом општине?",
                  "sq": "Sa të kënaqur jeni me punën e komunës?",
                  "en": "How satisfied are you with the municipality?"}},
        {"key": "news", "type": "single", "required": True,
         "text": {"sr_Latn": "Odakle saznajete vesti?", "sr_Cyrl": "Одакле сазнајете вести?",
                  "sq": "Nga i merrni lajmet?", "en": "Where do you get news from?"},
         "options": [
             {"key": "web", "text": {"sr_Latn": "Sajt", "sr_Cyrl": "Сајт", "sq": "Faqja",
                                     "en": "Website"}},
             {"key": "radio", "text": {"sr_Latn": "Radio", "sr_Cyrl": "Радио", "sq": "Radio",
                                       "en": "Radio"}}]},
        {"key": "comment", "type": "text", "required": False,
         "text": {"sr_Latn": "Još nešto?", "sr_Cyrl": "Још нешто?", "sq": "Diçka tjetër?",
                  "en": "Anything else?"}},
    ],
}


def scrub(value: Any) -> Any:
    """The raw definition without control characters (tabs and line breaks
    kept) or lone surrogates, in keys and texts: no database or JSON answer
    stores those."""
    if isinstance(value, str):
        return "".join(ch for ch in value if unicodedata.category(ch) not in {"Cc", "Cs"}
                       or ch in "\t\n\r")
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def definition_of(survey: Survey) -> dict[str, Any]:
    """The survey as its JSON definition (what was sent, cleaned)."""
    return {"slug": survey.slug, "title": dict(survey.title), "anonymous": survey.anonymous,
            "opens_at": survey.opens_at.astimezone(UTC).isoformat() if survey.opens_at
            else None,
            "closes_at": survey.closes_at.astimezone(UTC).isoformat() if survey.closes_at
            else None,
            "audience": survey.audience, "questions": survey.questions}


def snapshot(survey: Survey) -> dict[str, Any]:
    """What the audit keeps before and after a change: the definition and the status."""
    return {**definition_of(survey), "status": survey.status.value}
