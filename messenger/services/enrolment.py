"""Enrolment: a patient, their contacts and infusions, and one outbox row per series step.

Rows are written with one bulk insert per table, for one patient or for thousands in one
transaction (:func:`enrol_many`): enrolment cost is the planning, not round trips.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.clock import Clock
from messenger.domain.catalog import SeriesCatalog
from messenger.domain.enums import ChannelName, InfusionStatus, MessageStatus, SeriesStatus
from messenger.domain.models import AuditEvent, Contact, ContactBase, Infusion, Message, Patient, Series
from messenger.domain.series import SeriesDefinition
from messenger.domain.timing import QuietHours
from messenger.services import audit
from messenger.services.errors import ServiceError
from messenger.services.outbox_rows import insert_returning_ids, insert_rows, insert_stamped, planned_rows


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
    patient_ids = await insert_returning_ids(
        session,
        Patient,
        [
            {"name": c.request.name, "locale": c.request.locale, "timezone": c.request.timezone, "created_at": now}
            for c in checked
        ],
    )
    series_ids = await insert_returning_ids(
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
    messages: list[tuple[dict[str, int], list[dict[str, Any]]]] = []
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
        rows = plans[course]
        messages.append(({"series_id": series_id, "patient_id": patient_id}, rows))
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
    for model, values in ((Contact, contacts), (Infusion, infusions), (AuditEvent, events)):
        await insert_rows(session, model, values)
    await insert_stamped(session, Message, messages)
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


def _definition(catalog: SeriesCatalog, key: str) -> SeriesDefinition:
    try:
        return catalog.get(key)
    except KeyError:
        raise ServiceError("unknown_series", series=key, known=", ".join(d.key for d in catalog)) from None


def console_contact(name: str) -> ContactBase:
    return ContactBase(channel=ChannelName.CONSOLE, address=name)
