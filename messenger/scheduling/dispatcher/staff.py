"""Alerts to a staff chat: one at a time, or one digest when more than a few wait; pages to the on-call phone."""

from __future__ import annotations

from messenger.domain.alerts import ONCALL_CHANNEL, goes_alone
from messenger.scheduling.dispatcher.base import DispatcherBase
from messenger.scheduling.dispatcher.decision import STAFF_CHANNEL
from messenger.scheduling.dispatcher.jobs import Job
from messenger.scheduling.dispatcher.outbox import Outcome
from messenger.scheduling.dispatcher.renewal import Renewal


async def deliver_to_staff(
    dispatcher: DispatcherBase, jobs: list[Job], chat_id: int, renewal: Renewal
) -> list[Outcome]:
    """Alerts to one staff chat: one at a time, or one digest when more than a few wait."""
    channel = dispatcher.channels[STAFF_CHANNEL]
    alone = [[job] for job in jobs if goes_alone(job.message)]
    rest = [job for job in jobs if not goes_alone(job.message)]
    batches = alone + ([rest] if len(rest) > dispatcher.digest_after else [[job] for job in rest])
    outcomes = []
    for batch in batches:
        batch = [job for job in batch if await renewal.holds(dispatcher, job.message.pk)]
        if batch:
            outcomes += await dispatcher._send_as_one(channel, batch, dispatcher.renderer.for_staff(batch, chat_id))
    return outcomes


async def page_oncall(dispatcher: DispatcherBase, jobs: list[Job], renewal: Renewal) -> list[Outcome]:
    """Pages to the on-call phone by SMS, one at a time: paced by the sender's pacer like any SMS."""
    channel = dispatcher.channels[ONCALL_CHANNEL]
    outcomes = []
    for job in jobs:
        if await renewal.holds(dispatcher, job.message.pk):
            outcomes += await dispatcher._send_as_one(channel, [job], dispatcher.renderer.for_oncall(job))
    return outcomes
