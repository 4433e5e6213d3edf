"""The outbox in SQL: claim due rows, record outcomes, renew and release claims.

What a claimed row needs for its delivery is loaded apart (``jobs``).

Claiming is one atomic ``UPDATE … WHERE id IN (due rows) RETURNING *``: on PostgreSQL the
inner select takes ``FOR UPDATE SKIP LOCKED`` so several processes share the queue without
waiting on each other; SQLite serialises writers, so the same statement is atomic there too.
Rows are taken by priority class, then by due time (``ix_message_claim``), so a row deferred
by a retry or a pause keeps its place in its class. Recording is guarded by the claim, so a row
whose lease was taken over is never recorded twice.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, bindparam, case, exists, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.channels.base import Content
from messenger.domain.enums import ChannelName, MessageStatus, SeriesStatus
from messenger.domain.models import Contact, Message, Patient, Series
from messenger.scheduling.dispatcher.jobs import Job

OPEN = (MessageStatus.PENDING, MessageStatus.SENDING, MessageStatus.HELD)
_table = Message.__table__  # type: ignore[attr-defined]


@dataclass(slots=True)
class Outcome:
    """What became of one claimed row, to be written with the rest of its batch."""

    job: Job
    status: MessageStatus
    reason: str | None = None
    channel: ChannelName | None = None
    contact: Contact | None = None
    provider_id: str | None = None
    content: Content | None = None
    send_at: datetime | None = None
    refund_attempt: bool = False
    wait_for_contact: bool = False
    lost: list[Contact] = field(default_factory=list)
    send_seconds: float | None = None

    def sent(self, provider_id: str | None, content: Content) -> None:
        """The row went out: what the provider calls it and what it carried."""
        self.status, self.provider_id, self.content = MessageStatus.SENT, provider_id, content


async def claim(session: AsyncSession, *, worker: str, now: datetime, lease: timedelta, limit: int) -> list[Message]:
    """Take up to ``limit`` due rows, urgent first, then by due time; returns them as claimed."""
    due = (
        select(Message.id)
        .where(
            col(Message.status) == MessageStatus.PENDING,
            col(Message.send_at) <= now,
            # send_at is never before due_at: lets the claim index bound each class by due time.
            col(Message.due_at) <= now,
        )
        .order_by(col(Message.priority), col(Message.due_at), col(Message.id))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    result = await session.exec(
        update(Message)
        .where(col(Message.id).in_(due.scalar_subquery()))
        .values(
            status=MessageStatus.SENDING,
            claimed_by=worker,
            lease_until=now + lease,
            attempts=Message.attempts + 1,
            updated_at=now,
        )
        .returning(Message)
        .execution_options(synchronize_session=False)
    )
    # RETURNING comes in no particular order.
    return sorted(result.scalars().all(), key=lambda m: (m.priority, m.due_at, m.pk))


def recorded_values(outcome: Outcome, now: datetime) -> dict[str, Any]:
    """Every column an outcome writes, so a whole batch is one statement run many times."""
    message = outcome.job.message
    sent = outcome.status is MessageStatus.SENT
    changed_channel = outcome.channel is not None
    return {
        "status": outcome.status,
        # A fresh send: an earlier provider report no longer applies.
        "last_error": None if sent else outcome.reason,
        "sent_at": now if sent else message.sent_at,
        "provider_id": outcome.provider_id if sent else message.provider_id,
        "provider_status": None if sent else message.provider_status,
        "channel": outcome.channel if changed_channel else message.channel,
        "contact_id": (outcome.contact.id if outcome.contact else None) if changed_channel else message.contact_id,
        "send_at": outcome.send_at or message.send_at,
        "attempts": message.attempts - 1 if outcome.refund_attempt else message.attempts,
        "updated_at": now,
        "claimed_by": None,
        "lease_until": None,
    }


_RECORDED = (
    "status",
    "last_error",
    "sent_at",
    "provider_id",
    "provider_status",
    "channel",
    "contact_id",
    "send_at",
    "attempts",
    "updated_at",
    "claimed_by",
    "lease_until",
)
# One UPDATE run once per row of the batch (executemany), guarded by this process's claim.
_RECORD = (
    update(_table)
    .where(
        _table.c.id == bindparam("row_id"),
        _table.c.claimed_by == bindparam("worker"),
        _table.c.status == MessageStatus.SENDING,
    )
    .values({name: bindparam(f"v_{name}", type_=_table.c[name].type) for name in _RECORDED})
)


async def record(
    session: AsyncSession,
    outcomes: Sequence[Outcome],
    *,
    worker: str,
    now: datetime,
    channels: Iterable[ChannelName],
) -> list[Message]:
    """Write every outcome of a batch; returns each row as recorded (same order)."""
    recorded, params = [], []
    for outcome in outcomes:
        values = recorded_values(outcome, now)
        recorded.append(outcome.job.message.model_copy(update=values))
        if outcome.wait_for_contact:
            await _wait_for_contact(session, outcome, values, worker, list(channels))
        else:
            params.append(
                {"row_id": outcome.job.message.id, "worker": worker} | {f"v_{k}": values[k] for k in _RECORDED}
            )
    if params:
        # Rows are locked in id order, as erasure locks them: two writers never wait on each other in a circle.
        params.sort(key=lambda row: row["row_id"])
        connection = await session.connection()
        await connection.execute(_RECORD, params)
    return recorded


async def _wait_for_contact(
    session: AsyncSession, outcome: Outcome, values: dict[str, Any], worker: str, channels: list[ChannelName]
) -> None:
    # A patient who links a contact while this runs must not wait: if a usable contact exists
    # when the row is written, the message is due at once (the linking side releases rows
    # already marked waiting).
    message = outcome.job.message
    # Linking a contact takes the same lock (release_waiting): whichever commits second sees the other.
    await session.exec(select(Patient.id).where(col(Patient.id) == message.patient_id).with_for_update())
    linked = exists().where(col(Contact.patient_id) == message.patient_id, col(Contact.channel).in_(channels))
    send_at: ColumnElement[datetime] = case((linked, values["updated_at"]), else_=values["send_at"])
    await session.exec(
        update(Message)
        .where(
            col(Message.id) == message.id,
            col(Message.claimed_by) == worker,
            col(Message.status) == MessageStatus.SENDING,
        )
        .values({**values, "send_at": send_at})
    )


async def mark_lost(session: AsyncSession, contact: Contact, now: datetime) -> bool:
    """Record a contact found dead or opted out; True only for the send that found it first.

    The condition on the contact's current state makes "cannot be reached" one event per
    episode, however many messages (or processes) run into the same blocked chat.
    """
    was_fine = col(Contact.opted_out).is_(False) if contact.opted_out else col(Contact.reachable).is_(True)
    result = await session.exec(
        update(Contact)
        .where(col(Contact.id) == contact.id, was_fine)
        .values(
            reachable=contact.reachable,
            opted_out=contact.opted_out,
            status_reason=contact.status_reason,
            updated_at=now,
        )
    )
    return bool(result.rowcount == 1)


async def complete_series(session: AsyncSession, series_ids: Iterable[int], now: datetime) -> set[int]:
    """Series whose last open row was just recorded are complete: one statement for the batch; returns their ids."""
    ids = sorted(set(series_ids))
    if not ids:
        return set()
    still_open = exists().where(col(Message.series_id) == Series.id, col(Message.status).in_(OPEN))
    # A series nothing reached is not "completed": it stays open for staff to act on.
    reached = exists().where(col(Message.series_id) == Series.id, col(Message.status) == MessageStatus.SENT)
    result = await session.exec(
        update(Series)
        .where(col(Series.id).in_(ids), col(Series.status) == SeriesStatus.ACTIVE, ~still_open, reached)
        .values(status=SeriesStatus.COMPLETED, status_changed_at=now)
        .returning(col(Series.id))
        .execution_options(synchronize_session=False)
    )
    return set(result.scalars().all())


async def renew(session: AsyncSession, ids: Sequence[int], *, worker: str, now: datetime, lease: timedelta) -> set[int]:
    """Extend this process's claims still in hand (during long sends only); returns those it still holds."""
    result = await session.exec(
        update(Message)
        .where(
            col(Message.id).in_(ids),
            col(Message.claimed_by) == worker,
            col(Message.status) == MessageStatus.SENDING,
            col(Message.lease_until) > now,
        )
        .values(lease_until=now + lease)
        .returning(col(Message.id))
    )
    return set(result.scalars().all())


async def requeue_expired(session: AsyncSession, *, now: datetime, keep: Collection[int] = ()) -> int:
    """Claims whose lease ran out (their process died) go back to the queue; the attempt stays counted.

    ``keep``: rows the calling process is still working on (sent, say, and being recorded)."""
    result = await session.exec(
        update(Message)
        .where(
            col(Message.status) == MessageStatus.SENDING,
            col(Message.lease_until) <= now,
            col(Message.id).not_in(keep),
        )
        .values(status=MessageStatus.PENDING, claimed_by=None, lease_until=None, updated_at=now)
    )
    return int(result.rowcount or 0)


async def release(session: AsyncSession, *, worker: str, now: datetime) -> int:
    """Return this process's unfinished claims to the queue, their attempt not counted."""
    result = await session.exec(
        update(Message)
        .where(col(Message.status) == MessageStatus.SENDING, col(Message.claimed_by) == worker)
        .values(
            status=MessageStatus.PENDING,
            claimed_by=None,
            lease_until=None,
            attempts=Message.attempts - 1,
            updated_at=now,
        )
    )
    return int(result.rowcount or 0)


async def next_due_at(session: AsyncSession, *, requeue_from: datetime | None = None) -> datetime | None:
    """When the next row falls due (or a claim expires), if ever.

    ``requeue_from``: the caller returns expired claims to the queue no earlier than this."""
    pending = (
        await session.exec(select(func.min(Message.send_at)).where(Message.status == MessageStatus.PENDING))
    ).one()
    lease = (
        await session.exec(select(func.min(Message.lease_until)).where(Message.status == MessageStatus.SENDING))
    ).one()
    if lease is not None and requeue_from is not None:
        lease = max(lease, requeue_from)
    candidates = [t for t in (pending, lease) if t is not None]
    return min(candidates) if candidates else None
