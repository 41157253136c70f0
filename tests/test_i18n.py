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
