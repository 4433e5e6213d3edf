"""Erasing a patient's personal data on request, and purging old free text after the retention period.

What stays after ``/forget``: the rows themselves (series, infusions, messages, answers, audit
events), so counts and statistics are unchanged; none of them then says who the patient was,
how to reach them, or what they or a provider wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.clock import Clock
from messenger.domain.bookkeeping import ReceivedUpdate
from messenger.domain.enums import ChannelName, MessageStatus
from messenger.domain.models import Contact, ConversationEntry, Invite, Message, Patient, StaffAlert
from messenger.services import audit
from messenger.services.conversation import INBOUND
from messenger.services.errors import ServiceError

# A row in flight is cancelled too: its claim is cleared below, so the sender's result cannot bring it back.
_UNSENT = (MessageStatus.PENDING, MessageStatus.HELD, MessageStatus.SENDING)


@dataclass(frozen=True, slots=True)
class Erased:
    patient_id: int
    contacts: int
    cancelled: int
    already: bool


@dataclass(frozen=True, slots=True)
class Purged:
    messages: int
    # Patients' own words (conversation entries) and the alerts that quoted them.
    conversation: int = 0
    alerts: int = 0
    # Telegram updates no process handled within the period (they may quote a patient).
    updates: int = 0


async def forget_patient(*, session: AsyncSession, clock: Clock, patient_id: int, actor: str) -> Erased:
    """Erase the patient's name, contacts, provider ids and free text; cancel what was not sent yet."""
    patient = await session.get(Patient, patient_id, with_for_update=True)
    if patient is None:
        raise ServiceError("unknown_patient", patient_id=patient_id)
    now = clock.now()
    already = patient.erased_at is not None
    # The patient first, then their rows in id order, the order the dispatcher records in: a send
    # recorded meanwhile waits for this transaction, or this one for it, never both for each other.
    await session.exec(
        select(Message.id).where(col(Message.patient_id) == patient_id).order_by(col(Message.id)).with_for_update()
    )
    # Messages point at contacts: detach them first, then the contacts can go.
    cancelled = await session.exec(
        update(Message)
        .where(col(Message.patient_id) == patient_id, col(Message.status).in_(_UNSENT))
        .values(status=MessageStatus.CANCELLED, updated_at=now)
    )
    await session.exec(
        update(Message)
        .where(col(Message.patient_id) == patient_id)
        # ``params`` holds what an alert quotes (the patient's own words, a reason with their number).
        .values(contact_id=None, provider_id=None, last_error=None, params=None, claimed_by=None, lease_until=None)
    )
    await _drop_unhandled_updates(session, patient_id=patient_id, now=now)
    removed = await session.exec(delete(Contact).where(col(Contact.patient_id) == patient_id))
    # What the patient wrote and staff replied stays as a dated, levelled entry, without its words or files.
    await session.exec(
        update(ConversationEntry).where(col(ConversationEntry.patient_id) == patient_id).values(text=None, file_id=None)
    )
    await session.exec(update(StaffAlert).where(col(StaffAlert.patient_id) == patient_id).values(text=""))
    await session.exec(
        update(Invite)
        .where(col(Invite.patient_id) == patient_id, col(Invite.used_at).is_(None), col(Invite.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    # The name column is required; the id is what staff see from now on.
    patient.name, patient.erased_at = f"#{patient_id}", patient.erased_at or now
    audit.record(
        session,
        at=now,
        actor=actor,
        action="forget",
        patient_id=patient_id,
        contacts=removed.rowcount,
        cancelled=cancelled.rowcount,
    )
    return Erased(patient_id, removed.rowcount, cancelled.rowcount, already)


async def purge_expired(*, session: AsyncSession, clock: Clock, days: int) -> Purged:
    """Drop the free text of messages finished ``days`` ago: provider errors that may quote an address,
    and what staff alerts quoted (a patient's message)."""
    cutoff = clock.now() - timedelta(days=days)
    result = await session.exec(
        update(Message)
        .where(
            col(Message.updated_at) < cutoff,
            col(Message.status).not_in((MessageStatus.PENDING, MessageStatus.SENDING, MessageStatus.HELD)),
            or_(col(Message.last_error).is_not(None), col(Message.params).is_not(None)),
        )
        .values(last_error=None, params=None)
    )
    # A conversation entry keeps its words until someone has handled it, however old it is.
    conversation = await session.exec(
        update(ConversationEntry)
        .where(
            col(ConversationEntry.at) < cutoff,
            or_(col(ConversationEntry.direction) != INBOUND, col(ConversationEntry.handled_at).is_not(None)),
            or_(col(ConversationEntry.text).is_not(None), col(ConversationEntry.file_id).is_not(None)),
        )
        .values(text=None, file_id=None)
    )
    alerts = await session.exec(
        update(StaffAlert)
        .where(
            col(StaffAlert.created_at) < cutoff,
            or_(~col(StaffAlert.urgent), col(StaffAlert.acknowledged_at).is_not(None)),
            col(StaffAlert.text) != "",
        )
        .values(text="")
    )
    # Handled ones kept no payload (their ids go after a day); one unhandled all this time has nobody to handle it.
    updates = await session.exec(
        delete(ReceivedUpdate).where(col(ReceivedUpdate.received_at) < cutoff, col(ReceivedUpdate.handled_at).is_(None))
    )
    purged = Purged(result.rowcount, conversation.rowcount, alerts.rowcount, updates.rowcount)
    if purged.messages or purged.conversation or purged.alerts or purged.updates:
        audit.record(
            session,
            at=clock.now(),
            actor=audit.SYSTEM,
            action="retention.purge",
            messages=purged.messages,
            conversation=purged.conversation,
            alerts=purged.alerts,
            updates=purged.updates,
        )
    return purged


async def _drop_unhandled_updates(session: AsyncSession, *, patient_id: int, now: datetime) -> None:
    """What the patient sent by Telegram that no process has handled yet: dropped unread, as handled."""
    telegram = col(Contact.channel) == ChannelName.TELEGRAM
    chats = await session.exec(select(Contact.address).where(col(Contact.patient_id) == patient_id, telegram))
    chat_ids = [int(address) for address in chats.all() if address.lstrip("-").isdigit()]
    if chat_ids:
        await session.exec(
            update(ReceivedUpdate)
            .where(col(ReceivedUpdate.chat_id).in_(chat_ids), col(ReceivedUpdate.handled_at).is_(None))
            .values(payload=None, chat_id=None, handled_at=now)
        )
