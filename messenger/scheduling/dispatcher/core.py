"""The dispatcher: claim due rows, decide, send (one recipient at a time, recipients in parallel), record.

Settings, pauses, one send and the retry verdict are in ``base``; staff alerts and on-call pages
in ``staff``; recording in ``recording``; the claims' renewal in ``renewal``.

A batch costs a handful of statements whatever its size: the claim (one per priority class
that has due rows), four loads (five with an on-call page), one executemany for the outcomes
and one completion check.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from messenger.db import transaction
from messenger.domain.enums import MessageStatus
from messenger.domain.models import Message
from messenger.observability.log_fields import log_fields
from messenger.scheduling.dispatcher import outbox
from messenger.scheduling.dispatcher.base import DispatcherBase
from messenger.scheduling.dispatcher.decision import (
    Close,
    Decision,
    PageOncall,
    Paused,
    Send,
    SendToStaff,
    WaitForContact,
    decide,
)
from messenger.scheduling.dispatcher.events import Delivery, DispatchReport
from messenger.scheduling.dispatcher.jobs import Job, load
from messenger.scheduling.dispatcher.outbox import Outcome
from messenger.scheduling.dispatcher.patient import deliver_to_patient
from messenger.scheduling.dispatcher.recording import record_outcomes
from messenger.scheduling.dispatcher.renewal import Renewal
from messenger.scheduling.dispatcher.staff import deliver_to_staff, page_oncall
from messenger.services.contacts import WAITING_FOR_CONTACT

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Batch:
    """Rows this process has claimed, with what deciding and rendering them needs."""

    claimed: Sequence[Message]
    jobs: list[Job]
    # No later than the claim: its lease runs from then, however long the batch waits to go out.
    claimed_at: datetime


class Dispatcher(DispatcherBase):
    """Claims due rows, decides, sends (one recipient at a time, recipients in parallel) and records."""

    # -- the queue ----------------------------------------------------------------------

    async def run_due(self) -> DispatchReport:
        """Deliver everything due now, batch after batch; returns what happened.

        Batches overlap at their edges so the pacer never waits for the database: the next batch
        is claimed and loaded while this one is on the wire, and this one is recorded while the
        next goes out. Sending never overlaps: a batch starts once the last one's sends are done,
        so one recipient's messages still leave in their scheduled order.
        """
        report = DispatchReport()
        await self._requeue_expired()
        batch = await self._next_batch()
        recording: asyncio.Task[list[Delivery]] | None = None
        while batch is not None:
            # A full batch suggests more are due: claim them while this one goes out.
            ahead = asyncio.create_task(self._next_batch()) if len(batch.claimed) >= self.batch_size else None
            try:
                outcomes = await self._send_batch(batch)
                if recording is not None:
                    report.extend(await recording)
            except BaseException:
                # These rows, and the next batch's if it was claimed, go back once their lease ends.
                self._in_flight.difference_update(m.pk for m in batch.claimed)
                if ahead is not None:
                    self._drop(ahead)
                raise
            recording = asyncio.create_task(self._record(outcomes, batch))
            batch = await ahead if ahead is not None else await self._next_batch()
        if recording is not None:
            report.extend(await recording)
        return report

    def _drop(self, ahead: asyncio.Task[_Batch | None]) -> None:
        """Give up a batch claimed ahead: its rows go back to the queue when their lease ends."""
        if not ahead.done():
            ahead.cancel()  # a claim cut short rolls back; a load cut short forgets its rows itself
        elif not ahead.cancelled() and ahead.exception() is None and (dropped := ahead.result()) is not None:
            self._in_flight.difference_update(m.pk for m in dropped.claimed)

    async def _next_batch(self) -> _Batch | None:
        if self._stopping or self._all_paused():
            return None
        at = self.clock.now()
        claimed = await self._claim(self.batch_size)
        if not claimed:
            return None
        try:
            async with self.sessions() as session:
                return _Batch(claimed, await load(session, claimed, self.catalog), at)
        except BaseException:
            self._in_flight.difference_update(m.pk for m in claimed)
            raise

    async def _requeue_expired(self) -> None:
        """Claims of dead processes back to the queue: at most every half lease, not on every wake."""
        now = self.clock.now()
        if self._requeued_at is not None and now - self._requeued_at < self.lease / 2:
            return
        async with transaction(self.sessions) as session:
            await outbox.requeue_expired(session, now=now, keep=self._in_flight)
        self._requeued_at = now

    async def claim(self, limit: int) -> list[int]:
        """Atomically take up to ``limit`` due rows, urgent first; returns their ids."""
        return [m.pk for m in await self._claim(limit)]

    async def _claim(self, limit: int) -> list[Message]:
        async with transaction(self.sessions) as session:
            claimed = await outbox.claim(session, worker=self.name, now=self.clock.now(), lease=self.lease, limit=limit)
        self._in_flight.update(m.pk for m in claimed)
        return claimed

    async def deliver(self, message_id: int) -> Delivery | None:
        """Deliver one row this process has claimed (None if its claim is gone)."""
        try:
            async with self.sessions() as session:
                row = await session.get(Message, message_id)
            if row is None or row.status is not MessageStatus.SENDING or row.claimed_by != self.name:
                return None
            if row.lease_until is None or row.lease_until <= self.clock.now():
                log.warning("message %s: its claim expired before it was sent; another process may have it", message_id)
                return None
            async with self.sessions() as session:
                batch = _Batch([row], await load(session, [row], self.catalog), self.clock.now())
            deliveries = await self._record(await self._send_batch(batch), batch)
            return deliveries[0] if deliveries else None
        finally:
            self._in_flight.discard(message_id)  # recorded, or no longer this process's to send

    async def next_due_at(self) -> datetime | None:
        """When the next row falls due (or a claim expires, or a pause ends), if ever."""
        # An expired claim waits for the next requeue pass (at most every half lease), and one of
        # this process's own rows for its outcome: waking before then would find nothing to do.
        requeue_from = None if self._requeued_at is None else self._requeued_at + self.lease / 2
        async with self.sessions() as session:
            due = await outbox.next_due_at(session, requeue_from=requeue_from)
        pause = self._all_paused()
        return max(due, pause) if due is not None and pause is not None else due

    def stop(self) -> None:
        """Stop claiming; deliveries in flight finish."""
        self._stopping = True

    @property
    def stopping(self) -> bool:
        return self._stopping

    async def release_claims(self) -> int:
        """Return this dispatcher's unfinished claims to the queue (at shutdown); returns how many."""
        async with transaction(self.sessions) as session:
            return await outbox.release(session, worker=self.name, now=self.clock.now())

    # -- a batch --------------------------------------------------------------------------

    async def _send_batch(self, batch: _Batch) -> list[Outcome]:
        """Decide every row of the batch and send what is to be sent; the outcomes, not yet recorded."""
        now = self.clock.now()
        paused = {name: t for name, c in self.channels.items() if (t := self.paused_until(c)) is not None}
        outcomes: list[Outcome] = []
        groups: dict[tuple[str, int], list[tuple[Job, Decision]]] = defaultdict(list)
        for job in batch.jobs:
            decision = decide(
                message=job.message,
                series_status=job.series.status if job.series is not None else None,
                has_definition=job.definition is not None,
                contacts=job.contacts,
                answered=job.answered_infusions,
                channels=self.channels,
                paused=paused,
                now=now,
                contact_wait=self.contact_wait,
                alert_taken=job.alert_taken,
                oncall_number=self.renderer.oncall is not None,
            )
            if isinstance(decision, Send | SendToStaff | PageOncall):
                groups[job.recipient].append((job, decision))
            else:
                outcomes.append(self._settle(job, decision))
        renewal = Renewal([m.pk for m in batch.claimed], started=batch.claimed_at, lease=self.lease)
        for group in await asyncio.gather(*(self._deliver_group(g, renewal) for g in groups.values())):
            outcomes.extend(group)
        return outcomes

    def _settle(self, job: Job, decision: Decision) -> Outcome:
        match decision:
            case Close(status=status, reason=reason):
                return Outcome(job, status, reason)
            case WaitForContact(until=until):
                return Outcome(
                    job,
                    MessageStatus.PENDING,
                    WAITING_FOR_CONTACT,
                    send_at=until,
                    refund_attempt=True,
                    wait_for_contact=True,
                )
            case Paused(until=until):
                waited = self._waiting_out(until)
                return self._retry(Outcome(job, MessageStatus.PENDING), waited)
        raise AssertionError(f"not a settled decision: {decision!r}")

    async def _deliver_group(self, group: list[tuple[Job, Decision]], renewal: Renewal) -> list[Outcome]:
        """One recipient's rows, one at a time in scheduled order; other recipients run meanwhile."""
        async with self._slots:
            first = group[0][1]
            if isinstance(first, SendToStaff):
                return await deliver_to_staff(self, [job for job, _ in group], first.chat_id, renewal)
            if isinstance(first, PageOncall):
                return await page_oncall(self, [job for job, _ in group], renewal)
            lost: set[int] = set()
            outcomes = []
            for job, decision in group:
                if not isinstance(decision, Send):  # a recipient's rows all go one way
                    raise TypeError(f"a patient's group holds {decision!r}")
                if not await renewal.holds(self, job.message.pk):
                    continue
                message = job.message
                try:
                    with log_fields(message_id=message.pk, patient_id=message.patient_id, series_id=message.series_id):
                        outcomes.append(await deliver_to_patient(self, job, decision, lost))
                except Exception:
                    # Leave the row claimed: its lease expires and it is tried again.
                    log.exception("delivery of message %s crashed", job.message.id)
            return outcomes

    async def _record(self, outcomes: list[Outcome], batch: _Batch) -> list[Delivery]:
        """Record a batch's outcomes; its rows are no longer in flight, recorded or not (a crashed
        delivery's row stays claimed until its lease ends, then goes back to the queue)."""
        try:
            return await record_outcomes(
                outcomes,
                sessions=self.sessions,
                clock=self.clock,
                worker=self.name,
                channels=self.channels,
                staff=self.renderer.staff,
                listeners=self.listeners,
            )
        finally:
            self._in_flight.difference_update(m.pk for m in batch.claimed)
