"""Enrolment: a patient, their contacts and infusions, and one outbox row per series step."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.clock import Clock
from messenger.domain.enums import ChannelName, MessageStatus, StepKind
from messenger.domain.models import Contact, ContactBase, Infusion, Message, Patient, Series
from messenger.domain.series import SeriesCatalog, SeriesDefinition, plan
from messenger.domain.timing import QuietHours
from messenger.services import audit
from messenger.services.errors import ServiceError

# A step planned this long before enrolment is history, not news: it is recorded as skipped.
ENROLMENT_GRACE = timedelta(minutes=1)


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ServiceError("unknown_timezone", timezone=name) from None


class EnrolmentRequest(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    timezone: str
    series_key: str
    locale: str = "en"
    # Either the first infusion (the rest follow the series' default spacing) or all of them.
    first_infusion: datetime | None = None
    infusions: list[datetime] | None = None
    contacts: list[ContactBase] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return " ".join(value.split())


async def enrol(
    *,
    session: AsyncSession,
    catalog: SeriesCatalog,
    clock: Clock,
    quiet_hours: QuietHours,
    request: EnrolmentRequest,
    actor: str,
) -> Series:
    """Create the patient and their series; the caller commits."""
    definition = _definition(catalog, request.series_key)
    zone = zone_of(request.timezone)
    times = infusion_times(definition, zone, first=request.first_infusion, given=request.infusions)
    now = clock.now()
    if times[0] <= now:
        raise ServiceError("first_infusion_in_past", first=times[0])

    patient = Patient(name=request.name, locale=request.locale, timezone=request.timezone, created_at=now)
    session.add(patient)
    await session.flush()
    for priority, contact in enumerate(request.contacts):
        session.add(
            Contact(
                patient_id=patient.pk,
                channel=contact.channel,
                address=contact.address,
                priority=contact.priority or priority,
                updated_at=now,
            )
        )
    series = Series(patient_id=patient.pk, definition_key=definition.key, enrolled_at=now, status_changed_at=now)
    session.add(series)
    await session.flush()
    for number, at in enumerate(times, start=1):
        session.add(Infusion(series_id=series.pk, number=number, scheduled_at=at))
    await materialise(
        session=session,
        series=series,
        definition=definition,
        zone=zone,
        infusion_times=times,
        quiet_hours=quiet_hours,
        now=now,
    )
    audit.record(
        session,
        at=now,
        actor=actor,
        action="enrol",
        patient_id=patient.pk,
        series=definition.key,
        infusions=[t.isoformat() for t in times],
    )
    return series


def infusion_times(
    definition: SeriesDefinition, zone: ZoneInfo, *, first: datetime | None, given: Sequence[datetime] | None
) -> list[datetime]:
    """The course's infusion times, checked against the series; aware UTC."""
    if given:
        times = list(given)
    elif first is not None:
        times = definition.default_infusion_times(first, zone)
    else:
        raise ServiceError("first_infusion_missing")
    if any(t.tzinfo is None for t in times):
        raise ValueError("infusion times must be aware datetimes")
    problem = definition.course_problem(times, zone)
    if problem is not None:
        raise ServiceError(
            "bad_course", problem=problem, count=definition.infusions.count, max_days=definition.infusions.max_span_days
        )
    return times


async def materialise(
    *,
    session: AsyncSession,
    series: Series,
    definition: SeriesDefinition,
    zone: ZoneInfo,
    infusion_times: Sequence[datetime],
    quiet_hours: QuietHours,
    now: datetime,
) -> int:
    """Add the outbox rows this series lacks; returns how many. Running it twice adds nothing."""
    existing = set((await session.exec(select(Message.step_key).where(Message.series_id == series.pk))).all())
    added = 0
    for step in plan(
        definition, enrolled_at=series.enrolled_at, infusions=infusion_times, zone=zone, quiet_hours=quiet_hours
    ):
        if step.key in existing:
            continue
        late = step.kind is not StepKind.WELCOME and step.due_at < series.enrolled_at - ENROLMENT_GRACE
        session.add(
            Message(
                series_id=series.pk,
                patient_id=series.patient_id,
                step_key=step.key,
                kind=step.kind,
                template=step.template,
                infusion_number=step.infusion_number,
                quiet=step.quiet,
                due_at=step.due_at,
                send_at=max(step.send_at, series.enrolled_at),
                not_after=step.not_after,
                status=MessageStatus.SKIPPED if late else MessageStatus.PENDING,
                last_error="due before enrolment" if late else None,
                updated_at=now,
            )
        )
        added += 1
    await session.flush()
    return added


def _definition(catalog: SeriesCatalog, key: str) -> SeriesDefinition:
    try:
        return catalog.get(key)
    except KeyError:
        raise ServiceError("unknown_series", series=key, known=", ".join(d.key for d in catalog)) from None


def console_contact(name: str) -> ContactBase:
    return ContactBase(channel=ChannelName.CONSOLE, address=name)
