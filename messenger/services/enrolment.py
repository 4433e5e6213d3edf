"""Enrolment: a patient, their contacts and infusions, and one outbox row per series step.

Rows are written with one bulk insert per table, for one patient or for thousands in one
transaction (:func:`enrol_many`): enrolment cost is the planning, not round trips.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator
from pydantic_core import PydanticUndefined
from sqlalchemy import Table, insert
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.clock import Clock
from messenger.domain.enums import ChannelName, InfusionStatus, MessageStatus, SeriesStatus, StepKind
from messenger.domain.models import AuditEvent, Contact, ContactBase, Infusion, Message, Patient, Series
from messenger.domain.series import SeriesCatalog, SeriesDefinition, plan
from messenger.domain.timing import PAST_NOT_AFTER, QuietHours, send_time
from messenger.services import audit
from messenger.services.errors import ServiceError

# A step planned this long before enrolment is history, not news: it is recorded as skipped.
ENROLMENT_GRACE = timedelta(minutes=1)
DUE_BEFORE_ENROLMENT = "due before enrolment"
# A bulk insert names the same columns in every row: the model's own defaults for those the
# plan does not set. Columns left NULL are left out: converting their values is most of the cost.
_MESSAGE_DEFAULTS: dict[str, Any] = {
    name: field.default
    for name, field in Message.model_fields.items()
    if name != "id" and field.default not in (None, PydanticUndefined)
}


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


@dataclass(frozen=True, slots=True)
class Enrolled:
    """One patient enrolled: their ids and how many of their rows will be sent or were skipped."""

    patient_id: int
    series_id: int
    pending: int
    skipped: int


@dataclass(frozen=True, slots=True)
class _Checked:
    request: EnrolmentRequest
    definition: SeriesDefinition
    zone: ZoneInfo
    times: list[datetime]


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
    (enrolled,) = await enrol_many(
        session=session, catalog=catalog, quiet_hours=quiet_hours, requests=[request], now=clock.now(), actor=actor
    )
    series = await session.get(Series, enrolled.series_id)
    if series is None:  # the insert above is in this very transaction
        raise RuntimeError(f"series {enrolled.series_id} vanished inside its own transaction")
    return series


async def enrol_many(
    *,
    session: AsyncSession,
    catalog: SeriesCatalog,
    quiet_hours: QuietHours,
    requests: Sequence[EnrolmentRequest],
    now: datetime,
    actor: str,
) -> list[Enrolled]:
    """Enrol every request in the caller's transaction, with one bulk insert per table.

    Every request is checked before anything is written: one that the rules refuse refuses
    the whole batch (its ``ServiceError`` carries ``row``, counted from 1) and writes nothing.
    """
    checked = [_check(catalog, request, now, row) for row, request in enumerate(requests, start=1)]
    if not checked:
        return []
    patient_ids = await _insert_returning_ids(
        session,
        Patient,
        [
            {"name": c.request.name, "locale": c.request.locale, "timezone": c.request.timezone, "created_at": now}
            for c in checked
        ],
    )
    series_ids = await _insert_returning_ids(
        session,
        Series,
        [
            {
                "patient_id": patient_id,
                "definition_key": c.definition.key,
                "status": SeriesStatus.ACTIVE,
                "enrolled_at": now,
                "status_changed_at": now,
            }
            for c, patient_id in zip(checked, patient_ids, strict=True)
        ],
    )
    contacts: list[dict[str, Any]] = []
    infusions: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    enrolled: list[Enrolled] = []
    # Patients booked into the same slots share one plan: it is computed once per course.
    plans: dict[tuple[object, ...], list[dict[str, Any]]] = {}
    for c, patient_id, series_id in zip(checked, patient_ids, series_ids, strict=True):
        contacts += (
            _contact_row(patient_id, contact, contact.priority or priority, now)
            for priority, contact in enumerate(c.request.contacts)
        )
        infusions += (
            {"series_id": series_id, "number": number, "scheduled_at": at, "status": InfusionStatus.SCHEDULED}
            for number, at in enumerate(c.times, start=1)
        )
        course = (c.definition.key, c.request.timezone, *c.times)
        if course not in plans:
            plans[course] = planned_rows(
                definition=c.definition, zone=c.zone, infusion_times=c.times, quiet_hours=quiet_hours, enrolled_at=now
            )
        ids = {"series_id": series_id, "patient_id": patient_id}
        rows = [row | ids for row in plans[course]]
        messages += rows
        skipped = sum(1 for row in rows if row["status"] is MessageStatus.SKIPPED)
        enrolled.append(Enrolled(patient_id, series_id, pending=len(rows) - skipped, skipped=skipped))
        events.append(
            audit.row(
                at=now,
                actor=actor,
                action="enrol",
                patient_id=patient_id,
                series=c.definition.key,
                infusions=[t.isoformat() for t in c.times],
            )
        )
    for model, values in ((Contact, contacts), (Infusion, infusions), (Message, messages), (AuditEvent, events)):
        await _insert(session, model, values)
    return enrolled


def _check(catalog: SeriesCatalog, request: EnrolmentRequest, now: datetime, row: int) -> _Checked:
    try:
        definition = _definition(catalog, request.series_key)
        zone = zone_of(request.timezone)
        times = infusion_times(definition, zone, first=request.first_infusion, given=request.infusions)
        if times[0] <= now:
            raise ServiceError("first_infusion_in_past", first=times[0])
    except ServiceError as error:
        raise ServiceError(error.code, row=row, **error.params) from None
    return _Checked(request, definition, zone, times)


def _table(model: type[SQLModel]) -> Table:
    # The table, not the ORM entity: an ORM bulk insert splits the rows into one statement per
    # pattern of NULL columns (thousands here), a Core insert sends them all as one.
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


async def _insert(session: AsyncSession, model: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.exec(insert(_table(model)), params=rows)


async def _insert_returning_ids(session: AsyncSession, model: type[SQLModel], rows: list[dict[str, Any]]) -> list[int]:
    table = _table(model)
    result = await session.exec(insert(table).returning(table.c.id, sort_by_parameter_order=True), params=rows)
    return list(result.scalars().all())


def _contact_row(patient_id: int, contact: ContactBase, priority: int, now: datetime) -> dict[str, Any]:
    return {
        "patient_id": patient_id,
        "channel": contact.channel,
        "address": contact.address,
        "priority": priority,
        "reachable": True,
        "opted_out": False,
        "updated_at": now,
    }


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
) -> int:
    """Add the outbox rows this series lacks; returns how many. Running it twice adds nothing."""
    existing = set((await session.exec(select(Message.step_key).where(Message.series_id == series.pk))).all())
    ids = {"series_id": series.pk, "patient_id": series.patient_id}
    rows = [
        row | ids
        for row in planned_rows(
            definition=definition,
            zone=zone,
            infusion_times=infusion_times,
            quiet_hours=quiet_hours,
            enrolled_at=series.enrolled_at,
        )
        if row["step_key"] not in existing
    ]
    await _insert(session, Message, rows)
    return len(rows)


def planned_rows(
    *,
    definition: SeriesDefinition,
    zone: ZoneInfo,
    infusion_times: Sequence[datetime],
    quiet_hours: QuietHours,
    enrolled_at: datetime,
) -> list[dict[str, Any]]:
    """The outbox rows of one enrolment, as values for a bulk insert (without the ids), in send order.

    A step due well before enrolment is history, and one that could only go after its
    not-after time is pointless: both are written as skipped, so the series shows them.
    """
    rows = []
    for step in plan(definition, enrolled_at=enrolled_at, infusions=infusion_times, zone=zone, quiet_hours=quiet_hours):
        send_at = send_time(
            due=step.due_at,
            policy=step.quiet,
            zone=zone,
            quiet=quiet_hours,
            not_after=step.not_after,
            not_before=enrolled_at,
        )
        reason = None
        if step.kind is not StepKind.WELCOME and step.due_at < enrolled_at - ENROLMENT_GRACE:
            reason = DUE_BEFORE_ENROLMENT
        elif send_at is None:
            reason = PAST_NOT_AFTER
        rows.append(
            _MESSAGE_DEFAULTS
            | {
                "step_key": step.key,
                "kind": step.kind,
                "template": step.template,
                "infusion_number": step.infusion_number,
                "quiet": step.quiet,
                "due_at": step.due_at,
                "send_at": send_at or step.send_at,
                "not_after": step.not_after,
                "status": MessageStatus.PENDING if reason is None else MessageStatus.SKIPPED,
                "last_error": reason,
                "updated_at": enrolled_at,
            }
        )
    return rows


def _definition(catalog: SeriesCatalog, key: str) -> SeriesDefinition:
    try:
        return catalog.get(key)
    except KeyError:
        raise ServiceError("unknown_series", series=key, known=", ".join(d.key for d in catalog)) from None


def console_contact(name: str) -> ContactBase:
    return ContactBase(channel=ChannelName.CONSOLE, address=name)
