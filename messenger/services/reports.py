"""Read-only views for staff and patients: lists, a patient's card, schedules, daily figures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.domain.enums import InfusionStatus, MessageStatus, SeriesStatus
from messenger.domain.models import Answer, Contact, Infusion, Message, Patient, Series
from messenger.domain.timing import from_wall, local_wall
from messenger.services.errors import ServiceError


@dataclass(frozen=True, slots=True)
class PatientLine:
    patient: Patient
    series: Series | None
    next_infusion: Infusion | None


@dataclass(frozen=True, slots=True)
class PatientCard:
    patient: Patient
    series: Series | None
    contacts: list[Contact]
    infusions: list[Infusion]
    next_messages: list[Message]
    answers: list[Answer]


@dataclass(frozen=True, slots=True)
class Stats:
    patients_by_status: dict[str, int]
    messages_today: dict[str, int]
    pending: int


async def patient_page(session: AsyncSession, *, page: int, size: int, now: datetime) -> tuple[list[PatientLine], int]:
    total = (await session.exec(select(func.count()).select_from(Patient))).one()
    patients = (
        await session.exec(select(Patient).order_by(col(Patient.id).desc()).offset((page - 1) * size).limit(size))
    ).all()
    lines = []
    for patient in patients:
        series = await latest_series_of(session, patient.pk)
        upcoming = await upcoming_infusions(session, series, now) if series else []
        lines.append(PatientLine(patient, series, upcoming[0] if upcoming else None))
    return lines, int(total)


async def latest_series_of(session: AsyncSession, patient_id: int) -> Series | None:
    return (
        await session.exec(
            select(Series).where(Series.patient_id == patient_id).order_by(col(Series.id).desc()).limit(1)
        )
    ).first()


async def upcoming_infusions(session: AsyncSession, series: Series, now: datetime) -> list[Infusion]:
    rows = await session.exec(
        select(Infusion)
        .where(
            Infusion.series_id == series.id,
            col(Infusion.scheduled_at) > now,
            col(Infusion.status) != InfusionStatus.CANCELLED,
        )
        .order_by(col(Infusion.number))
    )
    return list(rows.all())


async def patient_card(session: AsyncSession, patient_id: int) -> PatientCard:
    patient = await session.get(Patient, patient_id)
    if patient is None:
        raise ServiceError("unknown_patient", patient_id=patient_id)
    series = await latest_series_of(session, patient_id)
    contacts = list(
        (
            await session.exec(
                select(Contact).where(Contact.patient_id == patient_id).order_by(col(Contact.priority), col(Contact.id))
            )
        ).all()
    )
    infusions: list[Infusion] = []
    next_messages: list[Message] = []
    if series is not None:
        infusions = list(
            (
                await session.exec(
                    select(Infusion).where(Infusion.series_id == series.id).order_by(col(Infusion.number))
                )
            ).all()
        )
        next_messages = list(
            (
                await session.exec(
                    select(Message)
                    .where(
                        Message.series_id == series.id,
                        col(Message.status).in_([MessageStatus.PENDING, MessageStatus.HELD]),
                    )
                    .order_by(col(Message.send_at))
                    .limit(5)
                )
            ).all()
        )
    answers = list(
        (
            await session.exec(
                select(Answer).where(Answer.patient_id == patient_id).order_by(col(Answer.answered_at).desc()).limit(6)
            )
        ).all()
    )
    return PatientCard(patient, series, contacts, infusions, next_messages, answers)


async def stats(session: AsyncSession, *, now: datetime, zone: ZoneInfo) -> Stats:
    by_status = dict((await session.exec(select(Series.status, func.count()).group_by(Series.status))).all())
    start = from_wall(local_wall(now, zone).replace(hour=0, minute=0, second=0, microsecond=0), zone)
    end = start + timedelta(days=1)
    today = dict(
        (
            await session.exec(
                select(Message.status, func.count())
                .where(
                    col(Message.updated_at) >= start,
                    col(Message.updated_at) < end,
                    col(Message.status).in_([MessageStatus.SENT, MessageStatus.FAILED, MessageStatus.SKIPPED]),
                )
                .group_by(Message.status)
            )
        ).all()
    )
    pending = (
        await session.exec(select(func.count()).select_from(Message).where(Message.status == MessageStatus.PENDING))
    ).one()
    return Stats(
        patients_by_status={s.value: int(by_status.get(s, 0)) for s in SeriesStatus},
        messages_today={s: int(today.get(MessageStatus(s), 0)) for s in ("sent", "failed", "skipped")},
        pending=int(pending),
    )
