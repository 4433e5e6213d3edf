"""Clocks: where "now" comes from, injected into everything that reads the time.

The scheduler sleeps in real seconds; a clock also says how many real seconds remain
until it reads a given instant, so a compressed demo timeline and a test clock run
through the same scheduler and dispatcher as production.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
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

    async def sleep_until(self, instant: datetime) -> None:
        """Return once this clock reads ``instant`` or later."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def real_seconds_until(self, instant: datetime) -> float:
        return max(0.0, (instant - self.now()).total_seconds())

    async def sleep_until(self, instant: datetime) -> None:
        await _sleep_until(self, instant)


async def _sleep_until(clock: Clock, instant: datetime) -> None:
    # asyncio may wake a little early (timer resolution): look again until the clock agrees.
    while (delay := clock.real_seconds_until(instant)) > 0:  # noqa: ASYNC110  (a clock, not an event)
        await asyncio.sleep(delay)


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
        self._started = asyncio.Event()
        if running:
            self._started.set()

    def run(self) -> None:
        if self._origin is None:
            self._origin = self._ticks()
        self._started.set()

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

    async def sleep_until(self, instant: datetime) -> None:
        # Standing still, the clock would never get there on its own: wait for run().
        await self._started.wait()
        await _sleep_until(self, instant)


class ManualClock:
    """A clock that moves only when told to; for tests. Sleepers wake when it is moved past their instant."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._new_sleeper = asyncio.Event()

    def now(self) -> datetime:
        return self._now

    def real_seconds_until(self, instant: datetime) -> float:
        return max(0.0, (instant - self._now).total_seconds())

    async def sleep_until(self, instant: datetime) -> None:
        if instant <= self._now:
            await asyncio.sleep(0)  # still a suspension point, as a real sleep would be
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (instant, next(self._order), future))
        self._new_sleeper.set()
        await future

    async def wait_for_sleeper(self) -> None:
        """Return once some task has started waiting on this clock (a test drives time from there)."""
        await self._new_sleeper.wait()
        self._new_sleeper.clear()

    def wake_times(self) -> list[datetime]:
        """The instants tasks wait for this clock to reach, earliest first."""
        return sorted(instant for instant, _, future in self._sleepers if not future.done())

    def next_wake(self) -> datetime | None:
        """The earliest instant a sleeper waits for, if any."""
        waiting = self.wake_times()
        return waiting[0] if waiting else None

    def advance(self, delta: timedelta | float) -> datetime:
        self._now += delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        self._wake()
        return self._now

    def set(self, instant: datetime) -> None:
        self._now = instant.astimezone(UTC)
        self._wake()

    def _wake(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)
