"""Catalogs complete and consistent; dates as GLOSSARY.md wants them."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.i18n import (
    ALL_LOCALES,
    LOCALES_DIR,
    Catalogs,
    format_date,
    locale_from_platform,
    locales_dir,
    placeholders,
)
from bot.profile import get_profile

ROOT = Path(__file__).parent.parent


def catalog(locale: str) -> dict[str, object]:
    with (LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return {m.id if isinstance(m.id, str) else m.id[0]: m.string for m in read_po(handle)
                if m.id}


def _strings(value: object) -> list[str]:
    return [s for s in value if s] if isinstance(value, tuple | list) else [str(value or "")]


def keys_used_in_code() -> set[str]:
    """Message keys the code asks for: literals given to t/tn/gettext and *_key strings."""
    pattern = re.compile(
        r"""(?:\bt|\btn|gettext|ngettext)\(\s*(?:[\w.]+,\s*)?["']([a-z_]+\.[a-z0-9_.]+)["']"""
        r"""|["']((?:menu|button|error|status|start|privacy|help|cancel|idle|command|staff"""
        r"""|staff_link)"""
        r"""\.[a-z0-9_.]+)["']"""
    )
    found: set[str] = set()
    sources = [*ROOT.glob("bot/**/*.py"), *ROOT.glob("handlers/**/*.py"),
               *ROOT.glob("bot/admin/templates/*.html")]
    for path in sources:
        for match in pattern.finditer(path.read_text(encoding="utf-8")):
            key = match.group(1) or match.group(2)
            # File names are not keys; a key ending in "." is built from a code.
            if not key.endswith((".html", ".css", ".js", ".")):
                found.add(key)
    return found


@pytest.mark.parametrize("locale", get_profile().enabled_locales)
def test_every_message_is_translated(locale: str) -> None:
    source = catalog("en")
    target = catalog(locale)
    missing = sorted(k for k in source if not all(_strings(target.get(k))))
    assert not missing, f"{locale} lacks: {missing}"
    extra = sorted(set(target) - set(source))
    assert not extra, f"{locale} has keys English does not: {extra}"


@pytest.mark.parametrize("locale", ALL_LOCALES)
def test_placeholders_match_the_source(locale: str) -> None:
    source, target = catalog("en"), catalog(locale)
    for key, english in source.items():
        want = set().union(*(placeholders(s) for s in _strings(english)))
        plural = isinstance(english, tuple | list)
        for translated in _strings(target.get(key)):
            got = placeholders(translated)
            if plural:  # a singular form may say "one" instead of {n}
                got, want_here = got - {"n"}, want - {"n"}
            else:
                want_here = want
            assert got == want_here, (locale, key, translated)


def test_code_asks_only_for_keys_that_exist() -> None:
    source = catalog("en")
    unknown = sorted(k for k in keys_used_in_code() if k not in source)
    assert not unknown, f"keys used in code but missing from the English catalog: {unknown}"


def test_serbian_plural_forms() -> None:
    catalogs = Catalogs()
    forms = {n: catalogs.ngettext("sr_Latn", "status.count", n) for n in (1, 2, 5, 11, 21, 22)}
    assert forms[1] != forms[2] != forms[5]
    assert forms[21].replace("21", "1") == forms[1]
    assert forms[22].replace("22", "2") == forms[2]
    assert forms[11].replace("11", "5") == forms[5]


def test_translations_are_not_english_left_in_place() -> None:
    source = catalog("en")
    for locale in ("sr_Latn", "sr_Cyrl", "sq"):
        target = catalog(locale)
        same = [k for k, v in source.items() if v == target[k] and len(str(v)) > 12
                and re.sub(r"\{\w+\}|[\W\d]", "", str(v))]  # words, not just placeholders
        assert not same, f"{locale} copies English for {same}"
    cyrillic = "".join(str(v) for v in catalog("sr_Cyrl").values())
    assert len(re.findall("[а-яА-Яђјљњћџ]", cyrillic)) > len(re.findall("[a-zA-Z]", cyrillic))


@pytest.mark.parametrize(
    ("locale", "short", "long"),
    [
        ("sr_Latn", "2.12.2026.", "sreda, 2. decembar 2026."),
        ("sr_Cyrl", "2.12.2026.", "среда, 2. децембар 2026."),
        ("sq", "02.12.2026", "e mërkurë, 2 dhjetor 2026"),
        ("en", "2 December 2026", "Wednesday, 2 December 2026"),
    ],
)
def test_date_formats(locale: str, short: str, long: str) -> None:
    day = date(2026, 12, 2)
    assert format_date(day, locale) == short
    assert format_date(day, locale, long=True) == long


@pytest.mark.parametrize(
    ("code", "expected"),
    [("sq", "sq"), ("sq-AL", "sq"), ("sr", "sr_Cyrl"), ("sr-Latn", "sr_Latn"), ("hr", "sr_Latn"),
     ("bs", "sr_Latn"), ("de", "en"), ("en-US", "en"), (None, None), ("", None)],
)
def test_locale_from_telegram_language_code(code: str | None, expected: str | None) -> None:
    assert locale_from_platform(code, ALL_LOCALES) == expected


def test_every_staff_role_has_a_label() -> None:
    from bot.models.staff import Role

    source = catalog("en")
    assert all(f"staff.role.{role.value}" in source for role in Role)


def test_a_plain_pip_install_carries_every_catalog(tmp_path: Path) -> None:
    """`pip install` (no source tree beside the program) used to leave the .po
    files behind, and every message came out as its key: each catalog in
    locales/ is a data file of the package, and an installed program looks for
    it under its prefix."""
    import tomllib

    root = Path(__file__).resolve().parent.parent
    data_files = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))[
        "tool"]["setuptools"]["data-files"]
    shipped = {Path(target) / Path(source).name
               for target, sources in data_files.items() for source in sources}
    on_disk = {Path("share/klokot-bot/locales") / path.relative_to(root / "locales")
               for path in (root / "locales").rglob("*.po*")}
    assert on_disk and shipped == on_disk

    installed = locales_dir(environ={}, source_tree=tmp_path / "no-such-tree",
                            prefix=str(tmp_path))
    assert installed == tmp_path / "share" / "klokot-bot" / "locales"
    assert locales_dir(environ={"KLOKOT_LOCALES_DIR": "/srv/l"}) == Path("/srv/l")
    assert locales_dir(environ={}) == root / "locales"


# --- wording (#16, item 3) -------------------------------------------------------

# Written in Latin letters in both Serbian scripts: placeholders, commands (with
# their "off"), addresses, acronyms and codes, and product names.
_LATIN_KEPT = re.compile(
    r"\{[^}]*\}|/[a-z_]+(?: off)?|https?://\S+|\bK7QMP-4XR2W\b|\bUTF-8\b"
    r"|\b(?:PDF|JPEG|PNG|DOCX|XLSX|ODT|CSV|MB|KB|API|URL|AT)\b"
    r"|\b(?:Telegram|Viber|Outlook|Google Calendar|Open311|OpenStreetMap|slug|JSON)\b"
    r"|06/L-08[12]|YYYY-MM(?:-DD)?|HH:MM|Ctrl\+P")
# Says which script it writes in, so the two differ on purpose.
_SCRIPT_NAMED = {"start.language_set"}


def _cyrillic_of(latin: str) -> str:
    from bot.profile import serbian_cyrillic

    out, pos = [], 0
    for match in _LATIN_KEPT.finditer(latin):
        out += [serbian_cyrillic(latin[pos:match.start()]), match.group(0)]
        pos = match.end()
    return "".join([*out, serbian_cyrillic(latin[pos:])])


def test_serbian_cyrillic_is_the_exact_transliteration_of_latin() -> None:
    latin, cyrillic = catalog("sr_Latn"), catalog("sr_Cyrl")
    differ = [(key, _cyrillic_of(a), b) for key, value in latin.items()
              if key not in _SCRIPT_NAMED
              for a, b in zip(_strings(value), _strings(cyrillic.get(key)), strict=False)
              if _cyrillic_of(a) != b]
    assert not differ, differ[:5]


@pytest.mark.parametrize("locale", ALL_LOCALES)
def test_one_quotation_mark_style_per_language(locale: str) -> None:
    """English writes "…"; Serbian and Albanian „…“ — never a mix."""
    wrong = "[“”„«»]" if locale == "en" else "[\"”«»]"
    found = [(key, s) for key, value in catalog(locale).items() for s in _strings(value)
             if re.search(wrong, s) or s.count("„") != s.count("“")]
    assert not found, found[:5]


def test_english_says_requests_and_slots_and_no_area_code() -> None:
    english = " ".join(s for value in catalog("en").values() for s in _strings(value))
    for wrong in ("submission", "free time", "area code", "on site", "Erasing my data",
                  "Office for Information or"):
        assert wrong not in english, wrong
    assert catalog("en")["menu.forget"] == "Erase my data"


@pytest.mark.parametrize("locale", ALL_LOCALES)
def test_privacy_notice_is_short_enough_to_read(locale: str) -> None:
    profile = get_profile()
    text = Catalogs().gettext(locale, "privacy.notice",
                              municipality=profile.municipality_name(locale),
                              days=profile.retention_days)
    assert len(text) <= 600, (locale, len(text))


def test_serbian_and_albanian_wording_from_the_review() -> None:
    sr, sq = catalog("sr_Latn"), catalog("sq")
    assert "licu mesta" not in str(sr["documents.form.inspection"])
    assert "opozvati" not in str(sr["forget.confirm"])
    assert not any("od strane" in str(v) for v in sr.values())
    assert "Shikim në vend" not in str(sq["documents.form.inspection"])
    assert "e ndihmon zyrën" in str(sq["documents.ask_name"])
    for phrase in ("ndryshimi i gjuhës", "dalja nga hapi aktual", "fshirja e të dhënave"):
        assert phrase in str(sq["help.text"])
    assert "parashtres" in str(sq["menu.status"]).lower()
    assert sq["staff.surveys.status.draft"] != "draft" and sq["staff.surveys.col.slug"] != "Slug"
    citizen_facing = ("start.", "privacy.", "coming_soon", "documents.", "complaints.", "forget.",
                      "notices.", "mydata.")
    chat_word = re.compile(r"\b(?:čet|četa|četu|četom|чет|чета|чету|четом)\b", re.I)
    for key, value in [*sr.items(), *catalog("sr_Cyrl").items()]:
        if key.startswith(citizen_facing):
            assert not chat_word.search(str(value)), key
    # Officers read "razgovor" and "Moj Telegram/Viber" too: "čet" is nowhere.
    assert not [key for key, value in [*sr.items(), *catalog("sr_Cyrl").items()]
                if chat_word.search(str(value))]
