"""A patient's row: to the first contact that takes it, a dead or opted-out one handing over to the next."""

from __future__ import annotations

from messenger.channels.base import Failed, RetryLater, Sent
from messenger.channels.failures import FailureCode, failure_text
from messenger.domain.enums import MessageStatus
from messenger.rendering.environment import TemplateRenderError
from messenger.scheduling.dispatcher.base import DispatcherBase, log
from messenger.scheduling.dispatcher.decision import NO_REACHABLE_CONTACT, Send
from messenger.scheduling.dispatcher.jobs import Job
from messenger.scheduling.dispatcher.outbox import Outcome


async def deliver_to_patient(dispatcher: DispatcherBase, job: Job, decision: Send, lost: set[int]) -> Outcome:
    """One row to the first of the patient's contacts that takes it; ``lost``: contacts found dead in this batch."""
    outcome = Outcome(job, MessageStatus.FAILED, NO_REACHABLE_CONTACT)
    for contact in decision.contacts:
        if contact.id in lost:  # found dead by an earlier row of this batch
            continue
        channel = dispatcher.channels[contact.channel]
        until = dispatcher.paused_until(channel)
        if until is not None:
            return dispatcher._retry(outcome, dispatcher._waiting_out(until))
        try:
            outgoing = dispatcher.renderer.for_patient(job, channel, contact, dispatcher.clock.now())
        except TemplateRenderError as exc:
            log.error("message %s: template error: %s", job.message.id, exc)
            where = f"{exc.path}:{exc.line}" if exc.line else exc.path
            outcome.reason = failure_text(FailureCode.TEMPLATE_ERROR, (("where", where), ("problem", exc.problem)))
            return outcome
        result, seconds = await dispatcher._send(channel, outgoing)
        outcome.channel, outcome.contact, outcome.send_seconds = channel.name, contact, seconds
        match result:
            case Sent(provider_id=provider_id):
                outcome.sent(provider_id, outgoing.content)
                return outcome
            case RetryLater():
                if result.after > 0:
                    dispatcher._pause(channel, result.after)
                return dispatcher._retry(outcome, result)
            case Failed():
                outcome.reason = f"{channel.name.value}: {result.reason}"
                if result.unreachable or result.opted_out:
                    contact.reachable = contact.reachable and not result.unreachable
                    contact.opted_out = contact.opted_out or result.opted_out
                    contact.status_reason = result.reason
                    outcome.lost.append(contact)
                    lost.add(contact.pk)
                log.warning(
                    "message %s failed on %s: %s %s",
                    job.message.id,
                    channel.name.value,
                    result.reason,
                    result.detail,
                )
    return outcome
