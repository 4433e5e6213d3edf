"""The dispatcher: claim due rows, decide, send (one recipient at a time, recipients in parallel), record.

A batch costs a handful of statements whatever its size: the claim (one per priority class
that has due rows), four loads, one executemany for the outcomes and one completion check.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from messenger.channels.base import Channel, Failed, Outgoing, RetryLater, SendOutcome, Sent
from messenger.channels.failures import FailureCode, failure_text
from messenger.clock import Clock
from messenger.db import SessionFactory, transaction
from messenger.domain.catalog import SeriesCatalog
from messenger.domain.enums import ChannelName, MessageStatus, QuietPolicy
from messenger.domain.models import Message
from messenger.domain.timing import QuietHours
from messenger.observability.log_fields import log_fields
from messenger.rendering.environment import TemplateRenderError
from messenger.scheduling.dispatcher import outbox
from messenger.scheduling.dispatcher.decision import (
    NO_REACHABLE_CONTACT,
    STAFF_CHANNEL,
    Close,
    Decision,
    Paused,
    Send,
    SendToStaff,
    WaitForContact,
    decide,
)
from messenger.scheduling.dispatcher.events import Delivery, DeliveryListener, DispatchReport, notify
from messenger.scheduling.dispatcher.outbox import Job, Outcome
from messenger.scheduling.dispatcher.render import Renderer
from messenger.scheduling.dispatcher.retry import RetryPolicy, after_retry
from messenger.services.contacts import WAITING_FOR_CONTACT

log = logging.getLogger(__name__)


def default_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{random.getrandbits(24):06x}"


class Dispatcher:
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

    # -- the queue ----------------------------------------------------------------------

    async def run_due(self) -> DispatchReport:
        """Deliver everything due now, batch after batch; returns what happened."""
        report = DispatchReport()
        await self._requeue_expired()
        while not self._stopping and not self._all_paused():
            claimed = await self._claim(self.batch_size)
            if not claimed:
                break
            for delivery in await self._deliver_batch(claimed):
                report.add(delivery)
        return report

    async def _requeue_expired(self) -> None:
        """Claims of dead processes back to the queue: at most every half lease, not on every wake."""
        now = self.clock.now()
        if self._requeued_at is not None and now - self._requeued_at < self.lease / 2:
            return
        async with transaction(self.sessions) as session:
            await outbox.requeue_expired(session, now=now)
        self._requeued_at = now

    async def claim(self, limit: int) -> list[int]:
        """Atomically take up to ``limit`` due rows, urgent first; returns their ids."""
        return [m.pk for m in await self._claim(limit)]

    async def _claim(self, limit: int) -> list[Message]:
        async with transaction(self.sessions) as session:
            return await outbox.claim(session, worker=self.name, now=self.clock.now(), lease=self.lease, limit=limit)

    async def deliver(self, message_id: int) -> Delivery | None:
        """Deliver one row this process has claimed (None if its claim is gone)."""
        async with self.sessions() as session:
            row = await session.get(Message, message_id)
        if row is None or row.status is not MessageStatus.SENDING or row.claimed_by != self.name:
            return None
        if row.lease_until is None or row.lease_until <= self.clock.now():
            log.warning("message %s: its claim expired before it was sent; another process may have it", message_id)
            return None
        deliveries = await self._deliver_batch([row])
        return deliveries[0] if deliveries else None

    async def next_due_at(self) -> datetime | None:
        """When the next row falls due (or a claim expires, or a pause ends), if ever."""
        async with self.sessions() as session:
            due = await outbox.next_due_at(session)
        pause = self._all_paused()
        return max(due, pause) if due is not None and pause is not None else due

    def stop(self) -> None:
        """Stop claiming; deliveries in flight finish."""
        self._stopping = True

    @property
    def concurrency(self) -> int:
        """How many recipients are served at once (each recipient's rows still go one at a time)."""
        return self._concurrency

    @concurrency.setter
    def concurrency(self, value: int) -> None:
        self._concurrency = value
        self._slots = asyncio.Semaphore(value)

    @property
    def stopping(self) -> bool:
        return self._stopping

    async def release_claims(self) -> int:
        """Return this dispatcher's unfinished claims to the queue (at shutdown); returns how many."""
        async with transaction(self.sessions) as session:
            return await outbox.release(session, worker=self.name, now=self.clock.now())

    # -- pauses ---------------------------------------------------------------------------

    def paused_until(self, channel: Channel) -> datetime | None:
        """The end of the provider's pause on this channel's account, if it is paused now."""
        pacer = getattr(channel, "pacer", None)
        ends = [self._channel_pause.get(channel.name), pacer.paused_until() if pacer is not None else None]
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

    # -- a batch --------------------------------------------------------------------------

    async def _deliver_batch(self, claimed: Sequence[Message]) -> list[Delivery]:
        async with self.sessions() as session:
            jobs = await outbox.load(session, claimed, self.catalog)
        now = self.clock.now()
        paused = {name: t for name, c in self.channels.items() if (t := self.paused_until(c)) is not None}
        outcomes: list[Outcome] = []
        groups: dict[tuple[str, int], list[tuple[Job, Decision]]] = defaultdict(list)
        for job in jobs:
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
            )
            if isinstance(decision, Send | SendToStaff):
                groups[job.recipient].append((job, decision))
            else:
                outcomes.append(self._settle(job, decision))
        renewal = _Renewal([m.pk for m in claimed], started=now, lease=self.lease)
        for group in await asyncio.gather(*(self._deliver_group(g, renewal) for g in groups.values())):
            outcomes.extend(group)
        return await self._record(outcomes)

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

    async def _deliver_group(self, group: list[tuple[Job, Decision]], renewal: _Renewal) -> list[Outcome]:
        """One recipient's rows, one at a time in scheduled order; other recipients run meanwhile."""
        async with self._slots:
            first = group[0][1]
            if isinstance(first, SendToStaff):
                return await self._deliver_to_staff([job for job, _ in group], first.chat_id, renewal)
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
                        outcomes.append(await self._deliver_to_patient(job, decision, lost))
                except Exception:
                    # Leave the row claimed: its lease expires and it is tried again.
                    log.exception("delivery of message %s crashed", job.message.id)
            return outcomes

    async def _deliver_to_patient(self, job: Job, decision: Send, lost: set[int]) -> Outcome:
        outcome = Outcome(job, MessageStatus.FAILED, NO_REACHABLE_CONTACT)
        for contact in decision.contacts:
            if contact.id in lost:  # found dead by an earlier row of this batch
                continue
            channel = self.channels[contact.channel]
            until = self.paused_until(channel)
            if until is not None:
                return self._retry(outcome, self._waiting_out(until))
            try:
                outgoing = self.renderer.for_patient(job, channel, contact, self.clock.now())
            except TemplateRenderError as exc:
                log.error("message %s: template error: %s", job.message.id, exc)
                where = f"{exc.path}:{exc.line}" if exc.line else exc.path
                outcome.reason = failure_text(FailureCode.TEMPLATE_ERROR, (("where", where), ("problem", exc.problem)))
                return outcome
            result, seconds = await self._send(channel, outgoing)
            outcome.channel, outcome.contact, outcome.send_seconds = channel.name, contact, seconds
            match result:
                case Sent(provider_id=provider_id):
                    outcome.status, outcome.provider_id, outcome.content = (
                        MessageStatus.SENT,
                        provider_id,
                        outgoing.content,
                    )
                    return outcome
                case RetryLater():
                    if result.after > 0:
                        self._pause(channel, result.after)
                    return self._retry(outcome, result)
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

    async def _deliver_to_staff(self, jobs: list[Job], chat_id: int, renewal: _Renewal) -> list[Outcome]:
        """Alerts to one staff chat: one at a time, or one digest when more than a few wait."""
        channel = self.channels[STAFF_CHANNEL]
        # An urgent alert's copy goes on its own: its button and later edits are about it alone.
        alone = [[job] for job in jobs if job.message.alert_id is not None]
        rest = [job for job in jobs if job.message.alert_id is None]
        batches = alone + ([rest] if len(rest) > self.digest_after else [[job] for job in rest])
        outcomes = []
        for batch in batches:
            batch = [job for job in batch if await renewal.holds(self, job.message.pk)]
            if not batch:
                continue
            until = self.paused_until(channel)
            if until is not None:
                waited = self._waiting_out(until)
                outcomes += [self._retry(Outcome(job, MessageStatus.PENDING), waited) for job in batch]
                continue
            outgoing = self.renderer.for_staff(batch, chat_id)
            result, seconds = await self._send(channel, outgoing)
            for job in batch:
                outcome = Outcome(job, MessageStatus.FAILED, channel=channel.name, send_seconds=seconds)
                match result:
                    case Sent(provider_id=provider_id):
                        outcome.status, outcome.provider_id, outcome.content = (
                            MessageStatus.SENT,
                            provider_id,
                            outgoing.content,
                        )
                    case RetryLater():
                        outcome = self._retry(outcome, result)
                    case Failed():
                        outcome.reason = f"{channel.name.value}: {result.reason}"
                outcomes.append(outcome)
            if isinstance(result, RetryLater) and result.after > 0:
                self._pause(channel, result.after)
        return outcomes

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

    # -- recording ------------------------------------------------------------------------

    async def _record(self, outcomes: list[Outcome]) -> list[Delivery]:
        """Every outcome of the batch, the contacts found lost and the alerts they cause: one transaction."""
        if not outcomes:
            return []
        now = self.clock.now()
        async with transaction(self.sessions) as session:
            recorded = await outbox.record(session, outcomes, worker=self.name, now=now, channels=self.channels)
            staff = self.renderer.staff
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
                await notify(self.listeners, delivery)
            deliveries.append(delivery)
        return deliveries


def _undeliverable(outcome: Outcome) -> bool:
    """A patient's message failed for a reason staff have not been told yet (a lost contact has its own alert)."""
    return (
        outcome.status is MessageStatus.FAILED
        and outcome.job.message.staff_chat_id is None
        and not outcome.lost
        and outcome.reason != NO_REACHABLE_CONTACT
    )


class _Renewal:
    """A batch's claims, renewed during long sends (a paced burst) before half the lease is gone.

    No renewal right after the claim: a batch that goes out quickly costs no extra statement.
    A row whose lease ran out before it could be renewed may be another process's now: skipped.
    """

    def __init__(self, ids: list[int], *, started: datetime, lease: timedelta) -> None:
        self.held = set(ids)
        self.renewed = started
        self.expires = started + lease
        self._lock = asyncio.Lock()

    async def holds(self, dispatcher: Dispatcher, message_id: int) -> bool:
        async with self._lock:
            now = dispatcher.clock.now()
            if now - self.renewed >= dispatcher.lease / 2:
                if now >= self.expires:
                    self.held.clear()
                else:
                    async with transaction(dispatcher.sessions) as session:
                        self.held = await outbox.renew(
                            session, sorted(self.held), worker=dispatcher.name, now=now, lease=dispatcher.lease
                        )
                    self.renewed, self.expires = now, now + dispatcher.lease
        if message_id not in self.held:
            log.warning("message %s: its claim expired before it was sent; another process may have it", message_id)
            return False
        return True
