"""The clinic's opening hours, in the clinic's own time zone: is it open now, and when does it open next."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from messenger.config import Settings
from messenger.domain.timing import from_wall, local_wall

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(
    r"^(?P<first>[a-z]{3})(?:\s*-\s*(?P<last>[a-z]{3}))?\s+(?P<open>\d{1,2}:\d{2})\s*-\s*(?P<close>\d{1,2}:\d{2})$"
)
# Far enough to cross any run of closed days a clinic could list.
_LOOKAHEAD_DAYS = 370


class HoursError(ValueError):
    """A malformed opening-hours setting; the message is one sentence for the operator."""


@dataclass(frozen=True, slots=True)
class ClinicHours:
    zone: ZoneInfo
    # Per weekday (0 = Monday): the (open, close) wall-clock intervals.
    week: tuple[tuple[tuple[time, time], ...], ...] | None
    closed: frozenset[date] = frozenset()

    @classmethod
    def always_open(cls, zone: ZoneInfo) -> ClinicHours:
        return cls(zone, None)

    @classmethod
    def parse(cls, text: str | None, *, zone: ZoneInfo, closed: Iterable[date] = ()) -> ClinicHours:
        """``Mon-Fri 08:00-18:00, Sat 09:00-12:00``; empty or None means always open."""
        if not text or not text.strip():
            return cls(zone, None, frozenset(closed))
        week: list[list[tuple[time, time]]] = [[] for _ in DAYS]
        for part in text.split(","):
            match = _RANGE.match(part.strip().lower())
            if match is None:
                raise HoursError(f"{part.strip()!r} is not a day range with times, e.g. 'Mon-Fri 08:00-18:00'")
            first, last = match["first"], match["last"] or match["first"]
            if first not in DAYS or last not in DAYS:
                raise HoursError(f"{part.strip()!r}: days are Mon, Tue, Wed, Thu, Fri, Sat, Sun")
            opens, closes = _time(match["open"], part), _time(match["close"], part)
            if closes <= opens:
                raise HoursError(f"{part.strip()!r}: the closing time must be after the opening time")
            start, end = DAYS.index(first), DAYS.index(last)
            for day in range(start, end + 1) if start <= end else [*range(start, 7), *range(end + 1)]:
                week[day].append((opens, closes))
        return cls(zone, tuple(tuple(sorted(day)) for day in week), frozenset(closed))

    def is_open(self, instant: datetime) -> bool:
        wall = local_wall(instant, self.zone)
        if wall.date() in self.closed:
            return False
        if self.week is None:
            return True
        return any(opens <= wall.time() < closes for opens, closes in self.week[wall.weekday()])

    def next_opening(self, instant: datetime) -> datetime | None:
        """The next instant the clinic opens after ``instant`` (``instant`` itself if open; None if never)."""
        if self.is_open(instant):
            return instant
        wall = local_wall(instant, self.zone)
        for offset in range(_LOOKAHEAD_DAYS):
            day = wall.date() + timedelta(days=offset)
            if day in self.closed:
                continue
            intervals = ((time(0), time(0)),) if self.week is None else self.week[day.weekday()]
            for opens, _closes in intervals:
                candidate = from_wall(datetime.combine(day, opens), self.zone)
                if candidate > instant:
                    return candidate
        return None


def _time(text: str, part: str) -> time:
    hours, minutes = (int(n) for n in text.split(":"))
    if hours > 23 or minutes > 59:
        raise HoursError(f"{part.strip()!r}: {text} is not a time of day")
    return time(hours, minutes)


def clinic_hours(settings: Settings) -> ClinicHours:
    """The clinic's opening hours as configured (``MESSENGER_CLINIC_HOURS`` and friends); raises HoursError.

    Checked once when the app is built, so a malformed value stops start-up with its one sentence.
    """
    zone = ZoneInfo(settings.clinic_timezone or settings.default_timezone)
    return ClinicHours.parse(settings.clinic_hours, zone=zone, closed=settings.clinic_closed)
