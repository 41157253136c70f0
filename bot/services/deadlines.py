"""Kosovo's legal clock for access to public documents (Law No. 06/L-081).

- Regular: the end of the day (23:59:59 local) of registration date + 7
  calendar days, moved forward while that day is a Saturday, Sunday or public
  holiday.
- Life or liberty at stake: exactly 48 hours after registration.
- One extension of at most 15 calendar days, added to the current deadline,
  then moved off non-working days the same way.
- Forwarding to the institution that holds the document: by the end of the
  5th working day after registration.
- Overdue is not a state but a fact: undecided after the deadline.
Times are stored in UTC and shown in the municipality's time zone.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from bot.profile import Profile

REGULAR_DAYS = 7
URGENT_HOURS = 48
MAX_EXTENSION_DAYS = 15
FORWARD_WORKING_DAYS = 5
APPEAL_DAYS = 15
_END_OF_DAY = time(23, 59, 59)


def _end_of(profile: Profile, day: date) -> datetime:
    return datetime.combine(day, _END_OF_DAY, tzinfo=profile.tz)


def next_working_day(profile: Profile, day: date) -> date:
    """The day itself if it is a working day, else the first one after it."""
    while not profile.is_working_day(day):
        day += timedelta(days=1)
    return day


def regular_deadline(profile: Profile, registered_at: datetime) -> datetime:
    local = registered_at.astimezone(profile.tz).date()
    return _end_of(profile, next_working_day(profile, local + timedelta(days=REGULAR_DAYS)))


def urgent_deadline(registered_at: datetime) -> datetime:
    return registered_at + timedelta(hours=URGENT_HOURS)


def deadline(profile: Profile, registered_at: datetime, *, urgent: bool) -> datetime:
    return urgent_deadline(registered_at) if urgent else regular_deadline(profile,
                                                                          registered_at)


def extended_deadline(profile: Profile, current: datetime, days: int) -> datetime:
    if not 1 <= days <= MAX_EXTENSION_DAYS:
        raise ValueError(f"an extension is 1 to {MAX_EXTENSION_DAYS} days")
    local = current.astimezone(profile.tz).date()
    return _end_of(profile, next_working_day(profile, local + timedelta(days=days)))


def forward_deadline(profile: Profile, registered_at: datetime) -> datetime:
    day = registered_at.astimezone(profile.tz).date()
    counted = 0
    while counted < FORWARD_WORKING_DAYS:
        day += timedelta(days=1)
        if profile.is_working_day(day):
            counted += 1
    return _end_of(profile, day)


def is_overdue(due_at: datetime, now: datetime, *, decided: bool) -> bool:
    return not decided and now > due_at
