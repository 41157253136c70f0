"""The legal clock of Law No. 06/L-081 against a table of real dates (Kosovo
holidays from the `holidays` package, country XK)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.profile import get_profile
from bot.services import deadlines

PROFILE = get_profile()
BELGRADE = ZoneInfo("Europe/Belgrade")


# Deadlines in working days: run again at night by `make test-night`.
pytestmark = pytest.mark.clock


def at(day: date, hour: int = 11, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BELGRADE)


@pytest.mark.parametrize(
    ("registered", "due"),
    [
        (date(2026, 2, 10), date(2026, 2, 18)),   # Independence Day on the 17th
        (date(2026, 3, 13), date(2026, 3, 23)),   # Eid al-Fitr (estimated) on the 20th, weekend
        (date(2026, 3, 30), date(2026, 4, 7)),    # Catholic Easter Monday
        (date(2026, 4, 6), date(2026, 4, 14)),    # Orthodox Easter Monday
        (date(2026, 5, 20), date(2026, 5, 28)),   # Eid al-Adha (estimated)
        (date(2026, 11, 28), date(2026, 12, 7)),  # registered on a Saturday
        (date(2026, 12, 25), date(2027, 1, 5)),   # New Year's days and their observed Monday
        (date(2026, 12, 31), date(2027, 1, 8)),   # Orthodox Christmas
        (date(2026, 4, 2), date(2026, 4, 10)),    # 9 April Constitution Day
        (date(2026, 4, 24), date(2026, 5, 4)),    # 1 May on a Friday, then the weekend
        (date(2026, 5, 2), date(2026, 5, 12)),    # Europe Day observed on Monday 11 May
        (date(2026, 6, 3), date(2026, 6, 10)),    # an ordinary week
        (date(2026, 6, 5), date(2026, 6, 12)),    # Friday to Friday
        (date(2026, 12, 18), date(2026, 12, 28)), # Christmas Day, then the weekend
        (date(2026, 7, 1), date(2026, 7, 8)),     # summer, no holiday
    ],
)
def test_regular_deadline(registered: date, due: date) -> None:
    result = deadlines.regular_deadline(PROFILE, at(registered))
    assert result.astimezone(BELGRADE) == datetime(due.year, due.month, due.day, 23, 59, 59,
                                                   tzinfo=BELGRADE)


def test_registration_late_at_night_counts_by_the_local_date() -> None:
    # 21:30 UTC is 23:30 in Klokot (summer time): still the 9th there.
    late = datetime(2026, 6, 9, 21, 30, tzinfo=UTC)
    assert deadlines.regular_deadline(PROFILE, late).date() == date(2026, 6, 16)
    after_midnight = datetime(2026, 6, 9, 22, 30, tzinfo=UTC)  # 00:30 on the 10th locally
    assert deadlines.regular_deadline(PROFILE, after_midnight).astimezone(
        BELGRADE).date() == date(2026, 6, 17)


def test_life_or_liberty_is_exactly_48_hours_across_midnight_and_a_weekend() -> None:
    friday_night = at(date(2026, 6, 5), 23, 30)
    due = deadlines.deadline(PROFILE, friday_night, urgent=True)
    assert due == friday_night + timedelta(hours=48)
    assert due.astimezone(BELGRADE) == at(date(2026, 6, 7), 23, 30)  # a Sunday: not moved


def test_one_extension_of_at_most_15_days_moved_off_holidays() -> None:
    due = deadlines.regular_deadline(PROFILE, at(date(2026, 12, 10)))  # 17 Dec
    extended = deadlines.extended_deadline(PROFILE, due, 15)          # 1 Jan → 5 Jan
    assert extended.astimezone(BELGRADE).date() == date(2027, 1, 5)
    assert deadlines.extended_deadline(PROFILE, due, 1).astimezone(BELGRADE).date() == date(
        2026, 12, 18)
    for days in (0, 16, -1):
        with pytest.raises(ValueError):
            deadlines.extended_deadline(PROFILE, due, days)


def test_forwarding_is_due_at_the_end_of_the_fifth_working_day() -> None:
    # Registered Thursday 12 Feb 2026: 13, 16, 18 (17th is a holiday), 19, 20 → Friday 20th.
    due = deadlines.forward_deadline(PROFILE, at(date(2026, 2, 12)))
    assert due.astimezone(BELGRADE) == datetime(2026, 2, 20, 23, 59, 59, tzinfo=BELGRADE)


def test_the_first_overdue_second() -> None:
    due = deadlines.regular_deadline(PROFILE, at(date(2026, 6, 3)))
    assert not deadlines.is_overdue(due, due, decided=False)
    assert deadlines.is_overdue(due, due + timedelta(seconds=1), decided=False)
    assert not deadlines.is_overdue(due, due + timedelta(days=3), decided=True)


def test_the_profile_can_correct_an_estimated_holiday() -> None:
    # Suppose Eid al-Adha 2026 was announced for the 26th, not the 27th.
    corrected = replace(PROFILE, holidays_remove=frozenset({date(2026, 5, 27)}),
                        holidays_add=frozenset({date(2026, 5, 26)}))
    assert deadlines.regular_deadline(corrected, at(date(2026, 5, 19))).astimezone(
        BELGRADE).date() == date(2026, 5, 27)
    assert deadlines.regular_deadline(corrected, at(date(2026, 5, 20))).astimezone(
        BELGRADE).date() == date(2026, 5, 27)
