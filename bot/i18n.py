"""gettext catalogs (Babel .po files in `locales/`), locale choice, and the
date and time formats of GLOSSARY.md.

Message ids are stable keys (`start.welcome`); the `en` catalog holds the
English text. Catalogs are read once per process, never per update.
"""

from __future__ import annotations

import gettext
import io
import os
import re
import string
import sys
from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from functools import lru_cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date as babel_format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po


def locales_dir(environ: Mapping[str, str] = os.environ, source_tree: Path | None = None,
                prefix: str = sys.prefix) -> Path:
    """Where the .po files are: KLOKOT_LOCALES_DIR when set; else the source
    tree's `locales/` (a checkout, `pip install -e`); else the copy a plain
    `pip install` puts under `<prefix>/share/klokot-bot/locales` (pyproject's
    data-files), so an installed program finds its translations by itself."""
    if environ.get("KLOKOT_LOCALES_DIR"):
        return Path(environ["KLOKOT_LOCALES_DIR"])
    if source_tree is None:
        source_tree = Path(__file__).resolve().parent.parent / "locales"
    if source_tree.is_dir():
        return source_tree
    return Path(prefix) / "share" / "klokot-bot" / "locales"


LOCALES_DIR = locales_dir()
ALL_LOCALES = ("sr_Latn", "sr_Cyrl", "sq", "en")
FALLBACK = "en"

# Native names for the language buttons, always in their own script.
LANGUAGE_NAMES = {"sr_Latn": "Srpski", "sr_Cyrl": "Српски", "sq": "Shqip", "en": "English"}

_BABEL_LOCALE = {"sr_Latn": "sr_Latn", "sr_Cyrl": "sr_Cyrl", "sq": "sq", "en": "en_GB"}
_SHORT_DATE = {"sr_Latn": "d.M.y.", "sr_Cyrl": "d.M.y.", "sq": "dd.MM.y", "en": "d MMMM y"}
# A day on a button: "Wed 2 Dec", "sre, 2. dec", "mër, 02.12".
_DAY_SHORT = {"sr_Latn": "EEE, d. MMM", "sr_Cyrl": "EEE, d. MMM", "sq": "EEE, dd.MM",
              "en": "EEE d MMM"}
_LONG_DATE = {
    "sr_Latn": "EEEE, d. MMMM y.",
    "sr_Cyrl": "EEEE, d. MMMM y.",
    "sq": "EEEE, d MMMM y",
    "en": "EEEE, d MMMM y",
}


Translate = Callable[..., str]

class Catalogs:
    """All locales' translations; lookups fall back to English, never to a key."""

    def __init__(self, locales: tuple[str, ...] = ALL_LOCALES, directory: Path = LOCALES_DIR):
        self.locales = locales
        self.directory = directory
        self._translations: dict[str, gettext.GNUTranslations] = {}
        for locale in set(locales) | {FALLBACK}:
            self._translations[locale] = self._load(locale)

    def _load(self, locale: str) -> gettext.GNUTranslations:
        path = self.directory / locale / "LC_MESSAGES" / "messages.po"
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=_BABEL_LOCALE[locale])
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        return gettext.GNUTranslations(buffer)

    def _lookup(self, locale: str) -> gettext.GNUTranslations:
        return self._translations.get(locale) or self._translations[FALLBACK]

    def gettext(self, locale: str, key: str, /, **params: object) -> str:
        text = self._lookup(locale).gettext(key)
        if text == key and locale != FALLBACK:
            text = self._translations[FALLBACK].gettext(key)
        return text.format(**params) if params else text

    def ngettext(self, locale: str, key: str, n: int, /, **params: object) -> str:
        text = self._lookup(locale).ngettext(key, key, n)
        if text == key and locale != FALLBACK:
            text = self._translations[FALLBACK].ngettext(key, key, n)
        return text.format(n=n, **params)

    def translator(self, locale: str) -> Translate:
        """`t(key, **params)` in one language, for code that writes a whole
        message in the reader's language (a citizen's, an officer's)."""
        def t(key: str, /, **params: object) -> str:
            return self.gettext(locale, key, **params)

        return t


@lru_cache
def get_catalogs() -> Catalogs:
    return Catalogs()


def placeholders(text: str) -> set[str]:
    """The `{name}` fields of a message, for comparing a translation with its source."""
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def script_unknown(language_code: str | None) -> bool:
    """Serbian without a script ("sr", "sr-RS": what Viber and most phones
    send) could be read in Latin or in Cyrillic: neither may be assumed."""
    tag = (language_code or "").replace("_", "-").lower()
    return tag.split("-")[0] == "sr" and not re.search(r"-(latn|cyrl|me)\b", tag)


def locale_from_platform(language_code: str | None, enabled: tuple[str, ...]) -> str | None:
    """Pre-select a locale from Telegram's `language_code` (IETF tag)."""
    if not language_code:
        return None
    tag = language_code.replace("_", "-").lower()
    if tag.startswith("sq"):
        choice = "sq"
    elif re.match(r"^sr-(latn|me)", tag) or tag.split("-")[0] in {"hr", "bs", "sh"}:
        choice = "sr_Latn"
    elif tag.startswith("sr"):
        choice = "sr_Cyrl"
    else:
        choice = "en"
    return choice if choice in enabled else None


def format_date(value: date | datetime, locale: str, long: bool = False) -> str:
    """`2.12.2026.` / `02.12.2026` / `2 December 2026`; long adds the weekday."""
    patterns = _LONG_DATE if long else _SHORT_DATE
    loc = Locale.parse(_BABEL_LOCALE.get(locale, "en_GB"))
    return babel_format_date(value, patterns.get(locale, "d MMMM y"), locale=loc)


def format_day_short(value: date | datetime, locale: str) -> str:
    """A day short enough for a button, with its weekday (`Wed 2 Dec`)."""
    loc = Locale.parse(_BABEL_LOCALE.get(locale, "en_GB"))
    return babel_format_date(value, _DAY_SHORT.get(locale, "EEE d MMM"), locale=loc)


def format_time(value: time | datetime) -> str:
    return value.strftime("%H:%M")
