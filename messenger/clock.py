"""Clocks: where "now" comes from, injected into everything that reads the time.

The scheduler sleeps in real seconds; a clock also says how many real seconds remain
until it reads a given instant, so a compressed demo timeline and a test clock run
through the same scheduler and dispatcher as production.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, aware UTC."""
        ...

    def real_seconds_until(self, instant: datetime) -> float:
        """Real seconds until this clock reads ``instant`` (0 if it already has)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def real_seconds_until(self, instant: datetime) -> float:
        return max(0.0, (instant - self.now()).total_seconds())


class ScaledClock:
    """A clock that runs ``speed`` times faster than real time from ``start``.

    With ``running=False`` it stands still at ``start`` until :meth:`run`, so set-up
    work (enrolment, schema creation) takes no story time. :meth:`hold_at` lets it run
    only up to an instant and wait there, so work that falls behind on a busy machine
    delays the story instead of being overtaken by it.
    """

    def __init__(
        self, start: datetime, speed: float, *, running: bool = True, ticks: Callable[[], float] = time.monotonic
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start = start.astimezone(UTC)
        self.speed = speed
        self._ticks = ticks
        # Story time is ``_base`` plus scaled real time since ``_origin``, capped at ``_ceiling``.
        self._base = self.start
        self._origin: float | None = self._ticks() if running else None
        self._ceiling: datetime | None = None
        # Real time spent held at a ceiling (story time the hold kept from passing).
        self.waited = timedelta(0)

    def run(self) -> None:
        if self._origin is None:
            self._origin = self._ticks()

    def hold_at(self, ceiling: datetime | None) -> None:
        """Run on from the current reading up to ``ceiling`` and wait there (``None``: no limit).

        Time resumes from where it stood, not from where it would be without the hold,
        so nothing between the two is skipped.
        """
        free, held = self._readings()
        self.waited += (free - held) / self.speed
        self._base = held
        if self._origin is not None:
            self._origin = self._ticks()
        self._ceiling = ceiling

    def now(self) -> datetime:
        return self._readings()[1]

    def _readings(self) -> tuple[datetime, datetime]:
        """Story time as it would be without the ceiling, and as it is."""
        if self._origin is None:
            return self._base, self._base
        free = self._base + timedelta(seconds=(self._ticks() - self._origin) * self.speed)
        return free, free if self._ceiling is None else min(free, max(self._ceiling, self._base))

    def real_seconds_until(self, instant: datetime) -> float:
        return max(0.0, (instant - self.now()).total_seconds() / self.speed)


class ManualClock:
    """A clock that moves only when told to; for tests."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def real_seconds_until(self, instant: datetime) -> float:
        return max(0.0, (instant - self._now).total_seconds())

    def advance(self, delta: timedelta | float) -> datetime:
        self._now += delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        return self._now

    def set(self, instant: datetime) -> None:
        self._now = instant.astimezone(UTC)
