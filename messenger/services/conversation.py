"""A patient's conversation with the clinic: every inbound message kept, staff replies, the inbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.domain.enums import ChannelName
from messenger.domain.models import ConversationEntry, Patient
from messenger.domain.triage import Level
from messenger.services import audit
from messenger.services.errors import ServiceError

INBOUND = "in"
OUTBOUND = "out"
_SEVERITY = {Level.CRISIS.value: 0, Level.URGENT.value: 1, Level.ROUTINE.value: 2}


@dataclass(frozen=True, slots=True)
class Inbound:
    """What a patient sent, as any channel gives it: text, or a description of media and its file id."""

    channel: ChannelName
    text: str | None
    media: str | None = None
    file_id: str | None = None


@dataclass(frozen=True, slots=True)
class InboxLine:
    patient: Patient
    waiting: int
    since: datetime
    # The most serious level among the waiting messages.
    level: Level


def record_inbound(
    session: AsyncSession, *, at: datetime, patient_id: int, inbound: Inbound, level: Level
) -> ConversationEntry:
    entry = ConversationEntry(
        patient_id=patient_id,
        at=at,
        direction=INBOUND,
        channel=inbound.channel,
        text=inbound.text,
        media=inbound.media,
        file_id=inbound.file_id,
        level=level.value,
    )
    session.add(entry)
    return entry


async def record_reply(
    session: AsyncSession, *, at: datetime, patient_id: int, channel: ChannelName, text: str, staff_user_id: int
) -> ConversationEntry:
    """Store a staff reply; it answers everything the patient had written until now."""
    entry = ConversationEntry(
        patient_id=patient_id,
        at=at,
        direction=OUTBOUND,
        channel=channel,
        text=text,
        staff_user_id=staff_user_id,
        handled_at=at,
    )
    session.add(entry)
    await _handle(session, at=at, patient_id=patient_id, staff_user_id=staff_user_id)
    audit.record(
        session,
        at=at,
        actor=audit.staff_actor(staff_user_id),
        action="inbox.reply",
        patient_id=patient_id,
        channel=channel.value,
        length=len(text),
    )
    return entry


async def mark_done(session: AsyncSession, *, at: datetime, patient_id: int, staff_user_id: int) -> int:
    """Mark a patient's waiting messages handled without a reply; returns how many."""
    if await session.get(Patient, patient_id) is None:
        raise ServiceError("unknown_patient", patient_id=patient_id)
    handled = await _handle(session, at=at, patient_id=patient_id, staff_user_id=staff_user_id)
    audit.record(
        session,
        at=at,
        actor=audit.staff_actor(staff_user_id),
        action="inbox.done",
        patient_id=patient_id,
        count=handled,
    )
    return handled


async def _handle(session: AsyncSession, *, at: datetime, patient_id: int, staff_user_id: int) -> int:
    result = await session.exec(
        update(ConversationEntry)
        .where(
            col(ConversationEntry.patient_id) == patient_id,
            col(ConversationEntry.direction) == INBOUND,
            col(ConversationEntry.handled_at).is_(None),
        )
        .values(handled_at=at, staff_user_id=staff_user_id)
    )
    return int(result.rowcount or 0)


async def inbox(session: AsyncSession) -> list[InboxLine]:
    """Patients with unanswered messages, the longest waiting first."""
    waiting = (
        await session.exec(
            select(
                ConversationEntry.patient_id,
                func.count(),
                func.min(ConversationEntry.at),
            )
            .where(ConversationEntry.direction == INBOUND, col(ConversationEntry.handled_at).is_(None))
            .group_by(col(ConversationEntry.patient_id))
        )
    ).all()
    levels = (
        await session.exec(
            select(ConversationEntry.patient_id, ConversationEntry.level)
            .where(ConversationEntry.direction == INBOUND, col(ConversationEntry.handled_at).is_(None))
            .distinct()
        )
    ).all()
    worst: dict[int, str] = {}
    for patient_id, level in levels:
        current = worst.get(patient_id, Level.ROUTINE.value)
        worst[patient_id] = min(current, level or Level.ROUTINE.value, key=_SEVERITY.__getitem__)
    patients = {
        p.pk: p
        for p in (await session.exec(select(Patient).where(col(Patient.id).in_([row[0] for row in waiting])))).all()
    }
    lines = [
        InboxLine(patients[patient_id], int(count), since, Level(worst[patient_id]))
        for patient_id, count, since in waiting
    ]
    return sorted(lines, key=lambda line: (line.since, line.patient.pk))


async def recent(session: AsyncSession, patient_id: int, *, limit: int = 5) -> list[ConversationEntry]:
    """The last ``limit`` entries of a patient's conversation, oldest first."""
    rows = await session.exec(
        select(ConversationEntry)
        .where(ConversationEntry.patient_id == patient_id)
        .order_by(col(ConversationEntry.at).desc(), col(ConversationEntry.id).desc())
        .limit(limit)
    )
    return list(reversed(rows.all()))


async def last_inbound_channel(session: AsyncSession, patient_id: int) -> ChannelName | None:
    """The channel the patient last wrote on: a reply goes back the way they came."""
    channel = (
        await session.exec(
            select(ConversationEntry.channel)
            .where(ConversationEntry.patient_id == patient_id, ConversationEntry.direction == INBOUND)
            .order_by(col(ConversationEntry.at).desc(), col(ConversationEntry.id).desc())
            .limit(1)
        )
    ).first()
    return None if channel is None else ChannelName(channel)


def entry_view(entry: ConversationEntry, when: str) -> dict[str, Any]:
    """One entry as a page shows it (the Telegram card, the dashboard), ``when`` already in the reader's format."""
    return {
        "when": when,
        "inbound": entry.direction == INBOUND,
        "outgoing": entry.direction == OUTBOUND,
        "channel": entry.channel.value,
        "level": entry.level,
        "media": entry.media,
        "text": entry.text,
        "handled": entry.handled_at is not None,
    }
