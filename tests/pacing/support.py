"""Driving pacers on a manual clock: time jumps to the next wake-up, never sleeps."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta

from messenger.clock import ManualClock


class TimeDriver:
    """Moves ``clock`` to each sleeper's instant as soon as one waits, up to :attr:`hold` (if set)."""

    def __init__(self, clock: ManualClock, busy: Callable[[], bool] = lambda: False) -> None:
        self.clock = clock
        # While ``busy()`` (say, a request on the wire) time stands still: it takes no time.
        self.busy = busy
        self.hold: datetime | None = None
        self._moved = asyncio.Event()

    async def run(self) -> None:
        while True:
            if self.busy():
                await asyncio.sleep(0)
                continue
            wake = self.clock.next_wake()
            if wake is None or (self.hold is not None and wake >= self.hold):
                waiting = asyncio.ensure_future(self.clock.wait_for_sleeper())
                moved = asyncio.ensure_future(self._moved.wait())
                await asyncio.wait({waiting, moved}, return_when=asyncio.FIRST_COMPLETED)
                waiting.cancel()
                moved.cancel()
                self._moved.clear()
                continue
            self.clock.set(wake)
            # Let the woken tasks run until they wait again (a lock handed on, a new sleeper)
            # before time moves on: otherwise the clock would skip past their next instant.
            await settle()

    def release(self) -> None:
        """Let time run past the hold."""
        self.hold = None
        self._moved.set()


@contextlib.asynccontextmanager
async def driven(clock: ManualClock, busy: Callable[[], bool] = lambda: False) -> AsyncIterator[TimeDriver]:
    driver = TimeDriver(clock, busy)
    task = asyncio.create_task(driver.run())
    try:
        yield driver
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def settle(rounds: int = 50) -> None:
    """Let every ready task run until it waits (a yield to the loop, not a wait for time)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


async def wake_late(clock: ManualClock, late_ms: Sequence[float]) -> None:
    """Move ``clock`` to each next wake-up in turn, that many milliseconds past it (an event loop's lateness)."""
    for late in late_ms:
        wake = clock.next_wake()
        assert wake is not None, "nothing is waiting"
        clock.set(wake + timedelta(milliseconds=late))
        await settle()
