"""The clinic's cohort over a period: the figures a clinic puts in a quality report.

Each figure's definition is in its field comment; the period is ``(start, end]`` in UTC, so
what happens at the very moment the report is asked for is in it.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.domain.enums import InfusionStatus, MessageStatus, SeriesStatus, StepKind
from messenger.domain.models import Answer, AuditEvent, Infusion, Message, Series
from messenger.insights.course import Attendance, attendance_of, checkins_of


@dataclass(frozen=True, slots=True)
class Ratio:
    part: int
    whole: int

    @property
    def share(self) -> float | None:
        return self.part / self.whole if self.whole else None


@dataclass(frozen=True, slots=True)
class CohortReport:
    start: datetime
    end: datetime
    # Series enrolled in the period.
    enrolled: int
    # Series active or paused at the end of the period.
    active: int
    # Series that completed, or were cancelled, in the period.
    completed: int
    cancelled: int
    # Infusions due in the period (not cancelled): attended of attended + missed.
    adherence: Ratio
    # Patients' answers to reminders in the period: "I'll be there" and "I need to reschedule".
    confirmations: int
    reschedule_requests: int
    # Infusions due in the period that were missed.
    no_shows: int
    # Check-ins sent in the period that got at least one answer.
    response: Ratio
    # Escalating answers in the period; time from each to the first staff action on that patient.
    escalations: int
    acknowledged: int
    acknowledge_median: timedelta | None
    # Per patient with a baseline and a later check-in answered in the period: last pain − baseline pain.
    pain_change_median: float | None
    pain_change_patients: int


async def cohort_report(session: AsyncSession, *, start: datetime, end: datetime) -> CohortReport:
    series = list((await session.exec(select(Series))).all())
    in_period = [s for s in series if start < s.status_changed_at <= end]
    infusions = (
        await session.exec(
            select(Infusion).where(
                col(Infusion.scheduled_at) > start,
                col(Infusion.scheduled_at) <= end,
                col(Infusion.status) != InfusionStatus.CANCELLED,
            )
        )
    ).all()
    attendance = [attendance_of(i, end) for i in infusions]
    attended, missed = attendance.count(Attendance.ATTENDED), attendance.count(Attendance.MISSED)
    actions = dict(
        (
            await session.exec(
                select(AuditEvent.action, func.count())
                .where(col(AuditEvent.at) > start, col(AuditEvent.at) <= end)
                .group_by(AuditEvent.action)
            )
        ).all()
    )
    escalations, acknowledged, waits = await _escalations(session, start=start, end=end)
    changes = await _pain_changes(session, start=start, end=end)
    return CohortReport(
        start=start,
        end=end,
        enrolled=sum(1 for s in series if start < s.enrolled_at <= end),
        active=sum(1 for s in series if s.status in (SeriesStatus.ACTIVE, SeriesStatus.PAUSED)),
        completed=sum(1 for s in in_period if s.status is SeriesStatus.COMPLETED),
        cancelled=sum(1 for s in in_period if s.status is SeriesStatus.CANCELLED),
        adherence=Ratio(attended, attended + missed),
        confirmations=int(actions.get("infusion.confirm", 0)),
        reschedule_requests=int(actions.get("infusion.reschedule_request", 0)),
        no_shows=missed,
        response=await _response(session, start=start, end=end),
        escalations=escalations,
        acknowledged=acknowledged,
        acknowledge_median=timedelta(seconds=statistics.median(waits)) if waits else None,
        pain_change_median=statistics.median(changes) if changes else None,
        pain_change_patients=len(changes),
    )


async def _response(session: AsyncSession, *, start: datetime, end: datetime) -> Ratio:
    sent = (
        await session.exec(
            select(Message.id).where(
                Message.kind == StepKind.CHECKIN,
                Message.status == MessageStatus.SENT,
                col(Message.sent_at) > start,
                col(Message.sent_at) <= end,
            )
        )
    ).all()
    answered = (
        await session.exec(select(func.count(func.distinct(Answer.message_id))).where(col(Answer.message_id).in_(sent)))
    ).one()
    return Ratio(int(answered), len(sent))


async def _escalations(session: AsyncSession, *, start: datetime, end: datetime) -> tuple[int, int, list[float]]:
    escalated = (
        await session.exec(
            select(Answer).where(
                col(Answer.escalated).is_(True), col(Answer.answered_at) > start, col(Answer.answered_at) <= end
            )
        )
    ).all()
    staff_events = (
        await session.exec(
            select(AuditEvent.patient_id, AuditEvent.at)
            .where(col(AuditEvent.actor).startswith("staff:"), col(AuditEvent.patient_id).is_not(None))
            .order_by(col(AuditEvent.at))
        )
    ).all()
    by_patient: dict[int | None, list[datetime]] = defaultdict(list)
    for patient_id, at in staff_events:
        by_patient[patient_id].append(at)
    waits = []
    for answer in escalated:
        first = next((at for at in by_patient[answer.patient_id] if at >= answer.answered_at), None)
        if first is not None:
            waits.append((first - answer.answered_at).total_seconds())
    return len(escalated), len(waits), waits


async def _pain_changes(session: AsyncSession, *, start: datetime, end: datetime) -> list[int]:
    answers = (
        await session.exec(
            select(Answer).where(col(Answer.answered_at) <= end).order_by(col(Answer.answered_at), col(Answer.id))
        )
    ).all()
    by_series: dict[int, list[Answer]] = defaultdict(list)
    for answer in answers:
        by_series[answer.series_id].append(answer)
    changes = []
    for series_answers in by_series.values():
        checkins = [c for c in checkins_of(series_answers) if c.pain is not None]
        baseline = next((c for c in checkins if c.after_infusion == 0), None)
        if baseline is None or checkins[-1] is baseline or checkins[-1].at <= start:
            continue
        changes.append(int(checkins[-1].pain or 0) - int(baseline.pain or 0))
    return changes
