"""What every delivery of the dispatcher shares: its settings, the channels' pauses, one send, the retry verdict.

The queue and the batch (``core``), staff alerts (``staff``), recording (``recording``) and the
claims' renewal (``renewal``) build on these; names with a leading underscore are for those modules.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from messenger.channels.base import Channel, Outgoing, RetryLater, SendOutcome
from messenger.channels.failures import FailureCode
from messenger.clock import Clock
from messenger.db import SessionFactory
from messenger.domain.catalog import SeriesCatalog
from messenger.domain.enums import ChannelName, QuietPolicy
from messenger.domain.timing import QuietHours
from messenger.scheduling.dispatcher.events import DeliveryListener
from messenger.scheduling.dispatcher.outbox import Outcome
from messenger.scheduling.dispatcher.render import Renderer
from messenger.scheduling.dispatcher.retry import RetryPolicy, after_retry

# All the dispatcher's parts log under the one name its log lines have always carried.
log = logging.getLogger("messenger.scheduling.dispatcher.core")


def default_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{random.getrandbits(24):06x}"


class DispatcherBase:
    """The dispatcher's settings and the steps one send takes; ``Dispatcher`` runs the queue on them."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        clock: Clock,
        channels: Mapping[ChannelName, Channel],
        renderer: Renderer,
        catalog: SeriesCatalog,
        quiet_hours: QuietHours,
        retry: RetryPolicy | None = None,
        batch_size: int = 50,
        lease: timedelta = timedelta(minutes=5),
        contact_wait: timedelta = timedelta(minutes=30),
        send_timeout: float = 60.0,
        concurrency: int = 8,
        digest_after: int = 3,
        name: str | None = None,
        listeners: Sequence[DeliveryListener] = (),
        rng: random.Random | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.channels = dict(channels)
        self.renderer = renderer
        self.catalog = catalog
        self.quiet_hours = quiet_hours
        self.retry = retry or RetryPolicy()
        self.batch_size = batch_size
        self.lease = lease
        self.contact_wait = contact_wait
        # A send must end well inside the lease, or another process could take the row mid-send.
        self.send_timeout = min(send_timeout, lease.total_seconds() / 2)
        # More alerts than this waiting for one staff chat go as one digest.
        self.digest_after = digest_after
        self.name = name or default_worker_name()
        self.listeners = list(listeners)
        self._rng = rng or random.Random()
        self.concurrency = concurrency
        # A provider that asked the whole account to slow down, for channels without a pacer.
        self._channel_pause: dict[ChannelName, datetime] = {}
        self._stopping = False
        self._requeued_at: datetime | None = None
        # Rows this process claimed and has not recorded yet: its own, whatever their lease says.
        self._in_flight: set[int] = set()

    @property
    def concurrency(self) -> int:
        """How many recipients are served at once (each recipient's rows still go one at a time)."""
        return self._concurrency

    @concurrency.setter
    def concurrency(self, value: int) -> None:
        self._concurrency = value
        self._slots = asyncio.Semaphore(value)

    # -- pauses ---------------------------------------------------------------------------

    def paused_until(self, channel: Channel) -> datetime | None:
        """The end of the provider's pause on this channel's account, if it is paused now."""
        ends = [self._channel_pause.get(channel.name)]
        pacer = getattr(channel, "pacer", None)
        if pacer is not None and (pacer_until := pacer.paused_until()) is not None:
            # The pacer keeps its own clock (the same in production, a manual one in tests): carry over what is left.
            ends.append(self.clock.now() + (pacer_until - pacer.clock.now()))
        latest = max((t for t in ends if t is not None), default=None)
        return latest if latest is not None and latest > self.clock.now() else None

    def _all_paused(self) -> datetime | None:
        """While every channel is paused nothing is claimed: the earliest end, then."""
        ends = [self.paused_until(c) for c in self.channels.values()]
        return min(ends) if ends and all(ends) else None  # type: ignore[type-var]

    def _waiting_out(self, until: datetime) -> RetryLater:
        """A row that meets a paused channel goes back until the pause ends, not as a failed attempt."""
        return RetryLater(FailureCode.CHANNEL_PAUSED, (until - self.clock.now()).total_seconds(), throttled=True)

    def _pause(self, channel: Channel, seconds: float) -> None:
        self._channel_pause[channel.name] = self.clock.now() + timedelta(seconds=seconds)
        pacer = getattr(channel, "pacer", None)
        if pacer is not None:
            pacer.pause(seconds)

    # -- one send ------------------------------------------------------------------------

    async def _send(self, channel: Channel, outgoing: Outgoing) -> tuple[SendOutcome, float]:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.send_timeout):
                result = await channel.send(outgoing)
        except TimeoutError:
            result = RetryLater(FailureCode.CHANNEL_TIMEOUT, params=(("seconds", f"{self.send_timeout:.0f}"),))
        except Exception as exc:  # a channel bug must not lose the message
            log.exception("channel %s raised while sending message %s", channel.name.value, outgoing.message_id)
            result = RetryLater(FailureCode.CHANNEL_CRASHED, params=(("error", type(exc).__name__),))
        return result, time.perf_counter() - started

    def _retry(self, outcome: Outcome, result: RetryLater) -> Outcome:
        message = outcome.job.message
        zone = ZoneInfo(outcome.job.patient.timezone)
        verdict = after_retry(
            policy=self.retry,
            outcome=result,
            attempts=message.attempts,
            now=self.clock.now(),
            rng=self._rng,
            defer=(lambda at: self.quiet_hours.defer(at, zone))
            if message.quiet is QuietPolicy.DEFER
            else (lambda at: at),
            not_after=message.not_after,
            give_up=message.staff_chat_id is None,  # staff alerts are never dropped
        )
        outcome.status, outcome.reason, outcome.send_at = verdict.status, verdict.reason, verdict.send_at
        outcome.refund_attempt = verdict.refund_attempt
        return outcome
