"""Contacts: opt-out and opt-in (first-class on every channel), and what happens when a patient links."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.clock import Clock
from messenger.domain.enums import ChannelName, MessageStatus, StepKind
from messenger.domain.models import Contact, Message, Patient
from messenger.domain.timing import PAST_NOT_AFTER, QuietHours, send_time_of
from messenger.services import audit

# The dispatcher's reason for holding back a message of a patient with no contact yet.
WAITING_FOR_CONTACT = "waiting for the patient to connect a contact"


async def find_contact(session: AsyncSession, *, patient_id: int, channel: ChannelName) -> Contact | None:
    return (
        await session.exec(select(Contact).where(Contact.patient_id == patient_id, Contact.channel == channel))
    ).first()


async def contact_at(session: AsyncSession, channel: ChannelName, address: str) -> Contact | None:
    """The contact with this address on this channel (the latest, if several patients share it)."""
    return (
        await session.exec(
            select(Contact)
            .where(Contact.channel == channel, Contact.address == address)
            .order_by(col(Contact.id).desc())
        )
    ).first()


async def set_opted_out(*, session: AsyncSession, clock: Clock, contact: Contact, opted_out: bool, reason: str) -> bool:
    """Record an opt-out (or opt-in) on the contact; returns False if nothing changed.

    Opting in also revives a contact marked unreachable: the patient has just written from it.
    """
    if contact.opted_out == opted_out and (opted_out or contact.reachable):
        return False
    now = clock.now()
    contact.opted_out, contact.status_reason, contact.updated_at = opted_out, reason, now
    if not opted_out:
        contact.reachable = True
    audit.record(
        session,
        at=now,
        actor=audit.patient_actor(contact.patient_id),
        patient_id=contact.patient_id,
        action="contact.opt_out" if opted_out else "contact.opt_in",
        channel=contact.channel.value,
        reason=reason,
    )
    return True


async def release_waiting(*, session: AsyncSession, clock: Clock, quiet_hours: QuietHours, patient_id: int) -> int:
    """Messages held back for want of a contact become due: now, or when quiet hours end.

    Returns how many were released. A row the dispatcher has claimed meanwhile is left to it
    (every update is guarded by the waiting state), and one that can no longer go in time is
    skipped.
    """
    now = clock.now()
    # The dispatcher takes this lock before marking a row as waiting (outbox._wait_for_contact):
    # on PostgreSQL, without it each side could miss the other's uncommitted write.
    await session.exec(select(Patient.id).where(col(Patient.id) == patient_id).with_for_update())
    patient = await session.get(Patient, patient_id)
    if patient is None:
        return 0
    zone = ZoneInfo(patient.timezone)
    waiting = (
        await session.exec(
            select(Message).where(
                Message.patient_id == patient_id,
                Message.status == MessageStatus.PENDING,
                Message.last_error == WAITING_FOR_CONTACT,
            )
        )
    ).all()
    # Rows released together mostly share one time (now, or the morning): one UPDATE per time.
    by_time: dict[datetime | None, list[int]] = defaultdict(list)
    for message in waiting:
        when = send_time_of(message, zone=zone, quiet=quiet_hours, not_before=now)
        by_time[when].append(message.pk)
    released = 0
    for when, ids in by_time.items():
        values: dict[str, object] = {"send_at": when, "updated_at": now}
        if when is None:
            values = {"status": MessageStatus.SKIPPED, "last_error": PAST_NOT_AFTER, "updated_at": now}
        result = await session.exec(
            update(Message)
            .where(
                col(Message.id).in_(ids),
                col(Message.status) == MessageStatus.PENDING,
                col(Message.last_error) == WAITING_FOR_CONTACT,
            )
            .values(**values)
        )
        released += int(result.rowcount or 0) if when is not None else 0
    return released


async def welcome_due_now(*, session: AsyncSession, clock: Clock, patient_id: int, channel: ChannelName) -> bool:
    """The patient just opened their invite on ``channel``: their welcome, if not sent yet, goes there at once.

    The dispatcher sends it. Returns False if it went, or is going, elsewhere (by SMS, say):
    the patient gets their schedule instead.
    """
    now = clock.now()
    result = await session.exec(
        update(Message)
        .where(
            col(Message.patient_id) == patient_id,
            col(Message.kind) == StepKind.WELCOME,
            col(Message.status) == MessageStatus.PENDING,
        )
        .values(send_at=now, only_channel=channel, updated_at=now)
        .returning(col(Message.id))
    )
    if result.first() is not None:
        return True
    # A dispatcher holds it. With no other contact it can only be marking it as waiting for
    # one, and the contact just linked makes it due at once: it comes here.
    claimed = (
        await session.exec(
            select(Message.id).where(
                Message.patient_id == patient_id,
                Message.kind == StepKind.WELCOME,
                Message.status == MessageStatus.SENDING,
            )
        )
    ).first()
    elsewhere = (
        await session.exec(select(Contact.id).where(Contact.patient_id == patient_id, Contact.channel != channel))
    ).first()
    return claimed is not None and elsewhere is None
