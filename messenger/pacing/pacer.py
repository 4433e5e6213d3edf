"""One pacer per provider account: smooth sending, per-recipient spacing, and a pause every sender honours.

Every request to an account (a bot token, a sending number) waits in :meth:`Pacer.acquire`
first. Requests leave one at a time on a cadence of ``1/rate`` seconds. A wake-up up to
:data:`CADENCE_SLACK` late (the event loop's usual millisecond or two) keeps the cadence, so
oversleeping does not lower the rate; a later one starts a new cadence from when it actually
left, so a stall never turns into a catch-up burst (a strict one-second window would answer
that with 429). The cadence alone would let ``⌊rate · (1 s + slack)⌋ + 1`` requests into a
one-second window, 30 at the default 29 a second, and a request delayed on its way to the
provider could then make 31 arrive within one: so no more than ``⌊rate⌋`` leave in any second,
which keeps one request's room for that jitter. A process that shares the account's rate with others keeps no
cadence: its requests are spaced from when the last one left, because the processes' requests
reach the provider unsynchronised and together they would otherwise meet the limit exactly.
A request with a key (a chat, a phone number) also waits for that key's own interval; requests
for one key leave in the order they asked. :meth:`Pacer.pause` stops every sender of the account
until the time the provider asked for; requests already waiting keep their place and leave once
it ends.

All waiting happens on the injected clock, so tests drive a pacer with a ``ManualClock``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta

from messenger.clock import Clock

log = logging.getLogger(__name__)

PauseListener = Callable[[datetime], None]
# Seconds between two requests for one key (a chat, a number); 0 for no limit of its own.
KeyInterval = Callable[[str], float]

# How late a request may leave and still keep the cadence (see the module's docstring).
CADENCE_SLACK = timedelta(milliseconds=3)
_SECOND = timedelta(seconds=1)
# Keys not used for this long are forgotten (their spacing has long passed).
_FORGET_AFTER = timedelta(minutes=5)
_PRUNE_EVERY = 10_000


def no_key_limit(_key: str) -> float:
    return 0.0


class Pacer:
    def __init__(
        self,
        *,
        account: str,
        clock: Clock,
        rate: float,
        key_interval: KeyInterval = no_key_limit,
    ) -> None:
        if rate <= 0:
            raise ValueError("a pacer's rate must be positive")
        # What the account is called in logs and in the shared pause table: never a secret.
        self.account = account
        self.clock = clock
        self.key_interval = key_interval
        self._interval = timedelta(seconds=1 / rate)
        self.full_rate = rate
        # When the last ⌊rate⌋ requests left, kept only while this process has the whole rate.
        self._window: deque[datetime] = deque(maxlen=int(rate))
        # The slot the next request may take; None before the first.
        self._next: datetime | None = None
        self._paused_until: datetime | None = None
        self._overall = asyncio.Lock()
        # Per key: its lock and how many requests hold or wait for it.
        self._key_locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._key_last: dict[str, datetime] = {}
        self._since_prune = 0
        self._pause_listeners: list[PauseListener] = []
        self.requests = 0
        self.pauses = 0

    # -- the interface every sender uses ---------------------------------------------------

    async def acquire(self, key: str | None = None) -> None:
        """Wait for an overall slot and, with ``key``, for that key's slot; then the request may leave."""
        if key is None or self.key_interval(key) <= 0:
            await self._overall_slot()
            return
        lock, users = self._key_locks.get(key) or (asyncio.Lock(), 0)
        self._key_locks[key] = (lock, users + 1)
        try:
            async with lock:  # one request per key at a time, in the order they asked
                last = self._key_last.get(key)
                if last is not None:
                    await self.clock.sleep_until(last + timedelta(seconds=self.key_interval(key)))
                self._key_last[key] = await self._overall_slot()
        finally:
            lock, users = self._key_locks[key]
            if users == 1:
                del self._key_locks[key]
            else:
                self._key_locks[key] = (lock, users - 1)
        self._prune()

    def pause(self, seconds: float) -> None:
        """Stop every sender of this account for ``seconds`` (a provider's ``retry_after``)."""
        self.pause_until(self.clock.now() + timedelta(seconds=max(0.0, seconds)))

    def pause_until(self, until: datetime, *, announce: bool = True) -> None:
        """Stop every sender until ``until`` (a pause another process wrote is not announced again)."""
        if self._paused_until is not None and until <= self._paused_until:
            return
        self._paused_until = until
        self.pauses += 1
        log.warning("%s: provider asked to slow down; every sender waits until %s", self.account, until.isoformat())
        if announce:
            for listener in self._pause_listeners:
                listener(until)

    def paused_until(self) -> datetime | None:
        """The end of the current pause, or None when requests may leave."""
        if self._paused_until is not None and self._paused_until <= self.clock.now():
            self._paused_until = None
        return self._paused_until

    # -- sharing the account's budget -------------------------------------------------------

    @property
    def rate(self) -> float:
        return 1 / self._interval.total_seconds()

    def set_rate(self, rate: float) -> None:
        """This process's share of the account's rate (the full rate divided between live processes)."""
        if rate <= 0:
            raise ValueError("a pacer's rate must be positive")
        self._interval = timedelta(seconds=1 / rate)
        # Sharing the rate, this process keeps no cadence (see the module's docstring) and no window.
        self._window = deque(self._window, maxlen=int(rate) if rate >= self.full_rate else 0)

    def on_pause(self, listener: PauseListener) -> None:
        """Call ``listener(until)`` whenever a sender of this process pauses the account."""
        self._pause_listeners.append(listener)

    # -- inside ------------------------------------------------------------------------------

    async def _overall_slot(self) -> datetime:
        async with self._overall:
            while True:
                now = self.clock.now()
                ready = now if self._next is None else max(now, self._next)
                if self._window.maxlen and len(self._window) == self._window.maxlen:
                    ready = max(ready, self._window[0] + _SECOND)
                paused = self.paused_until()
                if paused is not None:
                    ready = max(ready, paused)
                if ready <= now:
                    break
                # Looked at again after waking: a pause may have begun meanwhile.
                await self.clock.sleep_until(ready)
            cadence = self._next
            slack = min(CADENCE_SLACK, self._interval / 4) if self._window.maxlen else timedelta(0)
            if cadence is None or now - cadence > slack:
                cadence = now  # the first request, or the first after a stall: a new cadence, no catch-up
            self._next = cadence + self._interval
            self._window.append(now)
            self.requests += 1
            return now

    def _prune(self) -> None:
        self._since_prune += 1
        if self._since_prune < _PRUNE_EVERY:
            return
        self._since_prune = 0
        horizon = self.clock.now() - _FORGET_AFTER
        for key in [k for k, last in self._key_last.items() if last < horizon and k not in self._key_locks]:
            del self._key_last[key]
