"""One patient's course as data: infusions with attendance, check-ins, escalations and deliveries.

Charts, the end-of-course PDF and the exports all read this one shape, so they agree.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.domain.models import Answer, AuditEvent, Infusion, Message, Patient, Series
from messenger.services.errors import ServiceError
from messenger.services.reports import latest_series_of


class Attendance(StrEnum):
    ATTENDED = "attended"
    MISSED = "missed"
    UPCOMING = "upcoming"
    CANCELLED = "cancelled"


def attendance_of(infusion: Infusion, now: datetime) -> Attendance:
    """What happened to an infusion; one whose time has passed without a mark counts as attended."""
    status = infusion.status.value
    if status in {Attendance.MISSED, Attendance.CANCELLED, Attendance.ATTENDED}:
        return Attendance(status)
    return Attendance.ATTENDED if infusion.scheduled_at <= now else Attendance.UPCOMING


@dataclass(frozen=True, slots=True)
class InfusionMark:
    number: int
    at: datetime
    attendance: Attendance


@dataclass(frozen=True, slots=True)
class Checkin:
    """The answers to one check-in message."""

    at: datetime
    after_infusion: int | None
    pain: int | None
    mood: int | None
    escalated: bool


@dataclass(frozen=True, slots=True)
class Escalation:
    at: datetime
    question: str
    value: str
    # The first staff action on the patient after the escalation: who, and when.
    handled_at: datetime | None
    handled_by: str | None


@dataclass(frozen=True, slots=True)
class Course:
    patient: Patient
    series: Series | None
    infusions: list[InfusionMark]
    checkins: list[Checkin]
    escalations: list[Escalation]
    # (channel, status) → how many messages; channel "" for those never tried on one.
    deliveries: dict[tuple[str, str], int]

    @property
    def baseline(self) -> Checkin | None:
        return next((c for c in self.checkins if c.after_infusion == 0 and c.pain is not None), None)

    @property
    def pain_change(self) -> int | None:
        """Pain at the last check-in minus pain at the baseline, when both are known."""
        baseline = self.baseline
        last = next((c for c in reversed(self.checkins) if c.pain is not None), None)
        if baseline is None or last is None or last is baseline:
            return None
        return pain_of(last) - pain_of(baseline)


def pain_of(checkin: Checkin) -> int:
    if checkin.pain is None:
        raise ValueError("check-in without a pain score")
    return checkin.pain


async def load_course(session: AsyncSession, *, patient_id: int, now: datetime) -> Course:
    patient = await session.get(Patient, patient_id)
    if patient is None:
        raise ServiceError("unknown_patient", patient_id=patient_id)
    series = await latest_series_of(session, patient_id)
    if series is None:
        return Course(patient, None, [], [], [], {})
    infusions = (
        await session.exec(select(Infusion).where(Infusion.series_id == series.pk).order_by(col(Infusion.number)))
    ).all()
    answers = list(
        (
            await session.exec(
                select(Answer).where(Answer.series_id == series.pk).order_by(col(Answer.answered_at), col(Answer.id))
            )
        ).all()
    )
    messages = (await session.exec(select(Message.channel, Message.status).where(Message.series_id == series.pk))).all()
    staff_events = list(
        (
            await session.exec(
                select(AuditEvent)
                .where(AuditEvent.patient_id == patient_id, col(AuditEvent.actor).startswith("staff:"))
                .order_by(col(AuditEvent.at))
            )
        ).all()
    )
    return Course(
        patient=patient,
        series=series,
        infusions=[InfusionMark(i.number, i.scheduled_at, attendance_of(i, now)) for i in infusions],
        checkins=checkins_of(answers),
        escalations=[escalation_of(a, staff_events) for a in answers if a.escalated],
        deliveries=dict(Counter(((str(c) if c else ""), str(s)) for c, s in messages)),
    )


def checkins_of(answers: list[Answer]) -> list[Checkin]:
    """Answers grouped by the check-in message they answer, in the order they were first answered."""
    groups: dict[object, list[Answer]] = {}
    for answer in answers:
        groups.setdefault(answer.message_id if answer.message_id is not None else ("own", answer.id), []).append(answer)
    checkins = []
    for group in groups.values():
        scores = {a.question: a.score for a in group}
        checkins.append(
            Checkin(
                at=group[0].answered_at,
                after_infusion=group[0].after_infusion,
                pain=scores.get("pain"),
                mood=scores.get("mood"),
                escalated=any(a.escalated for a in group),
            )
        )
    return checkins


def escalation_of(answer: Answer, staff_events: list[AuditEvent]) -> Escalation:
    handled = next((e for e in staff_events if e.at >= answer.answered_at), None)
    return Escalation(
        at=answer.answered_at,
        question=answer.question,
        value=answer.value,
        handled_at=handled.at if handled else None,
        handled_by=handled.actor if handled else None,
    )
