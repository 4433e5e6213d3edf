"""Wall-clock arithmetic in a patient's zone: offsets, times of day, quiet hours, send times.

Pure functions over aware datetimes. Day offsets are calendar days in the patient's
local time (so "the day before at 18:00" stays 18:00 across a DST change); smaller
units are exact durations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol, overload
from zoneinfo import ZoneInfo

from messenger.domain.enums import QuietPolicy

_OFFSET = re.compile(r"^([+-]?)((?:\d+[dhms])+)$")
_OFFSET_PART = re.compile(r"(\d+)([dhms])")
_UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}


@dataclass(frozen=True, slots=True)
class Offset:
    """A signed offset: whole local days plus exact seconds, e.g. ``-1d``, ``2h30m``, ``45s``."""

    days: int = 0
    seconds: int = 0

    @classmethod
    def parse(cls, text: str) -> Offset:
        match = _OFFSET.match(text.strip().replace(" ", ""))
        if match is None:
            raise ValueError(f"bad offset {text!r}: use e.g. 30s, 15m, 2h, -1d or 1d2h")
        sign = -1 if match.group(1) == "-" else 1
        body = match.group(2)
        days = seconds = 0
        for amount, unit in _OFFSET_PART.findall(body):
            if unit == "d":
                days += int(amount)
            else:
                seconds += int(amount) * _UNIT_SECONDS[unit]
        return cls(days=sign * days, seconds=sign * seconds)

    @property
    def approximate(self) -> timedelta:
        """The offset as a plain duration (a local day counted as 24 h): for ordering checks."""
        return timedelta(days=self.days, seconds=self.seconds)

    def __str__(self) -> str:
        sign = "-" if self.days < 0 or self.seconds < 0 else ""
        parts = [f"{abs(self.days)}d"] if self.days else []
        hours, rest = divmod(abs(self.seconds), 3600)
        minutes, seconds = divmod(rest, 60)
        parts += [f"{v}{u}" for v, u in ((hours, "h"), (minutes, "m"), (seconds, "s")) if v]
        return sign + ("".join(parts) or "0s")


def local_wall(instant: datetime, zone: ZoneInfo) -> datetime:
    """The naive local wall-clock time of ``instant`` in ``zone``."""
    return instant.astimezone(zone).replace(tzinfo=None)


def from_wall(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time.

    A time skipped by a spring-forward change is read with the offset before the
    change (02:30 becomes 03:30); a repeated fall-back time means its first occurrence.
    """
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def day_begins(instant: datetime, zone: ZoneInfo) -> datetime:
    """The instant ``instant``'s local day began in ``zone``."""
    return from_wall(datetime.combine(local_wall(instant, zone).date(), time(0)), zone)


def apply_offset(anchor: datetime, offset: Offset, zone: ZoneInfo, at: time | None = None) -> datetime:
    """``anchor`` moved by ``offset`` in ``zone``; with ``at``, at that local time of day."""
    wall = local_wall(anchor, zone)
    if at is not None:
        day: date = wall.date() + timedelta(days=offset.days)
        return from_wall(datetime.combine(day, at), zone) + timedelta(seconds=offset.seconds)
    moved = from_wall(wall + timedelta(days=offset.days), zone) if offset.days else anchor
    return moved.astimezone(UTC) + timedelta(seconds=offset.seconds)


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Local hours in which non-urgent messages wait; ``start`` may be after ``end`` (overnight)."""

    start: time = time(21, 0)
    end: time = time(8, 0)

    def contains(self, wall: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= wall < self.end
        return wall >= self.start or wall < self.end

    def defer(self, instant: datetime, zone: ZoneInfo) -> datetime:
        """``instant``, or the end of the quiet hours it falls in (local time)."""
        wall = local_wall(instant, zone)
        if not self.contains(wall.time()):
            return instant
        day = wall.date()
        if self.start > self.end and wall.time() >= self.start:
            day += timedelta(days=1)
        return max(from_wall(datetime.combine(day, self.end), zone), instant)


# Why a row is skipped when :func:`send_time` says it cannot go in time.
PAST_NOT_AFTER = "past its not-after time"


@overload
def send_time(
    *,
    due: datetime,
    policy: QuietPolicy,
    zone: ZoneInfo,
    quiet: QuietHours,
    not_after: None,
    not_before: datetime | None = None,
) -> datetime: ...


@overload
def send_time(
    *,
    due: datetime,
    policy: QuietPolicy,
    zone: ZoneInfo,
    quiet: QuietHours,
    not_after: datetime | None,
    not_before: datetime | None = None,
) -> datetime | None: ...


def send_time(
    *,
    due: datetime,
    policy: QuietPolicy,
    zone: ZoneInfo,
    quiet: QuietHours,
    not_after: datetime | None,
    not_before: datetime | None = None,
) -> datetime | None:
    """When a message due at ``due`` may go; None when that is past ``not_after`` (skip it, never late).

    The one rule for every writer of a row's send time. ``not_before`` is the earliest the
    writer allows (now, the end of a pause, a retry's backoff). The quiet-hours deferral comes
    after it, so a row released at 23:00 waits for the morning instead of going at once.
    """
    at = due if not_before is None else max(due, not_before)
    if policy is QuietPolicy.DEFER:
        at = quiet.defer(at, zone)
    if not_after is not None and at > not_after:
        return None
    return at


class Scheduled(Protocol):
    """An outbox row as far as its send time goes."""

    @property
    def due_at(self) -> datetime: ...
    @property
    def quiet(self) -> QuietPolicy: ...
    @property
    def not_after(self) -> datetime | None: ...


def send_time_of(row: Scheduled, *, zone: ZoneInfo, quiet: QuietHours, not_before: datetime) -> datetime | None:
    """:func:`send_time` for an existing row sent again, released or retried from ``not_before`` on."""
    return send_time(
        due=row.due_at, policy=row.quiet, zone=zone, quiet=quiet, not_after=row.not_after, not_before=not_before
    )
