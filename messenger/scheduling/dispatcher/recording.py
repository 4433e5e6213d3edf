"""Recording a batch: every outcome, the contacts found lost and the staff alerts they cause, then the listeners."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from messenger.clock import Clock
from messenger.db import SessionFactory, transaction
from messenger.domain.alerts import goes_to_staff
from messenger.domain.enums import ChannelName, MessageStatus
from messenger.observability.log_fields import log_fields
from messenger.scheduling.dispatcher import outbox
from messenger.scheduling.dispatcher.base import log
from messenger.scheduling.dispatcher.decision import NO_REACHABLE_CONTACT
from messenger.scheduling.dispatcher.events import Delivery, DeliveryListener, notify
from messenger.scheduling.dispatcher.outbox import Outcome
from messenger.scheduling.dispatcher.render import StaffDesk


async def record_outcomes(
    outcomes: list[Outcome],
    *,
    sessions: SessionFactory,
    clock: Clock,
    worker: str,
    channels: Iterable[ChannelName],
    staff: StaffDesk | None,
    listeners: Sequence[DeliveryListener],
) -> list[Delivery]:
    """Every outcome of the batch, the contacts found lost and the alerts they cause: one transaction."""
    if not outcomes:
        return []
    now = clock.now()
    async with transaction(sessions) as session:
        recorded = await outbox.record(session, outcomes, worker=worker, now=now, channels=channels)
        told: set[int] = set()
        for outcome in outcomes:
            patient_id = outcome.job.patient.pk
            for contact in outcome.lost:
                if await outbox.mark_lost(session, contact, now) and staff is not None:
                    key = "opted_out" if contact.opted_out else "unreachable"
                    await staff.queue(
                        session,
                        now=now,
                        key=key,
                        patient_id=patient_id,
                        channel=contact.channel.value,
                        reason=contact.status_reason or "",
                    )
                    told.add(patient_id)
            if staff is not None and _undeliverable(outcome) and patient_id not in told:
                await staff.queue(
                    session, now=now, key="undeliverable", patient_id=patient_id, reason=outcome.reason or ""
                )
                told.add(patient_id)
        completed = await outbox.complete_series(
            session,
            (o.job.message.series_id for o in outcomes if o.status.is_final and o.job.message.series_id),
            now,
        )
    deliveries = []
    for outcome, message in zip(outcomes, recorded, strict=True):
        delivery = Delivery(
            message=message,
            patient=outcome.job.patient,
            status=outcome.status,
            at=now,
            channel=outcome.channel,
            reason=outcome.reason,
            content=outcome.content,
            lost_contacts=tuple(outcome.lost),
            send_seconds=outcome.send_seconds,
            series_completed=message.series_id in completed,
        )
        completed.discard(message.series_id or 0)  # one delivery tells of a series' end
        with log_fields(message_id=message.pk, patient_id=message.patient_id, series_id=message.series_id):
            log.info(
                "message %s (%s) → %s%s",
                message.id,
                message.step_key,
                outcome.status.value,
                f" via {outcome.channel.value}" if outcome.channel else "",
            )
            await notify(listeners, delivery)
        deliveries.append(delivery)
    return deliveries


def _undeliverable(outcome: Outcome) -> bool:
    """A patient's message failed for a reason staff have not been told yet (a lost contact has its own alert)."""
    return (
        outcome.status is MessageStatus.FAILED
        and not goes_to_staff(outcome.job.message)
        and not outcome.lost
        and outcome.reason != NO_REACHABLE_CONTACT
    )
