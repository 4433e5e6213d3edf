"""The dispatcher: claim due outbox rows, render them, send them, record the outcome.

Claiming is one atomic ``UPDATE … WHERE id IN (due rows) RETURNING id``: on PostgreSQL
the inner select takes ``FOR UPDATE SKIP LOCKED`` so several processes share the queue
without waiting on each other; SQLite serialises writers, so the same statement is
atomic there too. A claim is a lease: rows of a process that died return to the queue
when it expires. Recording an outcome is guarded by the claim, so a row whose lease
was taken over is never recorded twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.channels.base import (
    Button,
    Channel,
    Content,
    Failed,
    Outgoing,
    RetryLater,
    SendOutcome,
    Sent,
)
from messenger.channels.failures import FailureCode
from messenger.clock import Clock
from messenger.db import SessionFactory
from messenger.domain.catalog import SeriesCatalog
from messenger.domain.enums import ChannelName, MessageStatus, QuietPolicy, SeriesStatus
from messenger.domain.models import Contact, Infusion, Message, Patient, Series
from messenger.domain.series import SeriesDefinition
from messenger.domain.timing import QuietHours
from messenger.observability.log_fields import bind_log_fields, log_fields
from messenger.rendering.compose import Composer
from messenger.rendering.context import Clinic, message_context
from messenger.rendering.environment import TemplateRenderError
from messenger.services.contacts import WAITING_FOR_CONTACT

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter: base·2^(attempt-1), capped, ±jitter."""

    base: float = 30.0
    cap: float = 3600.0
    jitter: float = 0.2
    max_attempts: int = 8

    def delay(self, attempt: int, rng: random.Random) -> float:
        raw = min(self.cap, self.base * 2 ** max(0, attempt - 1))
        return raw * (1 + rng.uniform(-self.jitter, self.jitter))


@dataclass(frozen=True, slots=True)
class Delivery:
    """What happened to one message; listeners (demo, staff alerts, metrics) receive these."""

    message: Message
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


DeliveryListener = Callable[[Delivery], Awaitable[None]]
# The buttons a message carries on channels that have them (reminders, check-ins).
ButtonFactory = Callable[[Message, str], tuple[tuple[Button, ...], ...]]
# Files a message carries on channels with rich content (an infusion's calendar invitation by e-mail):
# (message, the series' infusion times, the patient's locale) → (file name, bytes, MIME type) tuples.
AttachmentFactory = Callable[[Message, list[datetime], str], tuple[tuple[str, bytes, str], ...]]


@dataclass
class DispatchReport:
    counts: Counter[str] = field(default_factory=Counter)
    worst_lateness: timedelta = timedelta(0)

    def add(self, delivery: Delivery) -> None:
        self.counts[delivery.status.value] += 1
        if delivery.status is MessageStatus.SENT:
            self.worst_lateness = max(self.worst_lateness, delivery.at - delivery.message.send_at)

    @property
    def handled(self) -> int:
        return sum(self.counts.values())


class Reach(Enum):
    """How a patient can be reached on the channels this process has."""

    REACHABLE = "reachable"
    NOT_LINKED = "not linked"  # no contact on a configured channel yet (invite not opened)
    OPTED_OUT = "opted out"
    LOST = "lost"  # every contact is unreachable


@dataclass(slots=True)
class _Job:
    message: Message
    series: Series
    patient: Patient
    definition: SeriesDefinition | None
    infusion_times: list[datetime]
    contacts: list[Contact]
    reach: Reach
    # Infusions the patient confirmed or asked to move.
    answered_infusions: frozenset[int]
    not_held: frozenset[int] = frozenset()  # infusions that did not take place


def default_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{random.getrandbits(24):06x}"


class Dispatcher:
    def __init__(
        self,
        *,
        sessions: SessionFactory,
        clock: Clock,
        channels: Mapping[ChannelName, Channel],
        composer: Composer,
        catalog: SeriesCatalog,
        clinic: Clinic,
        quiet_hours: QuietHours,
        retry: RetryPolicy = RetryPolicy(),
        batch_size: int = 50,
        lease: timedelta = timedelta(minutes=5),
        contact_wait: timedelta = timedelta(minutes=30),
        send_timeout: float = 60.0,
        concurrency: int = 8,
        name: str | None = None,
        listeners: Sequence[DeliveryListener] = (),
        buttons: ButtonFactory | None = None,
        attachments: AttachmentFactory | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.channels = dict(channels)
        self.composer = composer
        self.catalog = catalog
        self.clinic = clinic
        self.quiet_hours = quiet_hours
        self.retry = retry
        self.batch_size = batch_size
        self.lease = lease
        self.contact_wait = contact_wait
        # A send must end well inside the lease, or another process could take the row mid-send.
        self.send_timeout = min(send_timeout, lease.total_seconds() / 2)
        self.name = name or default_worker_name()
        self.listeners = list(listeners)
        self.buttons = buttons
        self.attachments = attachments
        self._rng = rng or random.Random()
        self._slots = asyncio.Semaphore(concurrency)
        # A provider that asked the whole bot to slow down (Telegram's 429): no sends until then.
        self._channel_pause: dict[ChannelName, datetime] = {}
        self._stopping = False

    # -- the queue ----------------------------------------------------------------------

    async def run_due(self) -> DispatchReport:
        """Deliver everything due now, batch after batch; returns what happened."""
        report = DispatchReport()
        while not self._stopping:
            claimed = await self.claim(self.batch_size)
            if not claimed:
                break
            for delivery in await asyncio.gather(*(self._deliver_slot(i) for i in claimed)):
                if delivery is not None:
                    report.add(delivery)
        return report

    async def claim(self, limit: int) -> list[int]:
        """Atomically take up to ``limit`` due rows (or rows whose claim expired)."""
        now = self.clock.now()
        due = (
            select(Message.id)
            .where(
                or_(
                    and_(col(Message.status) == MessageStatus.PENDING, col(Message.send_at) <= now),
                    and_(col(Message.status) == MessageStatus.SENDING, col(Message.lease_until) < now),
                )
            )
            .order_by(col(Message.send_at), col(Message.id))
            .limit(limit)
        )
        async with self.sessions() as session, session.begin():
            if session.bind.dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            result = await session.exec(  # type: ignore[call-overload]
                update(Message)
                .where(col(Message.id).in_(due.scalar_subquery()))
                .values(
                    status=MessageStatus.SENDING,
                    claimed_by=self.name,
                    lease_until=now + self.lease,
                    attempts=Message.attempts + 1,
                    updated_at=now,
                )
                .returning(Message.id)
            )
            return sorted(result.scalars().all())

    async def next_due_at(self) -> datetime | None:
        """When the next row falls due (or a claim expires), if ever."""
        async with self.sessions() as session:
            pending = (
                await session.exec(select(func.min(Message.send_at)).where(Message.status == MessageStatus.PENDING))
            ).one()
            lease = (
                await session.exec(select(func.min(Message.lease_until)).where(Message.status == MessageStatus.SENDING))
            ).one()
        candidates = [t for t in (pending, lease) if t is not None]
        return min(candidates) if candidates else None

    def stop(self) -> None:
        """Stop claiming; deliveries in flight finish."""
        self._stopping = True

    async def release_claims(self) -> int:
        """Return this dispatcher's unfinished claims to the queue (at shutdown); returns how many."""
        async with self.sessions() as session, session.begin():
            result = await session.exec(  # type: ignore[call-overload]
                update(Message)
                .where(col(Message.status) == MessageStatus.SENDING, col(Message.claimed_by) == self.name)
                .values(
                    status=MessageStatus.PENDING,
                    claimed_by=None,
                    lease_until=None,
                    attempts=Message.attempts - 1,
                    updated_at=self.clock.now(),
                )
            )
            return int(result.rowcount or 0)

    @property
    def stopping(self) -> bool:
        return self._stopping

    # -- one message ------------------------------------------------------------------

    async def _deliver_slot(self, message_id: int) -> Delivery | None:
        async with self._slots:
            try:
                with log_fields(message_id=message_id):
                    return await self.deliver(message_id)
            except Exception:
                # Leave the row claimed: its lease expires and it is tried again.
                log.exception("delivery of message %s crashed", message_id)
                return None

    async def deliver(self, message_id: int) -> Delivery | None:
        job = await self._load(message_id)
        if job is None:
            return None
        bind_log_fields(message_id=message_id, patient_id=job.patient.id, series_id=job.series.id)
        message, now = job.message, self.clock.now()
        if job.series.status is SeriesStatus.PAUSED:
            return await self._record(job, MessageStatus.HELD, reason="series paused")
        if job.series.status is not SeriesStatus.ACTIVE or job.definition is None:
            return await self._record(job, MessageStatus.CANCELLED, reason=f"series {job.series.status.value}")
        if message.not_after is not None and now > message.not_after:
            return await self._record(job, MessageStatus.SKIPPED, reason="past its not-after time")
        if message.only_channel is not None and message.infusion_number in job.answered_infusions:
            return await self._record(job, MessageStatus.SKIPPED, reason="the patient already answered the reminder")

        zone = ZoneInfo(job.patient.timezone)
        context = message_context(
            patient_name=job.patient.name,
            zone=zone,
            clinic=self.clinic,
            definition=job.definition,
            infusion_times=job.infusion_times,
            step_key=message.step_key,
            kind=message.kind,
            infusion_number=message.infusion_number,
            not_held=job.not_held,
        )
        if not job.contacts:
            if job.reach is Reach.NOT_LINKED:
                return await self._wait_for_contact(job)
            if job.reach is Reach.OPTED_OUT:
                return await self._record(job, MessageStatus.SKIPPED, reason="the patient opted out")
        lost: list[Contact] = []
        reason = "no reachable contact"
        for contact in job.contacts:
            channel = self.channels[contact.channel]
            paused_until = self._channel_pause.get(channel.name)
            if paused_until is not None and paused_until > now:
                outcome: SendOutcome = RetryLater(FailureCode.CHANNEL_PAUSED, (paused_until - now).total_seconds())
                return await self._retry(job, outcome, lost)
            try:
                content = self.composer.compose(
                    template=message.template,
                    capabilities=channel.capabilities,
                    locale=job.patient.locale,
                    context=context,
                )
            except TemplateRenderError as exc:
                log.error("message %s: template error: %s", message.id, exc)
                return await self._record(job, MessageStatus.FAILED, reason=f"template error: {exc}", lost=lost)
            if channel.capabilities.buttons and self.buttons is not None:
                content = replace(content, buttons=self.buttons(message, job.patient.locale))
            files = ()
            if channel.capabilities.html is not None and self.attachments is not None:
                files = self.attachments(message, job.infusion_times, job.patient.locale)
            outgoing = Outgoing(
                message_id=message.id or 0,
                address=contact.address,
                content=content,
                kind=message.kind,
                step_key=message.step_key,
                zone=zone,
                scheduled_for=message.send_at,
                recipient=job.patient.name,
                contact_id=contact.id,
                attachments=files,
            )
            started = time.perf_counter()
            outcome = await self._send(channel, outgoing)
            send_seconds = time.perf_counter() - started
            match outcome:
                case Sent(provider_id=provider_id):
                    return await self._record(
                        job,
                        MessageStatus.SENT,
                        channel=channel.name,
                        contact=contact,
                        provider_id=provider_id,
                        content=content,
                        lost=lost,
                        send_seconds=send_seconds,
                    )
                case RetryLater():
                    if outcome.after > 0:
                        self._channel_pause[channel.name] = self.clock.now() + timedelta(seconds=outcome.after)
                    return await self._retry(
                        job, outcome, lost, channel=channel.name, contact=contact, send_seconds=send_seconds
                    )
                case Failed():
                    reason = f"{channel.name.value}: {outcome.reason}"
                    if outcome.unreachable or outcome.opted_out:
                        contact.reachable = contact.reachable and not outcome.unreachable
                        contact.opted_out = contact.opted_out or outcome.opted_out
                        contact.status_reason = outcome.reason
                        lost.append(contact)
                    log.warning(
                        "message %s failed on %s: %s %s", message.id, channel.name.value, outcome.reason, outcome.detail
                    )
        return await self._record(job, MessageStatus.FAILED, reason=reason, lost=lost)

    async def _send(self, channel: Channel, outgoing: Outgoing) -> SendOutcome:
        try:
            return await asyncio.wait_for(channel.send(outgoing), timeout=self.send_timeout)
        except TimeoutError:
            return RetryLater(FailureCode.CHANNEL_TIMEOUT, params=(("seconds", f"{self.send_timeout:.0f}"),))
        except Exception as exc:  # a channel bug must not lose the message
            log.exception("channel %s raised while sending message %s", channel.name.value, outgoing.message_id)
            return RetryLater(FailureCode.CHANNEL_CRASHED, params=(("error", type(exc).__name__),))

    async def _wait_for_contact(self, job: _Job) -> Delivery:
        """The patient has not linked any contact yet: look again later, without using up attempts."""
        now, message = self.clock.now(), job.message
        at = now + self.contact_wait
        if message.not_after is not None and at > message.not_after:
            return await self._record(job, MessageStatus.SKIPPED, reason="the patient had no contact in time")
        # A patient who links a contact while this runs must not wait: if a usable contact exists
        # when the row is written, the message is due at once (the linking side releases rows
        # already marked waiting, so one of the two always sees the other).
        linked = exists().where(
            col(Contact.patient_id) == job.patient.id, col(Contact.channel).in_(list(self.channels))
        )
        return await self._record(
            job,
            MessageStatus.PENDING,
            reason=WAITING_FOR_CONTACT,
            send_at=case((linked, now), else_=at),
            attempts=message.attempts - 1,
        )

    async def _retry(
        self,
        job: _Job,
        outcome: RetryLater,
        lost: list[Contact],
        *,
        channel: ChannelName | None = None,
        contact: Contact | None = None,
        send_seconds: float | None = None,
    ) -> Delivery:
        message = job.message
        if message.attempts >= self.retry.max_attempts:
            return await self._record(
                job,
                MessageStatus.FAILED,
                channel=channel,
                contact=contact,
                lost=lost,
                reason=f"gave up after {message.attempts} attempts: {outcome.reason}",
                send_seconds=send_seconds,
            )
        now = self.clock.now()
        at = now + timedelta(seconds=max(outcome.after, self.retry.delay(message.attempts, self._rng)))
        if message.quiet is QuietPolicy.DEFER:
            at = self.quiet_hours.defer(at, ZoneInfo(job.patient.timezone))
        if message.not_after is not None and at > message.not_after:
            return await self._record(
                job,
                MessageStatus.SKIPPED,
                channel=channel,
                contact=contact,
                lost=lost,
                reason=f"could not be sent before its not-after time: {outcome.reason}",
                send_seconds=send_seconds,
            )
        return await self._record(
            job,
            MessageStatus.PENDING,
            channel=channel,
            contact=contact,
            lost=lost,
            reason=outcome.reason,
            send_at=at,
            send_seconds=send_seconds,
        )

    # -- the database -----------------------------------------------------------------

    async def _load(self, message_id: int) -> _Job | None:
        if not await self._renew_lease(message_id):
            log.warning("message %s: its claim expired before it was sent; another process may have it", message_id)
            return None
        async with self.sessions() as session:
            message = await session.get(Message, message_id)
            if message is None or message.status is not MessageStatus.SENDING or message.claimed_by != self.name:
                return None
            series = await session.get(Series, message.series_id)
            patient = await session.get(Patient, message.patient_id)
            assert series is not None and patient is not None
            infusions = (
                await session.exec(
                    select(Infusion).where(Infusion.series_id == series.id).order_by(col(Infusion.number))
                )
            ).all()
            every_contact = (
                await session.exec(
                    select(Contact)
                    .where(Contact.patient_id == patient.id)
                    .order_by(col(Contact.priority), col(Contact.id))
                )
            ).all()
        configured = [
            c for c in every_contact if c.channel in self.channels and message.only_channel in (None, c.channel)
        ]
        usable = [c for c in configured if c.reachable and not c.opted_out]
        if usable:
            reach = Reach.REACHABLE
        elif not configured:
            reach = Reach.NOT_LINKED
        elif all(c.opted_out for c in configured):
            reach = Reach.OPTED_OUT
        else:
            reach = Reach.LOST
        definition = self.catalog.get(series.definition_key) if series.definition_key in self.catalog else None
        answered = frozenset(i.number for i in infusions if i.responded_at is not None)
        not_held = frozenset(i.number for i in infusions if i.status.did_not_happen)
        times = [i.scheduled_at for i in infusions]
        return _Job(message, series, patient, definition, times, usable, reach, answered, not_held)

    async def _renew_lease(self, message_id: int) -> bool:
        """Extend this process's claim, only if it still holds it and the lease has not run out."""
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            result = await session.exec(  # type: ignore[call-overload]
                update(Message)
                .where(
                    col(Message.id) == message_id,
                    col(Message.claimed_by) == self.name,
                    col(Message.status) == MessageStatus.SENDING,
                    col(Message.lease_until) > now,
                )
                .values(lease_until=now + self.lease)
            )
            return result.rowcount == 1

    async def _record(
        self,
        job: _Job,
        status: MessageStatus,
        *,
        reason: str | None = None,
        channel: ChannelName | None = None,
        contact: Contact | None = None,
        provider_id: str | None = None,
        content: Content | None = None,
        lost: Sequence[Contact] = (),
        send_at: datetime | ColumnElement[datetime] | None = None,
        send_seconds: float | None = None,
        attempts: int | None = None,
    ) -> Delivery:
        message, now = job.message, self.clock.now()
        values: dict[str, object] = {
            "status": status,
            "claimed_by": None,
            "lease_until": None,
            "updated_at": now,
            "last_error": reason,
        }
        if status is MessageStatus.SENT:  # a fresh send: an earlier provider report no longer applies
            values |= {"sent_at": now, "provider_id": provider_id, "last_error": None, "provider_status": None}
        if channel is not None:
            values |= {"channel": channel, "contact_id": contact.id if contact else None}
        if send_at is not None:
            values["send_at"] = send_at
        if attempts is not None:
            values["attempts"] = attempts
        async with self.sessions() as session, session.begin():
            result = await session.exec(  # type: ignore[call-overload]
                update(Message)
                .where(
                    col(Message.id) == message.id,
                    col(Message.claimed_by) == self.name,
                    col(Message.status) == MessageStatus.SENDING,
                )
                .values(**values)
            )
            if result.rowcount != 1:
                log.warning("message %s: claim lost before its outcome (%s) was recorded", message.id, status)
            for dead in lost:
                await session.merge(dead)
            if status.is_final:
                await self._complete_if_done(session, job.series, now)
        recorded = message.model_copy(update={k: v for k, v in values.items() if not isinstance(v, ColumnElement)})
        delivery = Delivery(
            message=recorded,
            patient=job.patient,
            status=status,
            at=now,
            channel=channel,
            reason=reason,
            content=content,
            lost_contacts=tuple(lost),
            send_seconds=send_seconds,
        )
        log.info(
            "message %s (%s) → %s%s",
            message.id,
            message.step_key,
            status.value,
            f" via {channel.value}" if channel else "",
        )
        await self._notify(delivery)
        return delivery

    async def _complete_if_done(self, session: AsyncSession, series: Series, now: datetime) -> None:
        is_open = col(Message.status).in_([MessageStatus.PENDING, MessageStatus.SENDING, MessageStatus.HELD])
        open_rows, sent_rows = (
            await session.exec(
                select(
                    func.count().filter(is_open), func.count().filter(col(Message.status) == MessageStatus.SENT)
                ).where(Message.series_id == series.id)
            )
        ).one()
        if open_rows == 0 and sent_rows > 0:  # a series nothing reached stays open for staff to act on
            await session.exec(
                update(Series)
                .where(col(Series.id) == series.id, col(Series.status) == SeriesStatus.ACTIVE)
                .values(status=SeriesStatus.COMPLETED, status_changed_at=now)
            )

    async def _notify(self, delivery: Delivery) -> None:
        for listener in self.listeners:
            try:
                await listener(delivery)
            except Exception:
                log.exception("delivery listener %r failed", listener)
