"""Prometheus metrics for the dispatcher, the queue and the scheduler.

:class:`Metrics` owns its registry (never prometheus_client's global one), so a process
can hold one per app and tests can build as many as they like. Wire it as a dispatcher
listener (:meth:`Metrics.on_delivery`); queue and scheduler gauges are refreshed when
``/metrics`` is scraped (:meth:`Metrics.watch_queue`, :meth:`Metrics.watch_scheduler`).

The counters count *outcomes*: ``status="pending"`` means a send was put off and a
retry scheduled, so one message can count several times before it is sent or given up.
A skipped step (past its ``not_after``, or already answered) is the series working as
designed: it counts in ``messenger_messages_total``, never as a send error.

The registry also carries the process and Python collectors (memory, CPU, file
descriptors, garbage collection) and ``messenger_build_info``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import platform
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from sqlalchemy import func
from sqlmodel import col, select

from messenger import __version__
from messenger.domain.enums import ChannelName, MessageStatus
from messenger.domain.models import Message
from messenger.services.acknowledgement import acknowledgement_figures

if TYPE_CHECKING:
    from messenger.clock import Clock
    from messenger.db import SessionFactory

__all__ = ["DeliveryEvent", "Metrics", "queue_state"]

log = logging.getLogger(__name__)


class DeliveryEvent(Protocol):
    """What metrics read of a dispatcher's delivery (``scheduling.dispatcher.Delivery`` has it)."""

    @property
    def message(self) -> Message: ...
    @property
    def status(self) -> MessageStatus: ...
    @property
    def at(self) -> datetime: ...
    @property
    def channel(self) -> ChannelName | None: ...
    @property
    def send_seconds(self) -> float | None: ...


NO_CHANNEL = "none"

# Clock seconds a sent message went out after its send_at: the alarm's promptness.
LAG_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600)
# Real seconds a provider took to answer one send.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

_ERROR_TYPES = {
    MessageStatus.PENDING: "retry",
    MessageStatus.FAILED: "failed",
}

ScrapeHook = Callable[[], Awaitable[None]]


async def queue_state(sessions: SessionFactory, now: datetime) -> tuple[int, float | None]:
    """Pending rows, and clock seconds from ``now`` until the earliest is due (negative: overdue)."""
    async with sessions() as session:
        count, earliest = (
            await session.exec(
                select(func.count(), func.min(Message.send_at)).where(col(Message.status) == MessageStatus.PENDING)
            )
        ).one()
    return int(count), None if earliest is None else (earliest - now).total_seconds()


class Metrics:
    def __init__(self, *, registry: CollectorRegistry | None = None, refresh_timeout: float = 2.0) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.refresh_timeout = refresh_timeout
        self._hooks: list[ScrapeHook] = []
        # The same collectors prometheus_client registers globally, on our own registry.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        Info("messenger_build", "The running version.", registry=self.registry).info(
            {"version": __version__, "python": platform.python_version()}
        )
        self.messages = Counter(
            "messenger_messages_total",
            "Dispatch outcomes by status, channel and step kind.",
            ["status", "channel", "kind"],
            registry=self.registry,
        )
        self.dispatch_lag = Histogram(
            "messenger_dispatch_lag_seconds",
            "Clock seconds from a message's send_at to its sending, by step kind.",
            ["kind"],
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.send_latency = Histogram(
            "messenger_send_latency_seconds",
            "Real seconds a provider took to answer a send.",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.send_errors = Counter(
            "messenger_send_errors_total",
            "Sends put off (retry), given up (failed) or dropped (skipped).",
            ["channel", "type"],
            registry=self.registry,
        )
        self.pending = Gauge(
            "messenger_pending_messages",
            "Messages waiting to be sent.",
            registry=self.registry,
        )
        self.next_due = Gauge(
            "messenger_next_due_seconds",
            "Clock seconds until the next pending message is due (negative: overdue; NaN: none pending).",
            registry=self.registry,
        )
        self.next_due.set(math.nan)
        self.next_due_at = Gauge(
            "messenger_next_due_timestamp_seconds",
            "Unix time the next pending message is due (NaN: none pending); alert on time() - this.",
            registry=self.registry,
        )
        self.next_due_at.set(math.nan)
        self.telegram_last_ok = Gauge(
            "messenger_telegram_last_success_timestamp_seconds",
            "Unix time Telegram last answered a call (NaN: not yet, or Telegram off).",
            registry=self.registry,
        )
        self.telegram_last_ok.set(math.nan)
        self.scheduler_running = Gauge(
            "messenger_scheduler_running",
            "1 while the scheduler is running.",
            registry=self.registry,
        )

        self.acknowledge_seconds = Gauge(
            "messenger_alert_acknowledge_seconds",
            'Clock seconds from an urgent staff alert to its first "I\'m on it" (NaN before the first).',
            ["quantile"],
            registry=self.registry,
        )
        self.alerts_waiting = Gauge(
            "messenger_urgent_alerts_unacknowledged",
            "Urgent staff alerts nobody has taken yet.",
            registry=self.registry,
        )
        for quantile in ("0.5", "0.9"):
            self.acknowledge_seconds.labels(quantile=quantile).set(math.nan)

    # -- feeding it ---------------------------------------------------------------------

    async def on_delivery(self, delivery: DeliveryEvent) -> None:
        """A dispatcher listener: count one outcome."""
        channel = delivery.channel.value if delivery.channel is not None else NO_CHANNEL
        self.messages.labels(status=delivery.status.value, channel=channel, kind=delivery.message.kind.value).inc()
        if delivery.status is MessageStatus.SENT:
            lag = (delivery.at - delivery.message.send_at).total_seconds()
            self.dispatch_lag.labels(kind=delivery.message.kind.value).observe(max(0.0, lag))
        if delivery.send_seconds is not None:
            self.send_latency.labels(channel=channel).observe(delivery.send_seconds)
        error = _ERROR_TYPES.get(delivery.status)
        if error is not None:
            self.send_errors.labels(channel=channel, type=error).inc()

    def observe_queue(self, pending: int, next_due_in: float | None, *, now: datetime | None = None) -> None:
        """Set the queue gauges; ``next_due_in`` is None when nothing is pending.

        With ``now`` (the instant ``next_due_in`` counts from), the absolute due time is set too.
        """
        self.pending.set(pending)
        self.next_due.set(math.nan if next_due_in is None else next_due_in)
        if now is not None:
            due = math.nan if next_due_in is None else (now + timedelta(seconds=next_due_in)).timestamp()
            self.next_due_at.set(due)

    def watch_telegram(self, last_ok: Callable[[], datetime | None]) -> None:
        """Read ``last_ok()`` at every scrape for ``messenger_telegram_last_success_timestamp_seconds``."""

        def seconds() -> float:
            when = last_ok()
            return math.nan if when is None else when.timestamp()

        self.telegram_last_ok.set_function(seconds)

    def observe_scheduler(self, running: bool) -> None:
        self.scheduler_running.set(1 if running else 0)

    def watch_scheduler(self, running: Callable[[], bool]) -> None:
        """Read ``running()`` at every scrape for ``messenger_scheduler_running``."""
        self.scheduler_running.set_function(lambda: 1.0 if running() else 0.0)

    def watch_queue(self, sessions: SessionFactory, clock: Clock) -> None:
        """Refresh the queue gauges from the database before every scrape."""

        async def refresh() -> None:
            now = clock.now()
            self.observe_queue(*await queue_state(sessions, now), now=now)

        self.before_scrape(refresh)

    def watch_acknowledgement(self, sessions: SessionFactory) -> None:
        """Refresh time to acknowledge (median, p90) and the untaken count before every scrape."""

        async def refresh() -> None:
            async with sessions() as session:
                figures = await acknowledgement_figures(session)
            for quantile, value in (("0.5", figures.median), ("0.9", figures.p90)):
                self.acknowledge_seconds.labels(quantile=quantile).set(math.nan if value is None else value)
            self.alerts_waiting.set(figures.waiting)

        self.before_scrape(refresh)

    def before_scrape(self, hook: ScrapeHook) -> None:
        """Run ``hook`` (async, no arguments) in :meth:`refresh`, before each exposition."""
        self._hooks.append(hook)

    async def refresh(self) -> None:
        """Run the scrape hooks; one that fails or hangs leaves its gauges as they were."""
        for hook in self._hooks:
            try:
                await asyncio.wait_for(hook(), self.refresh_timeout)
            except Exception as exc:
                log.warning("metrics refresh %s failed: %s", getattr(hook, "__qualname__", hook), type(exc).__name__)

    # -- reading it ---------------------------------------------------------------------

    def exposition(self) -> tuple[bytes, str]:
        """The registry in Prometheus text format: (body, content type)."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
