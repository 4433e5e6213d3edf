"""The CSV export: one file per table in a zip, with the columns documented inside it.

Times are ISO 8601 in UTC (``2026-12-02T18:00:00Z``). Nothing secret leaves: invite code
hashes, staff tables and provider credentials are not exported; contact addresses are, as
the clinic needs them to reach its patients elsewhere.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import tomllib
import zipfile
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.domain.models import Answer, AuditEvent, Contact, Infusion, Message, Patient, Series

COLUMNS_FILE = Path(__file__).parent / "columns.toml"


@functools.cache
def columns() -> dict[str, dict[str, str]]:
    """file → {column: what it holds}, in order; the model attribute of the same name fills each column."""
    return tomllib.loads(COLUMNS_FILE.read_text(encoding="utf-8"))


MODELS: dict[str, type[SQLModel]] = {
    "patients.csv": Patient,
    "contacts.csv": Contact,
    "series.csv": Series,
    "infusions.csv": Infusion,
    "answers.csv": Answer,
    "messages.csv": Message,
    "audit.csv": AuditEvent,
}


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def csv_text(columns: list[str], rows: Iterable[SQLModel]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows([cell(getattr(row, name)) for name in columns] for row in rows)
    return out.getvalue()


async def export_zip(session: AsyncSession) -> tuple[bytes, dict[str, int]]:
    """The zip's bytes and how many rows each file holds."""
    buffer = io.BytesIO()
    counts: dict[str, int] = {}
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, model in MODELS.items():
            rows = (await session.exec(select(model).order_by(col(model.id)))).all()  # type: ignore[attr-defined]
            counts[name] = len(rows)
            archive.writestr(name, csv_text(list(columns()[name]), rows))
        archive.writestr("COLUMNS.txt", columns_doc())
    return buffer.getvalue(), counts


def columns_doc() -> str:
    """The columns file shipped inside the zip, so the export explains itself."""
    return COLUMNS_FILE.read_text(encoding="utf-8")
