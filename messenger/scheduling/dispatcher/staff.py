"""Alerts to a staff chat: one at a time, or one digest when more than a few wait."""

from __future__ import annotations

from messenger.channels.base import Failed, RetryLater, Sent
from messenger.domain.alerts import goes_alone
from messenger.domain.enums import MessageStatus
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
        if not batch:
            continue
        until = dispatcher.paused_until(channel)
        if until is not None:
            waited = dispatcher._waiting_out(until)
            outcomes += [dispatcher._retry(Outcome(job, MessageStatus.PENDING), waited) for job in batch]
            continue
        outgoing = dispatcher.renderer.for_staff(batch, chat_id)
        result, seconds = await dispatcher._send(channel, outgoing)
        for job in batch:
            outcome = Outcome(job, MessageStatus.FAILED, channel=channel.name, send_seconds=seconds)
            match result:
                case Sent(provider_id=provider_id):
                    outcome.sent(provider_id, outgoing.content)
                case RetryLater():
                    outcome = dispatcher._retry(outcome, result)
                case Failed():
                    outcome.reason = f"{channel.name.value}: {result.reason}"
            outcomes.append(outcome)
        if isinstance(result, RetryLater) and result.after > 0:
            dispatcher._pause(channel, result.after)
    return outcomes
