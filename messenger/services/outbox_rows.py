"""A series' plan as outbox rows, and the bulk inserts that write them.

The rows are plain values for one INSERT per table (many patients' rows at once); each
step's send time comes from the one send-time rule, with the enrolment as its earliest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic_core import PydanticUndefined
from sqlalchemy import Table, insert
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.domain.enums import MessageStatus, Priority, StepKind
from messenger.domain.models import Message, Series
from messenger.domain.series import SeriesDefinition, plan
from messenger.domain.timing import PAST_NOT_AFTER, QuietHours, send_time

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


# Rows per multi-row INSERT … RETURNING: one round trip each (an executemany with RETURNING
# fetched the ids one row, and one trip to the database thread, at a time), and far below
# SQLite's limit of 32,766 bound values.
_ROWS_PER_STATEMENT = 500


def _table(model: type[SQLModel]) -> Table:
    # The table, not the ORM entity: an ORM bulk insert splits the rows into one statement per
    # pattern of NULL columns (thousands here), a Core insert sends them all as one.
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


async def insert_rows(session: AsyncSession, model: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    """One INSERT for all ``rows`` (which name the same columns), as one executemany.

    The column types' own bind processors convert the values, but each distinct value only
    once: rows written together share most of their values (times, templates, enums).
    """
    await insert_stamped(session, model, [({}, rows)])


async def insert_stamped(
    session: AsyncSession,
    model: type[SQLModel],
    groups: Sequence[tuple[Mapping[str, Any], Sequence[Mapping[str, Any]]]],
) -> None:
    """One INSERT of ``row | stamp`` for every row of every ``(stamp, rows)`` group, as one executemany.

    Groups may share their rows (patients booked into the same slots share one plan): a
    shared row is converted for the driver once and only the stamp (the ids) is set in each
    copy, as converting every value of every row was most of a bulk enrolment's cost.
    """
    groups = [(stamp, rows) for stamp, rows in groups if rows]
    if not groups:
        return
    table = _table(model)
    connection = await session.connection()
    dialect = connection.dialect
    first_stamp, first_rows = groups[0]
    compiled = insert(table).compile(dialect=dialect, column_keys=[*first_rows[0], *first_stamp])
    order = list(compiled.positiontup or [])
    convert = [table.c[key].type.dialect_impl(dialect).bind_processor(dialect) for key in order]
    stamped = [(position, key) for position, key in enumerate(order) if key in first_stamp]
    seen: dict[tuple[int, Any], Any] = {}

    def value(position: int, raw: Any) -> Any:
        processor = convert[position]
        if processor is None or raw is None:
            return raw
        try:
            return seen[position, raw]
        except KeyError:
            seen[position, raw] = converted = processor(raw)
            return converted
        except TypeError:  # unhashable (a JSON document): converted every time
            return processor(raw)

    # Keyed by the rows' identity: ``groups`` holds them, so no id is reused meanwhile.
    converted_rows: dict[int, list[list[Any]]] = {}
    parameters: list[tuple[Any, ...]] = []
    for stamp, rows in groups:
        if id(rows) not in converted_rows:
            converted_rows[id(rows)] = [
                [None if key in stamp else value(i, row[key]) for i, key in enumerate(order)] for row in rows
            ]
        ids = [(position, value(position, stamp[key])) for position, key in stamped]
        for values in converted_rows[id(rows)]:
            for position, converted in ids:
                values[position] = converted
            parameters.append(tuple(values))
    await connection.exec_driver_sql(compiled.string, parameters)


async def insert_returning_ids(session: AsyncSession, model: type[SQLModel], rows: list[dict[str, Any]]) -> list[int]:
    """Insert ``rows``; their new ids, in the rows' order."""
    table = _table(model)
    connection = await session.connection()
    ids: list[int] = []
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        statement = insert(table).values(rows[start : start + _ROWS_PER_STATEMENT]).returning(table.c.id)
        # One statement numbers its rows in the order of its VALUES list (SQLite's rowid,
        # PostgreSQL's sequence), whatever order RETURNING gives them in.
        ids += sorted((await connection.execute(statement)).scalars())
    return ids


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
        row
        for row in planned_rows(
            definition=definition,
            zone=zone,
            infusion_times=infusion_times,
            quiet_hours=quiet_hours,
            enrolled_at=series.enrolled_at,
        )
        if row["step_key"] not in existing
    ]
    await insert_stamped(session, Message, [(ids, rows)])
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
                # Written here, not left to the column's default: the insert goes to the driver as is.
                "priority": int(Priority.of(step.kind)),
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
