"""Whether each infusion happened: held after a reschedule request, marked attended or missed by staff.

An infusion whose time has passed without a mark counts as attended (the clinic marks the
exceptions); a missed infusion's check-in is skipped, and reports say what actually happened.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.clock import Clock
from messenger.domain.enums import InfusionStatus, MessageStatus, SeriesStatus, StepKind
from messenger.domain.models import Infusion, Message, Series
from messenger.services import audit
from messenger.services.errors import ServiceError

# The reminder and check-in of an infusion whose time is in question wait for staff.
HELD_FOR_RESCHEDULE = "held:reschedule-requested"
_HELD_KINDS = (StepKind.REMINDER, StepKind.CHECKIN)
MOVED_PREFIX = "moved-"


def effective_status(infusion: Infusion, now: datetime) -> InfusionStatus:
    """What staff reports count: a past infusion with no mark was attended."""
    if infusion.status in (InfusionStatus.SCHEDULED, InfusionStatus.CONFIRMED) and infusion.scheduled_at <= now:
        return InfusionStatus.ATTENDED
    return infusion.status


async def hold_for_reschedule(session: AsyncSession, *, series_id: int, number: int, now: datetime) -> int:
    """After "I need to reschedule": hold that infusion's remaining reminders and check-in."""
    result = await session.exec(
        update(Message)
        .where(
            col(Message.series_id) == series_id,
            col(Message.infusion_number) == number,
            col(Message.status) == MessageStatus.PENDING,
            col(Message.kind).in_(_HELD_KINDS),
            ~col(Message.step_key).startswith(MOVED_PREFIX),
        )
        .values(status=MessageStatus.HELD, last_error=HELD_FOR_RESCHEDULE, updated_at=now)
    )
    return int(result.rowcount or 0)


async def release_held(session: AsyncSession, *, series: Series, number: int, now: datetime) -> int:
    """A new time (or an attended mark) releases what the reschedule request held.

    In a paused series the rows stay held, but as the pause's: the resume releases them.
    """
    status = MessageStatus.PENDING if series.status is SeriesStatus.ACTIVE else MessageStatus.HELD
    result = await session.exec(
        update(Message)
        .where(
            col(Message.series_id) == series.id,
            col(Message.infusion_number) == number,
            col(Message.status) == MessageStatus.HELD,
            col(Message.last_error) == HELD_FOR_RESCHEDULE,
        )
        .values(status=status, last_error=None, updated_at=now)
    )
    return int(result.rowcount or 0)


async def mark_attendance(
    *, session: AsyncSession, clock: Clock, series: Series, number: int, attended: bool, actor: str
) -> Infusion:
    """Staff say infusion ``number`` happened or not (from its start time on)."""
    infusion = (
        await session.exec(select(Infusion).where(Infusion.series_id == series.id, Infusion.number == number))
    ).first()
    if infusion is None:
        count = len((await session.exec(select(Infusion.id).where(Infusion.series_id == series.id))).all())
        raise ServiceError("unknown_infusion", number=number, count=count)
    now = clock.now()
    if infusion.status is InfusionStatus.CANCELLED:
        raise ServiceError("series_closed", status="cancelled")
    if infusion.scheduled_at > now:
        raise ServiceError("infusion_not_started", number=number)
    infusion.status = InfusionStatus.ATTENDED if attended else InfusionStatus.MISSED
    if attended:
        await release_held(session, series=series, number=number, now=now)
    else:
        # Nothing about an infusion that did not happen: no reminder, no "how was it?".
        await session.exec(
            update(Message)
            .where(
                col(Message.series_id) == series.id,
                col(Message.infusion_number) == number,
                col(Message.status).in_([MessageStatus.PENDING, MessageStatus.HELD]),
            )
            .values(status=MessageStatus.SKIPPED, last_error="infusion missed", updated_at=now)
        )
    audit.record(
        session,
        at=now,
        actor=actor,
        action="infusion.attended" if attended else "infusion.missed",
        patient_id=series.patient_id,
        infusion=number,
    )
    return infusion
