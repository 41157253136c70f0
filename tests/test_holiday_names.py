"""Holiday names come in the language asked for, whatever the machine's locale or
how the `holidays` package was installed (its default for Kosovo is Albanian: a
reception day closed for Christmas was once named "Krishtlindjet Katolike" for
everyone)."""

from __future__ import annotations

from datetime import date

import pytest

from bot.profile import get_profile, serbian_cyrillic

CHRISTMAS = date(2026, 12, 25)
EXPECTED = {
    "en": "Catholic Christmas Day",
    "sr_Latn": "Katolički Božić",
    "sr_Cyrl": "Католички Божић",
    "sq": "Krishtlindjet Katolike",
}


@pytest.mark.parametrize("machine_locale", ["C", "sq_AL.UTF-8", "sr_RS.UTF-8", "de_DE.UTF-8"])
def test_a_holiday_is_named_in_the_locale_asked_for(monkeypatch: pytest.MonkeyPatch,
                                                    machine_locale: str) -> None:
    for variable in ("LANG", "LC_ALL", "LC_MESSAGES", "LANGUAGE"):
        monkeypatch.setenv(variable, machine_locale)
    profile = get_profile()
    assert {locale: profile.holiday_name(CHRISTMAS, locale) for locale in EXPECTED} == EXPECTED
    assert profile.holiday_name(CHRISTMAS) == EXPECTED["en"]  # the default is English
    assert profile.holiday_name(date(2026, 12, 23), "sq") is None


def test_serbian_cyrillic_takes_lj_nj_and_dz_as_one_letter() -> None:
    assert serbian_cyrillic("Ljubljana, Njegoš, Džamija, Međunarodni Dan Rada") == \
        "Љубљана, Његош, Џамија, Међународни Дан Рада"
    assert serbian_cyrillic("2. decembar 2026.") == "2. децембар 2026."
