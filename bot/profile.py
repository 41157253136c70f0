"""The municipality profile: settlements, departments, categories, topics, offices.

All of it is data (a TOML file, `PROFILE_PATH`), so another municipality can run
the same software with its own file. Codes are stable identifiers; names are
per-locale strings.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date, time
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import holidays

# A short name labels a button: at most bot.messages.BUTTON_CHARS characters (the
# profile sits below the message vocabulary, so the number is repeated here).
SHORT_NAME_CHARS = 30
DEFAULT_PROFILE = Path(__file__).parent / "profiles" / "klokot.toml"
ABROAD = "abroad"


@dataclass(frozen=True)
class Named:
    """Anything with a stable code and a name in each locale."""

    code: str
    name: dict[str, str]
    extra: dict[str, Any] = field(default_factory=dict)

    def label(self, locale: str, fallback: str = "en") -> str:
        return self.name.get(locale) or self.name.get(fallback) or self.code

    def short_label(self, locale: str, fallback: str = "en") -> str:
        """The name for a button (`short_name`, at most 30 characters), where the
        full name would not fit on a phone; the full name when there is none."""
        short = self.extra.get("short_name") or {}
        return short.get(locale) or short.get(fallback) or self.label(locale, fallback)


@dataclass(frozen=True)
class ReceptionPattern:
    """The mayor's weekly reception day (SPEC §3.2), as staff find it by default."""

    office: str
    weekday: int
    start: time
    slots: int
    slot_minutes: int
    weeks_ahead: int = 4
    reminder_hour: int = 10
    calendar_personal: bool = False
    place: dict[str, str] = field(default_factory=dict)

    def place_in(self, locale: str) -> str:
        return self.place.get(locale) or self.place.get("en", "")


@dataclass(frozen=True)
class AppealBody:
    """Where a citizen complains about a refused or unanswered request for
    public documents (Law No. 06/L-081): the Information and Privacy Agency.
    `confirmed` stays false until the municipality has checked the details."""

    name: dict[str, str]
    address: dict[str, str]
    phone: str
    website: str
    confirmed: bool = False

    def name_in(self, locale: str) -> str:
        return self.name.get(locale) or self.name.get("en", "")

    def address_in(self, locale: str) -> str:
        return self.address.get(locale) or self.address.get("en", "")


@dataclass(frozen=True)
class SmsProfile:
    """The SMS channel's rules (`[sms]`): whether it is on, the monthly budget
    in segments and what one costs, whether Serbian Latin goes without
    diacritics, and the keywords a texted message may be. The keywords map a
    language (or `any`: the profile's default language) to its words, as
    written in the profile; matching ignores case and diacritics."""

    enabled: bool = False
    monthly_segment_budget: int = 0
    cost_per_segment: float = 0.0
    currency: str = "EUR"
    latin_without_diacritics: bool = True
    albanian_without_diacritics: bool = False
    start_keywords: dict[str, tuple[str, ...]] = field(default_factory=dict)
    stop_keywords: dict[str, tuple[str, ...]] = field(default_factory=dict)
    keyword_topics: tuple[str, ...] = ()

    def plain_letters(self) -> frozenset[str]:
        """The languages whose SMS go without their diacritics (to fit GSM-7)."""
        return frozenset(locale for locale, chosen in (
            ("sr_Latn", self.latin_without_diacritics),
            ("sq", self.albanian_without_diacritics)) if chosen)

    def cost(self, segments: int) -> float:
        return round(segments * self.cost_per_segment, 4)


# The `holidays` package's languages for our locales; Serbian Cyrillic is
# transliterated from its Serbian (Latin) names.
HOLIDAY_LANGUAGES = {"en": "en_US", "sr_Latn": "sr", "sr_Cyrl": "sr", "sq": "sq"}

_DIGRAPHS = {"lj": "љ", "nj": "њ", "dž": "џ", "Lj": "Љ", "Nj": "Њ", "Dž": "Џ",
             "LJ": "Љ", "NJ": "Њ", "DŽ": "Џ"}
_LETTERS = dict(zip("abcčćdđefghijklmnoprsštuvzž", "абцчћдђефгхијклмнопрсштувзж",
                    strict=True))
_LETTERS.update({k.upper(): v.upper() for k, v in _LETTERS.items()})


def serbian_cyrillic(text: str) -> str:
    """Serbian Latin script to Cyrillic, letter by letter (lj, nj, dž are one letter)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        pair = text[i:i + 2]
        if pair in _DIGRAPHS:
            out.append(_DIGRAPHS[pair])
            i += 2
            continue
        out.append(_LETTERS.get(text[i], text[i]))
        i += 1
    return "".join(out)


@dataclass(frozen=True)
class Profile:
    code: str
    name: dict[str, str]
    timezone: str
    holiday_country: str
    default_locale: str
    enabled_locales: tuple[str, ...]
    viber_bot_initiated: bool
    retention_days: int
    photo_retention_days: int
    contact: dict[str, Any]
    settlements: tuple[Named, ...]
    departments: tuple[Named, ...]
    complaint_categories: tuple[Named, ...]
    notice_topics: tuple[Named, ...]
    reception: ReceptionPattern
    appeal_body: AppealBody
    holidays_add: frozenset[date] = frozenset()
    holidays_remove: frozenset[date] = frozenset()
    # The municipality's extent (south, west, north, east, decimal degrees):
    # where the complaints map opens, and what counts as "outside".
    map_bounds: tuple[float, float, float, float] | None = None
    sms: SmsProfile = field(default_factory=SmsProfile)

    def inside(self, latitude: float, longitude: float) -> bool:
        """Whether a location lies within the municipality's extent (anywhere,
        when the profile gives none)."""
        if self.map_bounds is None:
            return True
        south, west, north, east = self.map_bounds
        return south <= latitude <= north and west <= longitude <= east

    def holiday_name(self, day: date, locale: str = "en") -> str | None:
        """The public holiday on this day, if any (the profile's corrections win),
        named in `locale`. The language is always asked for: the package's default
        depends on how it was installed, and a name must not change with that."""
        if day in self.holidays_remove:
            return None
        if day in self.holidays_add:
            return "holiday"
        language = HOLIDAY_LANGUAGES.get(locale, "en_US")
        name = holidays.country_holidays(self.holiday_country, years=day.year,
                                         language=language).get(day)
        if not name:
            return None
        return serbian_cyrillic(str(name)) if locale == "sr_Cyrl" else str(name)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and self.holiday_name(day) is None

    def municipality_name(self, locale: str) -> str:
        return self.name.get(locale) or self.name["en"]

    def settlement(self, code: str) -> Named | None:
        return next((s for s in self.settlements if s.code == code), None)

    def settlement_codes(self) -> list[str]:
        """Where a citizen can live: the settlements' codes and `abroad`."""
        return [*(s.code for s in self.settlements), ABROAD]

    def department_codes(self) -> list[str]:
        return [d.code for d in self.departments]

    def category_codes(self) -> list[str]:
        return [c.code for c in self.complaint_categories]

    def topic_codes(self) -> list[str]:
        return [t.code for t in self.notice_topics]

    def department(self, code: str) -> Named | None:
        return next((d for d in self.departments if d.code == code), None)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def localized_contact(self, key: str, locale: str) -> str:
        value = self.contact.get(key, "")
        if isinstance(value, dict):
            return str(value.get(locale) or value.get("en") or "")
        return str(value)


class ProfileError(ValueError):
    """The profile file is missing something the bot cannot run without."""


def _named(items: list[dict[str, Any]], kind: str, locales: tuple[str, ...]) -> tuple[Named, ...]:
    seen: set[str] = set()
    result = []
    for item in items:
        code = item.get("code")
        if not code or code in seen:
            raise ProfileError(f"{kind}: missing or duplicate code {code!r}")
        seen.add(code)
        names = item.get("name", {})
        missing = [loc for loc in locales if not names.get(loc)]
        if missing:
            raise ProfileError(f"{kind} {code!r}: no name for {', '.join(missing)}")
        extra = {k: v for k, v in item.items() if k not in {"code", "name"}}
        short = extra.get("short_name")
        if short is not None:
            missing = [loc for loc in locales if not short.get(loc)]
            if missing:
                raise ProfileError(f"{kind} {code!r}: no short_name for {', '.join(missing)}")
            too_long = [loc for loc in locales if len(short[loc]) > SHORT_NAME_CHARS]
            if too_long:
                raise ProfileError(f"{kind} {code!r}: short_name over {SHORT_NAME_CHARS} "
                                   f"characters in {', '.join(too_long)}")
        result.append(Named(code=code, name=dict(names), extra=extra))
    return tuple(result)


def load_profile(path: Path | None = None) -> Profile:
    """Read and validate a profile; errors name the offending entry."""
    raw = tomllib.loads((path or DEFAULT_PROFILE).read_text(encoding="utf-8"))
    locales = tuple(raw["enabled_locales"])
    departments = _named(raw["departments"], "department", locales)
    department_codes = {d.code for d in departments}
    categories = _named(raw["complaint_categories"], "complaint category", locales)
    for category in categories:
        if category.extra.get("department") not in department_codes:
            raise ProfileError(f"complaint category {category.code!r}: unknown department")
    settlements = _named(raw["settlements"], "settlement", locales)
    if any(s.code == ABROAD for s in settlements):
        raise ProfileError(f"settlement code {ABROAD!r} is reserved for the diaspora")
    rec = raw["reception"]
    appeal = raw.get("appeal_body")
    if not appeal:
        raise ProfileError("appeal_body: the Information and Privacy Agency's details are missing")
    for part in ("name", "address"):
        missing = [loc for loc in locales if not appeal.get(part, {}).get(loc)]
        if missing:
            raise ProfileError(f"appeal_body: no {part} for {', '.join(missing)}")
    hour, minute = (int(part) for part in rec["start"].split(":"))
    return Profile(
        code=raw["code"],
        name=dict(raw["name"]),
        timezone=raw["timezone"],
        holiday_country=raw.get("holiday_country", "XK"),
        default_locale=raw.get("default_locale", locales[0]),
        enabled_locales=locales,
        viber_bot_initiated=bool(raw.get("viber_bot_initiated", False)),
        retention_days=int(raw.get("retention_days", 90)),
        photo_retention_days=int(raw.get("photo_retention_days", 365)),
        contact=dict(raw.get("contact", {})),
        settlements=settlements,
        departments=departments,
        complaint_categories=categories,
        notice_topics=_named(raw["notice_topics"], "notice topic", locales),
        reception=ReceptionPattern(
            office=rec["office"],
            weekday=int(rec["weekday"]),
            start=time(hour, minute),
            slots=int(rec["slots"]),
            slot_minutes=int(rec["slot_minutes"]),
            weeks_ahead=int(rec.get("weeks_ahead", 4)),
            reminder_hour=int(rec.get("reminder_hour", 10)),
            calendar_personal=bool(rec.get("calendar_personal", False)),
            place=dict(rec.get("place", {})),
        ),
        appeal_body=AppealBody(
            name=dict(appeal["name"]),
            address=dict(appeal["address"]),
            phone=str(appeal.get("phone", "")),
            website=str(appeal.get("website", "")),
            confirmed=bool(appeal.get("confirmed", False)),
        ),
        holidays_add=frozenset(date.fromisoformat(d) for d in raw.get("holidays_add", [])),
        holidays_remove=frozenset(date.fromisoformat(d)
                                  for d in raw.get("holidays_remove", [])),
        map_bounds=_bounds(raw.get("map", {}).get("bounds")),
        sms=_sms(raw.get("sms", {}), locales, _named(raw["notice_topics"], "notice topic",
                                                     locales)),
    )


def _keywords(value: Any, kind: str, locales: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise ProfileError(f"sms.{kind}: a table of language = [words]")
    result: dict[str, tuple[str, ...]] = {}
    for language, words in value.items():
        if language != "any" and language not in locales:
            raise ProfileError(f"sms.{kind}: {language!r} is not an enabled locale")
        if not isinstance(words, list) or not all(isinstance(w, str) and w.strip()
                                                  for w in words):
            raise ProfileError(f"sms.{kind}.{language}: a list of words")
        result[language] = tuple(w.strip() for w in words)
    return result


def _sms(raw: dict[str, Any], locales: tuple[str, ...],
         topics: tuple[Named, ...]) -> SmsProfile:
    """`[sms]`, checked; absent means the channel is off."""
    if not raw:
        return SmsProfile()
    budget = int(raw.get("monthly_segment_budget", 0))
    cost = float(raw.get("cost_per_segment", 0.0))
    if budget < 0 or cost < 0:
        raise ProfileError("sms: monthly_segment_budget and cost_per_segment are not negative")
    start = _keywords(raw.get("start_keywords", {}), "start_keywords", locales)
    stop = _keywords(raw.get("stop_keywords", {}), "stop_keywords", locales)
    if raw.get("enabled", False) and not (any(start.values()) and any(stop.values())):
        raise ProfileError("sms: an enabled SMS channel needs start and stop keywords")
    codes = [t.code for t in topics]
    keyword_topics = tuple(raw.get("keyword_topics", codes))
    unknown = [code for code in keyword_topics if code not in codes]
    if unknown:
        raise ProfileError(f"sms.keyword_topics: unknown topics {', '.join(unknown)}")
    return SmsProfile(
        keyword_topics=keyword_topics,
        enabled=bool(raw.get("enabled", False)),
        monthly_segment_budget=budget,
        cost_per_segment=cost,
        currency=str(raw.get("currency", "EUR")),
        latin_without_diacritics=bool(raw.get("latin_without_diacritics", True)),
        albanian_without_diacritics=bool(raw.get("albanian_without_diacritics", False)),
        start_keywords=start,
        stop_keywords=stop,
    )


def _bounds(value: Any) -> tuple[float, float, float, float] | None:
    """`[map] bounds = [south, west, north, east]`, checked."""
    if value is None:
        return None
    try:
        south, west, north, east = (float(v) for v in value)
    except (TypeError, ValueError) as err:
        raise ProfileError("map.bounds: four numbers, [south, west, north, east]") from err
    if not (-90 <= south < north <= 90 and -180 <= west < east <= 180):
        raise ProfileError("map.bounds: south < north within -90..90, "
                           "west < east within -180..180")
    return south, west, north, east


@lru_cache
def get_profile(path: Path | None = None) -> Profile:
    return load_profile(path)
