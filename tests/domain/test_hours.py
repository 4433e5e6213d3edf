"""Clinic opening hours: parsing, open or closed at an instant, the next opening."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from messenger.config import Settings
from messenger.domain.hours import ClinicHours, HoursError, clinic_hours

LA = ZoneInfo("America/Los_Angeles")
HOURS = ClinicHours.parse("Mon-Fri 08:00-18:00, Sat 09:00-12:00", zone=LA, closed=[date(2026, 12, 25)])


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=LA)


@pytest.mark.parametrize(
    ("label", "instant", "open_"),
    [
        ("wednesday noon", at(2026, 12, 2, 12, 0), True),
        ("wednesday at opening", at(2026, 12, 2, 8, 0), True),
        ("wednesday at closing", at(2026, 12, 2, 18, 0), False),
        ("wednesday night", at(2026, 12, 2, 23, 30), False),
        ("saturday morning", at(2026, 12, 5, 10, 0), True),
        ("saturday afternoon", at(2026, 12, 5, 13, 0), False),
        ("sunday", at(2026, 12, 6, 10, 0), False),
        ("christmas, a friday", at(2026, 12, 25, 10, 0), False),
    ],
)
def test_open_or_closed(label: str, instant: datetime, open_: bool) -> None:
    assert HOURS.is_open(instant) is open_, label


def test_next_opening_skips_sundays_and_closed_days() -> None:
    assert HOURS.next_opening(at(2026, 12, 5, 13, 0)) == at(2026, 12, 7, 8, 0)
    assert HOURS.next_opening(at(2026, 12, 24, 19, 0)) == at(2026, 12, 26, 9, 0)
    assert HOURS.next_opening(at(2026, 12, 2, 12, 0)) == at(2026, 12, 2, 12, 0)


def test_unset_means_always_open() -> None:
    hours = ClinicHours.parse(None, zone=LA)
    assert hours.is_open(at(2026, 12, 6, 3, 0))


def test_a_range_may_wrap_the_week() -> None:
    hours = ClinicHours.parse("Sat-Mon 10:00-11:00", zone=LA)
    assert [hours.is_open(at(2026, 12, d, 10, 30)) for d in (5, 6, 7, 8)] == [True, True, True, False]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("Mon-Fry 08:00-18:00", "days are Mon"),
        ("weekdays", "is not a day range with times"),
        ("Mon 18:00-08:00", "closing time must be after"),
        ("Mon 08:00-25:00", "is not a time of day"),
    ],
)
def test_a_malformed_value_is_one_sentence(value: str, problem: str) -> None:
    with pytest.raises(HoursError, match=problem):
        ClinicHours.parse(value, zone=LA)
    with pytest.raises(HoursError, match=problem):
        clinic_hours(Settings(_env_file=None, clinic_hours=value))  # type: ignore[call-arg]
