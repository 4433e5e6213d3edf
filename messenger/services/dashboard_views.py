"""What the staff dashboard reads: a patient search, a patient's timeline, open alerts, a reschedule's preview."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.clock import Clock
from messenger.db import SessionFactory
from messenger.domain import bounds
from messenger.domain.catalog import SeriesCatalog
from messenger.domain.enums import InfusionStatus, MessageStatus, SeriesStatus
from messenger.domain.models import Answer, ConversationEntry, Infusion, Message, Patient, Series, StaffAlert
from messenger.domain.timing import QuietHours
from messenger.domain.wording import Phrase
from messenger.services import changes
from messenger.services.reports import PatientLine

SEARCH_LIMIT = 100


@dataclass(frozen=True, slots=True)
class Move:
    """One message a reschedule would move: when it would go before and after."""

    step_key: str
    before: datetime
    after: datetime
    # SKIPPED when the new time leaves it no moment to be sent.
    status: MessageStatus


@dataclass(frozen=True, slots=True)
class ReschedulePreview:
    moves: list[Move]
    warning: Phrase | None


async def search_patients(
    session: AsyncSession, *, query: str, status: SeriesStatus | None, now: datetime
) -> list[PatientLine]:
    """Patients whose name contains ``query`` (or whose id it is), newest first, with their next infusion."""
    statement = select(Patient).where(col(Patient.erased_at).is_(None))
    text = query.strip()
    if text:
        number = bounds.ascii_int(text.removeprefix("#"), maximum=bounds.MAX_ROW_ID)
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        matches = col(Patient.name).ilike(f"%{escaped}%", escape="\\")
        statement = statement.where(or_(matches, col(Patient.id) == number) if number is not None else matches)
    patients = (await session.exec(statement.order_by(col(Patient.id).desc()).limit(SEARCH_LIMIT))).all()
    # Three queries for the whole page, not two per patient: the list is read at every glance.
    latest: dict[int, Series] = {}
    for row in (
        await session.exec(
            select(Series).where(col(Series.patient_id).in_([p.pk for p in patients])).order_by(col(Series.id))
        )
    ).all():
        latest[row.patient_id] = row
    upcoming: dict[int, Infusion] = {}
    for infusion in (
        await session.exec(
            select(Infusion)
            .where(
                col(Infusion.series_id).in_([s.pk for s in latest.values()]),
                col(Infusion.scheduled_at) > now,
                col(Infusion.status) != InfusionStatus.CANCELLED,
            )
            .order_by(col(Infusion.number).desc())
        )
    ).all():
        upcoming[infusion.series_id] = infusion
    lines = []
    for patient in patients:
        series = latest.get(patient.pk)
        if status is not None and (series is None or series.status is not status):
            continue
        lines.append(PatientLine(patient, series, upcoming.get(series.pk) if series else None))
    return lines


async def timeline(session: AsyncSession, patient_id: int) -> list[Message]:
    """Every message for the patient (sent, pending, held, skipped or failed), in the order they go."""
    rows = await session.exec(
        select(Message)
        .where(Message.patient_id == patient_id, col(Message.staff_chat_id).is_(None))
        .order_by(col(Message.send_at), col(Message.id))
    )
    return list(rows.all())


async def conversation_of(session: AsyncSession, patient_id: int) -> list[ConversationEntry]:
    rows = await session.exec(
        select(ConversationEntry)
        .where(ConversationEntry.patient_id == patient_id)
        .order_by(col(ConversationEntry.at), col(ConversationEntry.id))
    )
    return list(rows.all())


async def agenda(session: AsyncSession, *, now: datetime, end: datetime) -> list[tuple[Message, Patient]]:
    """Every patient message due to go before ``end``, by time: first those due before ``now`` and still
    not sent (overdue: the dispatcher is behind, or stopped), then what is due from ``now`` on."""
    rows = await session.exec(
        select(Message, Patient)
        .join(Patient, col(Patient.id) == Message.patient_id)
        .where(
            or_(
                col(Message.status) == MessageStatus.PENDING,
                # Held rows wait for the series to resume: late is what they are meant to be.
                and_(col(Message.status) == MessageStatus.HELD, col(Message.send_at) >= now),
            ),
            col(Message.staff_chat_id).is_(None),
            col(Message.send_at) < end,
        )
        .order_by(col(Message.send_at), col(Message.id))
    )
    return list(rows.all())


async def answers_of(session: AsyncSession, patient_id: int) -> list[Answer]:
    rows = await session.exec(
        select(Answer).where(Answer.patient_id == patient_id).order_by(col(Answer.answered_at), col(Answer.id))
    )
    return list(rows.all())


async def patient_names(session: AsyncSession, ids: list[int]) -> dict[int, str]:
    rows = await session.exec(select(Patient.id, Patient.name).where(col(Patient.id).in_(ids)))
    return {patient_id: name for patient_id, name in rows.all() if patient_id is not None}


async def open_alerts(session: AsyncSession, patient_id: int | None = None) -> list[StaffAlert]:
    """Urgent alerts nobody has taken yet, the oldest first."""
    statement = select(StaffAlert).where(col(StaffAlert.urgent).is_(True), col(StaffAlert.acknowledged_at).is_(None))
    if patient_id is not None:
        statement = statement.where(StaffAlert.patient_id == patient_id)
    return list((await session.exec(statement.order_by(col(StaffAlert.created_at), col(StaffAlert.id)))).all())


async def preview_reschedule(
    *,
    sessions: SessionFactory,
    catalog: SeriesCatalog,
    clock: Clock,
    quiet_hours: QuietHours,
    patient_id: int,
    number: int,
    at: datetime,
) -> ReschedulePreview:
    """What moving infusion ``number`` to ``at`` would move: the real change, in a transaction rolled back.

    The same service decides as when it is confirmed, so the preview cannot disagree with the rules
    (a refusal raises the same ServiceError).
    """
    async with sessions() as session:
        try:
            series = await changes.latest_series(session, patient_id)
            before = {m.step_key: (m.send_at, m.status) for m in await _steps_of(session, series.pk, number)}
            result = await changes.reschedule_infusion(
                session=session,
                catalog=catalog,
                clock=clock,
                quiet_hours=quiet_hours,
                series=series,
                number=number,
                at=at,
                actor="preview",
            )
            await session.flush()
            moves = [
                Move(m.step_key, before[m.step_key][0], m.send_at, m.status)
                for m in await _steps_of(session, series.pk, number)
                if m.step_key in before and before[m.step_key] != (m.send_at, m.status)
            ]
        finally:
            await session.rollback()
    return ReschedulePreview(moves=moves, warning=result.warning)


@dataclass(frozen=True, slots=True)
class CancelPreview:
    """What cancelling a series would end: its messages not sent yet, its infusions not begun."""

    messages: int
    infusions: int


async def preview_cancel(*, sessions: SessionFactory, clock: Clock, patient_id: int) -> CancelPreview:
    """What cancelling the patient's series would end: the real change, in a transaction rolled back
    (like :func:`preview_reschedule`, it cannot disagree with the confirmed cancel)."""
    async with sessions() as session:
        try:
            series = await changes.latest_series(session, patient_id)
            before = await _cancelled_infusions(session, series.pk)
            messages = await changes.cancel(session=session, clock=clock, series=series, actor="preview")
            infusions = await _cancelled_infusions(session, series.pk) - before
        finally:
            await session.rollback()
    return CancelPreview(messages=messages, infusions=infusions)


async def _cancelled_infusions(session: AsyncSession, series_id: int) -> int:
    statement = select(func.count()).where(
        col(Infusion.series_id) == series_id, col(Infusion.status) == InfusionStatus.CANCELLED
    )
    return int((await session.exec(statement)).one())


async def _steps_of(session: AsyncSession, series_id: int, number: int) -> list[Message]:
    rows = await session.exec(
        select(Message)
        .where(Message.series_id == series_id, Message.infusion_number == number)
        .order_by(col(Message.send_at), col(Message.id))
    )
    return list(rows.all())
