"""Clocks: where "now" comes from, injected into everything that reads the time.

The scheduler sleeps in real seconds; a clock also says how many real seconds remain
until it reads a given instant, so a compressed demo timeline and a test clock run
through the same scheduler and dispatcher as production.
"""

from __future__ import annotations

import time
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
    work (enrolment, schema creation) takes no story time.
    """

    def __init__(self, start: datetime, speed: float, *, running: bool = True) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start = start.astimezone(UTC)
        self.speed = speed
        self._origin: float | None = time.monotonic() if running else None

    def run(self) -> None:
        if self._origin is None:
            self._origin = time.monotonic()

    def now(self) -> datetime:
        if self._origin is None:
            return self.start
        return self.start + timedelta(seconds=(time.monotonic() - self._origin) * self.speed)

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
