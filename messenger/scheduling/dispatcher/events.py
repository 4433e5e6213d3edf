"""What the dispatcher tells the rest of the app: one Delivery per recorded row, and a run's report."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from messenger.channels.base import Content
from messenger.domain.enums import ChannelName, MessageStatus
from messenger.domain.models import Contact, Message, Patient

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delivery:
    """What happened to one message; listeners (demo, fallback copies, metrics) receive these."""

    message: Message
    # The patient the message was for, or (a staff alert) about.
    patient: Patient
    status: MessageStatus
    at: datetime
    channel: ChannelName | None = None
    reason: str | None = None
    content: Content | None = None
    # Contacts found dead or opted out while trying to deliver this message.
    lost_contacts: tuple[Contact, ...] = ()
    # Real seconds the provider took to answer the last send attempt, if one was made.
    send_seconds: float | None = None
    # This outcome closed the series: nothing is left to send (the end-of-course summary follows).
    series_completed: bool = False


DeliveryListener = Callable[[Delivery], Awaitable[None]]


@dataclass
class DispatchReport:
    counts: Counter[str] = field(default_factory=Counter)
    worst_lateness: timedelta = timedelta(0)

    def extend(self, deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            self.add(delivery)

    def add(self, delivery: Delivery) -> None:
        self.counts[delivery.status.value] += 1
        if delivery.status is MessageStatus.SENT:
            self.worst_lateness = max(self.worst_lateness, delivery.at - delivery.message.send_at)

    @property
    def handled(self) -> int:
        return sum(self.counts.values())


async def notify(listeners: Sequence[DeliveryListener], delivery: Delivery) -> None:
    """Tell every listener; one that fails is logged and does not stop the others."""
    for listener in listeners:
        try:
            await listener(delivery)
        except Exception:
            log.exception("delivery listener %r failed", listener)
