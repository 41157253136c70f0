"""Every button label fits a phone (#16, item 4): at most 30 characters in every
locale, with realistic values filled in — the longest department, settlement,
category and topic, the longest day of the year, a long survey title, a long
name. A label from the catalog, the profile or a helper that grows past 30
fails here, naming the locale and the label."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from bot.i18n import ALL_LOCALES, LANGUAGE_NAMES, Catalogs
from bot.messages import BUTTON_CHARS, fit_label
from bot.models import ComplaintKind, DocumentForm
from bot.profile import get_profile
from bot.services import surveys as survey_service
from handlers.notices import DIASPORA_COUNTRIES, _country_name
from handlers.reception import day_label
from handlers.surveys import survey_label

ROOT = Path(__file__).parent.parent
CATALOGS = Catalogs()
PROFILE = get_profile()

# Realistic values for the placeholders of button labels; a new placeholder on a
# button must get a value here (the test says which).
VALUES: dict[str, object] = {
    "value": "Aleksandra Stojanović-Milosavljević",  # a remembered name ("Use: …")
    "count": survey_service.OPTIONS_MAX,  # "Done (chosen: 12)"
    "channel": "Telegram",
}
LONG_SURVEY_TITLE = {
    "sr_Latn": "Budžet opštine za 2027. godinu: koje investicije u naseljima su Vam najvažnije?",
    "sr_Cyrl": "Буџет општине за 2027. годину: које инвестиције у насељима су Вам најважније?",
    "sq": "Buxheti i komunës për vitin 2027: cilat investime në fshatra janë më të "
          "rëndësishmet për ju?",
    "en": "The municipal budget for 2027: which investments in the villages matter most "
          "to you?",
}
LONG_PHONE = "+49 170 12345678"

# Buttons whose label key is built from a code: every code is checked.
BUILT = {
    "complaints.kind.{}": [k.value for k in ComplaintKind],
    "documents.form.{}": [f.value for f in DocumentForm],
}
# Labels given by key as data rather than as a literal `t("…")` call.
BY_DATA = ["complaints.followup_yes", "complaints.followup_no"]


def button_keys() -> set[str]:
    """The catalog keys the code puts on buttons: `Button(t("…"))`, reply
    keyboard labels (`request_label=`) and the menu items."""
    pattern = re.compile(
        r"""Button\(\s*(?:fit_label\()?(?:ctx\.)?t\(\s*["']([a-z_]+\.[a-z0-9_.]+)["']"""
        r"""|request_label=(?:ctx\.)?t\(\s*["']([a-z_]+\.[a-z0-9_.]+)["']"""
        r"""|menu_item\(\s*["']\w+["'],\s*["']([a-z_]+\.[a-z0-9_.]+)["']""")
    found: set[str] = set()
    for path in [*ROOT.glob("handlers/*.py"), *ROOT.glob("bot/services/*.py"),
                 *ROOT.glob("bot/engine/*.py")]:
        for match in pattern.finditer(path.read_text(encoding="utf-8")):
            found.add(next(group for group in match.groups() if group))
    found.update(BY_DATA)
    for template, codes in BUILT.items():
        found.update(template.format(code) for code in codes)
    return found


def labels(locale: str) -> list[tuple[str, str]]:
    """(where it comes from, the label) for every button a citizen can see."""
    out: list[tuple[str, str]] = []
    t = CATALOGS.translator(locale)
    for key in sorted(button_keys()):
        text = CATALOGS.gettext(locale, key)
        if key == "reception.use_value":
            for value in (VALUES["value"], LONG_PHONE):
                out.append((key, fit_label(t(key, value=value))))
            continue
        try:
            out.append((key, t(key, **VALUES) if "{" in text else text))
        except KeyError as missing:  # pragma: no cover - the message says what to add
            pytest.fail(f"{key} has a placeholder {missing} with no realistic value in VALUES")
    for kind, items in (("department", PROFILE.departments),
                        ("category", PROFILE.complaint_categories),
                        ("settlement", PROFILE.settlements)):
        out += [(f"{kind} {item.code}", item.short_label(locale)) for item in items]
    out += [(f"topic {topic.code}", prefix + topic.short_label(locale))
            for topic in PROFILE.notice_topics for prefix in ("✅ ", "▫️ ")]
    out += [(f"country {code}", _country_name(code, locale)) for code in DIASPORA_COUNTRIES]
    out += [("language", name) for name in LANGUAGE_NAMES.values()]
    tn = CATALOGS.ngettext
    year = [date(2026, 1, 1) + timedelta(days=n) for n in range(365)]
    longest_day = max(year, key=lambda day: len(day_label(
        lambda key, n, **kw: tn(locale, key, n, **kw), locale, day, PROFILE.reception.slots)))
    for free in (1, 2, 5, PROFILE.reception.slots):
        out.append(("reception day", day_label(lambda key, n, **kw: tn(locale, key, n, **kw),
                                               locale, longest_day, free)))
    for started in (False, True):
        out.append(("survey title", survey_label(t, LONG_SURVEY_TITLE[locale],
                                                 started=started)))
    return out


@pytest.mark.parametrize("locale", ALL_LOCALES)
def test_every_button_label_fits_a_phone(locale: str) -> None:
    too_long = [f"{where}: {label!r} ({len(label)})" for where, label in labels(locale)
                if len(label) > BUTTON_CHARS]
    assert not too_long, f"{locale} buttons over {BUTTON_CHARS} characters:\n" + "\n".join(
        too_long)


def test_the_keys_found_are_the_buttons() -> None:
    keys = button_keys()
    assert {"reception.share_phone", "complaints.share_location", "menu.status",
            "notices.settings_button", "documents.form.inspection", "notices.via",
            "forget.yes"} <= keys


@pytest.mark.parametrize("locale", ALL_LOCALES)
def test_a_long_survey_title_is_cut_with_an_ellipsis(locale: str) -> None:
    t = CATALOGS.translator(locale)
    title = LONG_SURVEY_TITLE[locale]
    label = survey_label(t, title, started=False)
    assert label.endswith("…") and title.startswith(label[:-1])
    short = "Javna rasveta"
    assert survey_label(t, short, started=False) == short
    assert survey_label(t, short, started=True) == t("surveys.continue", title=short)


def test_a_day_label_is_short_with_the_free_slots() -> None:
    day = date(2026, 12, 2)

    def tn(locale: str):  # type: ignore[no-untyped-def]
        return lambda key, n, **kw: CATALOGS.ngettext(locale, key, n, **kw)

    assert day_label(tn("en"), "en", day, 15) == "Wed 2 Dec · 15 free"
    assert day_label(tn("sr_Latn"), "sr_Latn", day, 15) == "sre, 2. dec · 15 slobodnih"
    assert day_label(tn("sr_Latn"), "sr_Latn", day, 1) == "sre, 2. dec · 1 slobodan"
    assert day_label(tn("sr_Cyrl"), "sr_Cyrl", day, 3) == "сре, 2. дец · 3 слободна"
    assert day_label(tn("sq"), "sq", day, 15) == "mër, 02.12 · 15 të lira"


def test_the_profile_checks_short_names_against_the_button_limit() -> None:
    from bot.profile import SHORT_NAME_CHARS

    assert SHORT_NAME_CHARS == BUTTON_CHARS


def test_fit_label_cuts_at_a_word() -> None:
    assert fit_label("short") == "short"
    cut = fit_label("Odeljenje za obrazovanje, zdravstvo, socijalne usluge")
    assert cut == "Odeljenje za obrazovanje…" and len(cut) <= BUTTON_CHARS
    assert len(fit_label("x" * 80)) == BUTTON_CHARS


def test_the_profile_refuses_a_short_name_that_would_not_fit(tmp_path: Path) -> None:
    from bot.profile import DEFAULT_PROFILE, ProfileError, load_profile

    text = DEFAULT_PROFILE.read_text(encoding="utf-8")
    too_long = text.replace('en = "Cadastre and Urbanism" }',
                            'en = "Cadastre, Urbanism and Geodesy of Klokot" }', 1)
    assert too_long != text
    path = tmp_path / "profile.toml"
    path.write_text(too_long, encoding="utf-8")
    with pytest.raises(ProfileError, match=r"cadastre_urbanism.*short_name over 30.*en"):
        load_profile(path)


def test_the_profile_needs_the_appeal_body(tmp_path: Path) -> None:
    from bot.profile import DEFAULT_PROFILE, ProfileError, load_profile

    text = DEFAULT_PROFILE.read_text(encoding="utf-8")
    start = text.index("[appeal_body]")
    end = text.index("[[settlements]]")
    path = tmp_path / "profile.toml"
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    with pytest.raises(ProfileError, match="appeal_body"):
        load_profile(path)
    body = get_profile().appeal_body
    assert not body.confirmed  # placeholders until the municipality confirms them
    assert body.name_in("sq") == "Agjencia për Informim dhe Privatësi"
