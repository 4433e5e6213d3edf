"""The pain and mood chart of a patient's page, as coordinates: ``dashboard/chart.html.j2`` draws them as
inline SVG, with its words, so the page needs no script and no image request.

The scales are the progress chart's (``insights/charts.py``): pain 0 to 10 on the left, mood 1 to 5 on
the right, time along the bottom in the patient's zone, infusions as numbered lines.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from messenger.insights.course import Checkin, InfusionMark
from messenger.rendering.formats import LocalFormats

__all__ = ["Chart", "course_chart"]

WIDTH, HEIGHT = 640, 240
# The plot's box inside the picture: room for the scales left and right, infusion numbers above, dates below.
LEFT, RIGHT, TOP, BOTTOM = 44.0, 596.0, 30.0, 206.0
PAIN_MAX, MOOD_MIN, MOOD_MAX = 10, 1, 5
MOST_DATES = 7


@dataclass(frozen=True, slots=True)
class Point:
    x: float
    y: float
    value: int
    # When it was answered, as staff read it.
    when: str
    escalated: bool = False


@dataclass(frozen=True, slots=True)
class Mark:
    """An infusion: its line across the plot and its number above."""

    x: float
    number: int
    attendance: str


@dataclass(frozen=True, slots=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    pain: list[Point]
    mood: list[Point]
    infusions: list[Mark]
    dates: list[Tick]
    pain_scale: list[Tick]
    mood_scale: list[Tick]
    width: int = WIDTH
    height: int = HEIGHT
    left: float = LEFT
    right: float = RIGHT
    top: float = TOP
    bottom: float = BOTTOM

    @property
    def pain_line(self) -> str:
        return " ".join(f"{p.x},{p.y}" for p in self.pain)

    @property
    def mood_line(self) -> str:
        return " ".join(f"{p.x},{p.y}" for p in self.mood)


def course_chart(
    checkins: Sequence[Checkin],
    infusions: Sequence[InfusionMark],
    *,
    zone: ZoneInfo,
    formats: LocalFormats,
    stamp: Callable[[datetime], str],
) -> Chart | None:
    """The chart of these check-ins with the infusions marked; None until a check-in has a pain or mood answer."""
    answered = [c for c in checkins if c.pain is not None or c.mood is not None]
    if not answered:
        return None
    times = [c.at for c in answered] + [m.at for m in infusions]
    first, last = min(times), max(times)
    pad = max((last - first) / 20, timedelta(hours=12))
    start, span = first - pad, (last - first) + 2 * pad

    def x(at: datetime) -> float:
        return round(LEFT + (at - start) / span * (RIGHT - LEFT), 1)

    def y(value: int, low: int, high: int) -> float:
        return round(BOTTOM - (value - low) / (high - low) * (BOTTOM - TOP), 1)

    return Chart(
        pain=[
            Point(x(c.at), y(c.pain, 0, PAIN_MAX), c.pain, stamp(c.at), c.escalated)
            for c in answered
            if c.pain is not None
        ],
        mood=[
            Point(x(c.at), y(c.mood, MOOD_MIN, MOOD_MAX), c.mood, stamp(c.at)) for c in answered if c.mood is not None
        ],
        infusions=[Mark(x(m.at), m.number, m.attendance.value) for m in infusions],
        dates=[Tick(x(day), formats.short_date(day)) for day in _midnights(start, start + span, zone)],
        pain_scale=[Tick(y(v, 0, PAIN_MAX), str(v)) for v in range(0, PAIN_MAX + 1, 2)],
        mood_scale=[Tick(y(v, MOOD_MIN, MOOD_MAX), str(v)) for v in range(MOOD_MIN, MOOD_MAX + 1)],
    )


def _midnights(start: datetime, end: datetime, zone: ZoneInfo) -> list[datetime]:
    """Local midnights between ``start`` and ``end``, every day or every few days: at most ``MOST_DATES``."""
    local = start.astimezone(zone)
    day = datetime(local.year, local.month, local.day, tzinfo=zone) + timedelta(days=1)
    days = max(1, (end - start).days)
    step = math.ceil(days / MOST_DATES)
    found = []
    while day < end:
        found.append(day)
        day += timedelta(days=step)  # wall-clock days: still midnight across a DST change
    return found
