"""What the report's page and its API share: the XLSX media type and the
names of the profile's codes in the officer's language."""

from __future__ import annotations

from collections.abc import Callable

from bot.admin import rendering
from bot.i18n import LANGUAGE_NAMES
from bot.runtime import Runtime
from bot.staff import reports

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def namer(runtime: Runtime, locale: str) -> Callable[[str, str], str]:
    """A profile code (or an app, a language, a kind) named in the officer's language."""
    labels = rendering.profile_labels(runtime, locale)
    t = runtime.catalogs.translator(locale)
    groups = {"settlement": labels["settlements"], "category": labels["categories"],
              "topic": labels["topics"], "department": labels["departments"],
              "language": dict(LANGUAGE_NAMES), "app": {"telegram": "Telegram",
                                                        "viber": "Viber"}}

    def name(kind: str, code: str) -> str:
        if code == reports.UNKNOWN:
            return t("staff.reports.unknown")
        if kind == "kind":
            return t(f"staff.complaints.kind.{code}")
        return str(groups.get(kind, {}).get(code, code))

    return name
