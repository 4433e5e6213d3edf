"""Importing patients from CSV: every row checked first, then one bulk enrolment.

Header: ``name,phone,email,timezone,language,first_infusion,infusions``; times are
``YYYY-MM-DD HH:MM`` in the patient's zone, ``infusions`` (optional) lists every infusion
separated by ``;``. A problem names the line in the file (the header is line 1) and the
column. Importing the same file again enrols nobody twice: a row whose patient (same name
and the same phone or e-mail) already exists is reported as already there.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.domain.catalog import SeriesCatalog
from messenger.domain.enums import ChannelName
from messenger.domain.models import Contact, ContactBase, Patient
from messenger.domain.timing import from_wall
from messenger.services.enrolment import EnrolmentRequest, infusion_times, zone_of
from messenger.services.errors import ServiceError

HEADER = ("name", "phone", "email", "timezone", "language", "first_infusion", "infusions")
REQUIRED = ("name", "timezone", "first_infusion")
_PHONE = re.compile(r"^\+[1-9]\d{7,14}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LOCALE = re.compile(r"^[a-z]{2}(?:[-_][A-Za-z]{2})?$")
TIME_FORMAT = "%Y-%m-%d %H:%M"


@dataclass(frozen=True, slots=True)
class RowProblem:
    """Line ``line`` (the header is line 1), column ``column``: a ``code`` with its facts."""

    line: int
    column: str
    code: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ImportRow:
    line: int
    request: EnrolmentRequest
    # What identifies the patient on a second import: name and phone or e-mail.
    identity: tuple[str, str]


@dataclass(frozen=True, slots=True)
class ImportPlan:
    rows: list[ImportRow]
    problems: list[RowProblem]


def read_rows(text: str, *, catalog: SeriesCatalog, series_key: str, now: datetime) -> ImportPlan:
    """Every row checked; the valid ones as enrolment requests, the others as problems."""
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(reader, [])]
    missing = [h for h in HEADER if h not in header and h != "infusions"]
    unknown = [h for h in header if h not in HEADER]
    if missing or unknown:
        return ImportPlan([], [RowProblem(1, ", ".join(missing or unknown), "header", {"expected": ",".join(HEADER)})])
    rows, problems = [], []
    for line, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            problems.append(RowProblem(line, "*", "field_count", {"expected": len(header), "given": len(values)}))
            continue
        row = dict(zip(header, (v.strip() for v in values), strict=True))
        parsed = _row(line, row, catalog=catalog, series_key=series_key, now=now)
        if isinstance(parsed, ImportRow):
            rows.append(parsed)
        else:
            problems += parsed
    return ImportPlan(rows, problems)


def _row(
    line: int, row: dict[str, str], *, catalog: SeriesCatalog, series_key: str, now: datetime
) -> ImportRow | list[RowProblem]:
    problems = [RowProblem(line, name, "missing") for name in REQUIRED if not row.get(name)]
    if not row.get("phone") and not row.get("email"):
        problems.append(RowProblem(line, "phone", "no_contact"))
    checks: list[tuple[str, Callable[[str], bool]]] = [
        ("phone", _PHONE.match),  # type: ignore[list-item]
        ("email", _EMAIL.match),  # type: ignore[list-item]
        ("language", _LOCALE.match),  # type: ignore[list-item]
    ]
    problems += [
        RowProblem(line, name, "invalid", {"value": row[name]})
        for name, ok in checks
        if row.get(name) and not ok(row[name])
    ]
    zone: ZoneInfo | None = None
    if row.get("timezone"):
        try:
            zone = zone_of(row["timezone"])
        except ServiceError:
            problems.append(RowProblem(line, "timezone", "invalid", {"value": row["timezone"]}))
    first = _time(line, "first_infusion", row.get("first_infusion", ""), zone, problems)
    given = [
        _time(line, "infusions", part, zone, problems) for part in row.get("infusions", "").split(";") if part.strip()
    ]
    if problems or zone is None or first is None or None in given:
        return problems
    definition = catalog.get(series_key)
    try:
        times = infusion_times(definition, zone, first=first, given=[t for t in given if t is not None] or None)
    except ServiceError as error:
        return [RowProblem(line, "infusions" if given else "first_infusion", error.code, error.params)]
    if times[0] <= now:
        return [RowProblem(line, "first_infusion", "in_past", {"value": row["first_infusion"]})]
    contacts = [ContactBase(channel=ChannelName.SMS, address=row["phone"])] if row.get("phone") else []
    if row.get("email"):
        contacts.append(ContactBase(channel=ChannelName.EMAIL, address=row["email"], priority=len(contacts)))
    request = EnrolmentRequest(
        name=row["name"],
        timezone=zone.key,
        series_key=series_key,
        locale=row.get("language") or definition.locale,
        infusions=times,
        contacts=contacts,
    )
    return ImportRow(line, request, (request.name.casefold(), row.get("phone") or row["email"].casefold()))


def _time(line: int, column: str, text: str, zone: ZoneInfo | None, problems: list[RowProblem]) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        wall = datetime.strptime(text, TIME_FORMAT)  # noqa: DTZ007 - a wall time, placed in the patient's zone below
    except ValueError:
        problems.append(RowProblem(line, column, "bad_time", {"value": text}))
        return None
    return from_wall(wall, zone) if zone is not None else None


async def already_enrolled(session: AsyncSession, rows: Sequence[ImportRow]) -> set[int]:
    """The lines whose patient exists already (same name, same phone or e-mail), or repeats an earlier line."""
    existing = await session.exec(
        select(Patient.name, Contact.address).join(Contact, col(Contact.patient_id) == col(Patient.id))
    )
    known = {(name.casefold(), address.casefold()) for name, address in existing.all()}
    repeated = set()
    for row in rows:
        if row.identity in known:
            repeated.add(row.line)
        known.add(row.identity)
    return repeated
