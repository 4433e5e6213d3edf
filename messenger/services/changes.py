"""Changes to a running series: reschedule an infusion, pause, resume, cancel.

Sent messages are history and stay as they are; only pending (or held) rows move.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.clock import Clock
from messenger.domain.enums import (
    InfusionStatus,
    MessageStatus,
    QuietPolicy,
    SeriesStatus,
    StepKind,
)
from messenger.domain.models import Infusion, Message, Patient, Series
from messenger.domain.series import SeriesCatalog, SeriesDefinition, plan_step
from messenger.domain.timing import QuietHours
from messenger.domain.wording import Phrase
from messenger.services import audit
from messenger.services.attendance import HELD_FOR_RESCHEDULE, release_held
from messenger.services.enrolment import zone_of
from messenger.services.errors import ServiceError
from messenger.services.reports import latest_series_of

_OPEN = (MessageStatus.PENDING, MessageStatus.HELD)


@dataclass(frozen=True, slots=True)
class Rescheduled:
    infusion: Infusion
    moved: int
    # Why the course no longer fits the series' window, if it does not (a warning, not a refusal).
    warning: Phrase | None


async def load_series(session: AsyncSession, series_id: int) -> Series:
    series = await session.get(Series, series_id)
    if series is None:
        raise ServiceError("unknown_series_id", series_id=series_id)
    return series


async def latest_series(session: AsyncSession, patient_id: int) -> Series:
    """The patient's most recent enrolment; an unknown patient is a ServiceError."""
    row = await latest_series_of(session, patient_id)
    if row is None:
        raise ServiceError("unknown_patient", patient_id=patient_id)
    return row


async def infusions_of(session: AsyncSession, series_id: int) -> list[Infusion]:
    rows = await session.exec(select(Infusion).where(Infusion.series_id == series_id).order_by(col(Infusion.number)))
    return list(rows.all())


async def reschedule_infusion(
    *,
    session: AsyncSession,
    catalog: SeriesCatalog,
    clock: Clock,
    quiet_hours: QuietHours,
    series: Series,
    number: int,
    at: datetime,
    actor: str,
) -> Rescheduled:
    """Move infusion ``number`` to ``at`` and the pending steps anchored to it."""
    _require_open(series)
    definition = catalog.get(series.definition_key)
    patient = await session.get(Patient, series.patient_id)
    assert patient is not None
    zone = zone_of(patient.timezone)
    infusions = await infusions_of(session, series.id)  # type: ignore[arg-type]
    if not 1 <= number <= len(infusions):
        raise ServiceError("unknown_infusion", number=number, count=len(infusions))
    now = clock.now()
    if at <= now:
        raise ServiceError("time_in_past", at=at)
    before = infusions[number - 2].scheduled_at if number > 1 else None
    after = infusions[number].scheduled_at if number < len(infusions) else None
    if (before and at <= before) or (after and at >= after):
        raise ServiceError("infusion_out_of_order", number=number)

    infusion = infusions[number - 1]
    previous = infusion.scheduled_at
    infusion.scheduled_at, infusion.status, infusion.responded_at = at, InfusionStatus.SCHEDULED, None
    times = [i.scheduled_at for i in infusions]
    # Before the replan, which clears last_error, the mark of what the reschedule request held.
    await release_held(session, series=series, number=number, now=now)
    moved = await _replan(session, series, definition, zone, times, quiet_hours, number)
    await _tell_patient(session, series, number, at, now)
    problem = definition.course_problem(times, zone)
    audit.record(
        session,
        at=now,
        actor=actor,
        action="reschedule",
        patient_id=series.patient_id,
        infusion=number,
        previous=previous.isoformat(),
        new=at.isoformat(),
        moved=moved,
    )
    return Rescheduled(infusion=infusion, moved=moved, warning=problem)


async def _replan(
    session: AsyncSession,
    series: Series,
    definition: SeriesDefinition,
    zone: ZoneInfo,
    times: list[datetime],
    quiet_hours: QuietHours,
    number: int,
) -> int:
    rows = {
        m.step_key: m
        for m in (
            await session.exec(
                select(Message).where(
                    Message.series_id == series.id, Message.infusion_number == number, col(Message.status).in_(_OPEN)
                )
            )
        ).all()
    }
    moved = 0
    for key, step, infusion in definition.expanded_steps():
        if infusion != number or key not in rows:
            continue
        planned = plan_step(
            step,
            key=key,
            infusion=infusion,
            enrolled_at=series.enrolled_at,
            infusions=times,
            zone=zone,
            quiet_hours=quiet_hours,
        )
        message = rows[key]
        message.due_at, message.send_at, message.not_after = planned.due_at, planned.send_at, planned.not_after
        message.attempts, message.last_error = 0, None
        moved += 1
    return moved


MOVED_TEMPLATE = "reminder/moved"


async def _tell_patient(session: AsyncSession, series: Series, number: int, at: datetime, now: datetime) -> None:
    """Queue a notice of the new time (by e-mail it carries the updated calendar entry)."""
    earlier = (
        await session.exec(
            select(func.count())
            .select_from(Message)
            .where(Message.series_id == series.id, col(Message.step_key).startswith(f"moved-{number}-"))
        )
    ).one()
    session.add(
        Message(
            series_id=series.pk,
            patient_id=series.patient_id,
            step_key=f"moved-{number}-{earlier + 1}",
            kind=StepKind.REMINDER,
            template=MOVED_TEMPLATE,
            infusion_number=number,
            quiet=QuietPolicy.DEFER,
            due_at=now,
            send_at=now,
            not_after=at,
            status=MessageStatus.HELD if series.status is SeriesStatus.PAUSED else MessageStatus.PENDING,
        )
    )


async def pause(*, session: AsyncSession, clock: Clock, series: Series, actor: str) -> int:
    """Hold every pending message; returns how many."""
    if series.status is not SeriesStatus.ACTIVE:
        raise ServiceError("series_not_active", status=series.status.value)
    now = clock.now()
    series.status, series.status_changed_at = SeriesStatus.PAUSED, now
    held = await _set_status(session, series, MessageStatus.PENDING, MessageStatus.HELD, now)
    audit.record(session, at=now, actor=actor, action="pause", patient_id=series.patient_id, held=held)
    return held


async def resume(
    *, session: AsyncSession, clock: Clock, quiet_hours: QuietHours, series: Series, actor: str
) -> tuple[int, int]:
    """Release held messages still worth sending; skip the rest. Returns (released, skipped)."""
    if series.status is not SeriesStatus.PAUSED:
        raise ServiceError("series_not_paused", status=series.status.value)
    now = clock.now()
    patient = await session.get(Patient, series.patient_id)
    assert patient is not None
    zone = zone_of(patient.timezone)
    series.status, series.status_changed_at = SeriesStatus.ACTIVE, now
    held = (
        await session.exec(
            select(Message)
            .where(
                Message.series_id == series.id,
                Message.status == MessageStatus.HELD,
                # Held for a reschedule request: they wait for the new time, not for the resume.
                col(Message.last_error).is_distinct_from(HELD_FOR_RESCHEDULE),
            )
            .order_by(col(Message.send_at), col(Message.due_at), col(Message.id))
        )
    ).all()
    released = skipped = 0
    previous = None
    for message in held:
        if message.not_after is not None and message.not_after <= now:
            message.status, message.last_error = MessageStatus.SKIPPED, "expired while the series was paused"
            skipped += 1
            continue
        send_at = max(message.send_at, now)
        if message.quiet is QuietPolicy.DEFER:
            send_at = quiet_hours.defer(send_at, zone)
        # Overdue rows would all share "now": a microsecond apart they still go out in their scheduled order.
        if previous is not None and send_at <= previous:
            send_at = previous + timedelta(microseconds=1)
        previous = send_at
        message.status, message.send_at, message.updated_at = MessageStatus.PENDING, send_at, now
        released += 1
    audit.record(
        session, at=now, actor=actor, action="resume", patient_id=series.patient_id, released=released, skipped=skipped
    )
    return released, skipped


async def cancel(*, session: AsyncSession, clock: Clock, series: Series, actor: str) -> int:
    """Cancel the series and every message not yet sent; returns how many."""
    _require_open(series)
    now = clock.now()
    series.status, series.status_changed_at = SeriesStatus.CANCELLED, now
    cancelled = 0
    for status in _OPEN:
        cancelled += await _set_status(session, series, status, MessageStatus.CANCELLED, now)
    await session.exec(
        update(Infusion)
        .where(col(Infusion.series_id) == series.id, col(Infusion.status) != InfusionStatus.CANCELLED)
        .values(status=InfusionStatus.CANCELLED)
    )
    audit.record(session, at=now, actor=actor, action="cancel", patient_id=series.patient_id, cancelled=cancelled)
    return cancelled


def _require_open(series: Series) -> None:
    if series.status in (SeriesStatus.CANCELLED, SeriesStatus.COMPLETED):
        raise ServiceError("series_closed", status=series.status.value)


async def _set_status(
    session: AsyncSession, series: Series, old: MessageStatus, new: MessageStatus, now: datetime
) -> int:
    result = await session.exec(
        update(Message)
        .where(col(Message.series_id) == series.id, col(Message.status) == old)
        .values(status=new, updated_at=now)
    )
    return int(result.rowcount or 0)
