"""Changes to a running series: reschedule an infusion, pause, resume, cancel.

Sent messages are history and stay as they are; only pending (or held) rows move.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.clock import Clock
from messenger.domain.catalog import SeriesCatalog
from messenger.domain.enums import InfusionStatus, MessageStatus, QuietPolicy, SeriesStatus, StepKind
from messenger.domain.models import Infusion, Message, Patient, Series
from messenger.domain.series import SeriesDefinition, plan_step
from messenger.domain.timing import PAST_NOT_AFTER, QuietHours, send_time, send_time_of
from messenger.domain.wording import Phrase
from messenger.services import audit
from messenger.services.attendance import HELD_FOR_RESCHEDULE, release_held
from messenger.services.enrolment import zone_of
from messenger.services.errors import ServiceError
from messenger.services.reports import latest_series_of
from messenger.services.rows import existing

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
    patient = await existing(session, Patient, series.patient_id)
    zone = zone_of(patient.timezone)
    infusions = await infusions_of(session, series.pk)
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
    await release_held(session, series=series, number=number, now=now)  # before the replan clears the hold's mark
    moved = await _replan(session, series, definition, zone, times, quiet_hours, number, now)
    await _tell_patient(session, series, zone, quiet_hours, number, at, now)
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
    now: datetime,
) -> int:
    """Move the open steps anchored to infusion ``number``, and those skipped only for being too late."""
    rows = {
        m.step_key: m
        for m in (
            await session.exec(
                select(Message).where(
                    Message.series_id == series.id,
                    Message.infusion_number == number,
                    or_(
                        col(Message.status).in_(_OPEN),
                        and_(col(Message.status) == MessageStatus.SKIPPED, col(Message.last_error) == PAST_NOT_AFTER),
                    ),
                )
            )
        ).all()
    }
    open_status = MessageStatus.HELD if series.status is SeriesStatus.PAUSED else MessageStatus.PENDING
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
        message.due_at, message.not_after = planned.due_at, planned.not_after
        when = send_time(
            due=planned.due_at,
            policy=planned.quiet,
            zone=zone,
            quiet=quiet_hours,
            not_after=planned.not_after,
            not_before=now,
        )
        message.status = open_status if when is not None else MessageStatus.SKIPPED
        message.send_at = when or planned.send_at
        message.attempts, message.last_error, message.updated_at = 0, None if when else PAST_NOT_AFTER, now
        moved += 1
    return moved


MOVED_TEMPLATE = "reminder/moved"


async def _tell_patient(
    session: AsyncSession,
    series: Series,
    zone: ZoneInfo,
    quiet_hours: QuietHours,
    number: int,
    at: datetime,
    now: datetime,
) -> None:
    """Queue a notice of the new time (by e-mail it carries the updated calendar entry).

    It waits for the end of quiet hours like any step; if that is after the new time itself,
    the notice is written as skipped (the row shows staff that the patient was not told).
    """
    earlier = (
        await session.exec(
            select(func.count())
            .select_from(Message)
            .where(Message.series_id == series.id, col(Message.step_key).startswith(f"moved-{number}-"))
        )
    ).one()
    when = send_time(due=now, policy=QuietPolicy.DEFER, zone=zone, quiet=quiet_hours, not_after=at)
    if when is None:
        status = MessageStatus.SKIPPED
    else:
        status = MessageStatus.HELD if series.status is SeriesStatus.PAUSED else MessageStatus.PENDING
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
            send_at=when or now,
            not_after=at,
            status=status,
            last_error=None if when else PAST_NOT_AFTER,
            updated_at=now,
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
    patient = await existing(session, Patient, series.patient_id)
    zone = zone_of(patient.timezone)
    series.status, series.status_changed_at = SeriesStatus.ACTIVE, now
    held = (
        await session.exec(
            select(Message).where(
                Message.series_id == series.id,
                Message.status == MessageStatus.HELD,
                # Held for a reschedule request: they wait for the new time, not for the resume.
                col(Message.last_error).is_distinct_from(HELD_FOR_RESCHEDULE),
            )
        )
    ).all()
    released = skipped = 0
    # Their due times are untouched: rows released together keep their scheduled order.
    for message in held:
        when = send_time_of(message, zone=zone, quiet=quiet_hours, not_before=now)
        message.updated_at = now
        if when is None:
            message.status, message.last_error = MessageStatus.SKIPPED, PAST_NOT_AFTER
            skipped += 1
        else:
            message.status, message.send_at = MessageStatus.PENDING, when
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
    # What took place stays (attended, missed, past and unmarked); what had not begun, or awaits a new time, ends.
    settled = (InfusionStatus.ATTENDED, InfusionStatus.MISSED, InfusionStatus.CANCELLED)
    not_begun = or_(col(Infusion.scheduled_at) > now, col(Infusion.status) == InfusionStatus.RESCHEDULE_REQUESTED)
    await session.exec(
        update(Infusion)
        .where(col(Infusion.series_id) == series.id, col(Infusion.status).not_in(settled), not_begun)
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
