"""The variables every template sees, built from rows (or sample data for checks)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from messenger.domain.enums import StepKind
from messenger.domain.series import SeriesDefinition


@dataclass(frozen=True, slots=True)
class Clinic:
    name: str
    phone: str


def infusion_view(number: int, total: int, at: datetime, zone: ZoneInfo) -> dict[str, Any]:
    local = at.astimezone(zone)
    return {
        "number": number,
        "total": total,
        "at": local,
        "date": f"{local:%A} {local.day} {local:%B}",
        "time": f"{local:%H:%M}",
        "weekday": f"{local:%A}",
    }


def message_context(
    *,
    patient_name: str,
    zone: ZoneInfo,
    clinic: Clinic,
    definition: SeriesDefinition,
    infusion_times: Sequence[datetime],
    step_key: str,
    kind: StepKind,
    infusion_number: int | None,
    not_held: Collection[int] = (),
    note_link: str | None = None,
) -> dict[str, Any]:
    """``not_held``: infusions that did not take place (missed, cancelled, waiting for a new time);
    ``note_link`` is the address of the note's own page, for channels that cannot carry the note."""
    total = definition.infusions.count
    infusions = [
        infusion_view(n, total, at, zone) | {"held": n not in not_held} for n, at in enumerate(infusion_times, start=1)
    ]
    return {
        "patient": {"name": patient_name, "first_name": patient_name.split()[0] if patient_name.split() else ""},
        "clinic": {"name": clinic.name, "phone": clinic.phone},
        "series": {"title": definition.title, "vars": dict(definition.vars)},
        "infusions": infusions,
        "infusion": infusions[infusion_number - 1] if infusion_number else None,
        "step": {"key": step_key, "kind": kind.value},
        "note_link": note_link,
    }


SAMPLE_ZONE = ZoneInfo("America/Los_Angeles")
# Awkward on purpose: HTML flavours must escape it, plain ones must carry it intact.
SAMPLE_PATIENT = "Jane <b>O'Hara</b> & Co"
# As long as a real one: a clinic's address and a token for a six-digit message id (SMS budgets count it).
SAMPLE_NOTE_LINK = "https://care.example-clinic.org/n/bjEyMzQ1Ng.1798761600.AAAAAAAAAAAAAAAAAAAAAA"


def sample_context(
    definition: SeriesDefinition, *, clinic: Clinic, step_key: str, kind: StepKind, infusion_number: int | None
) -> dict[str, Any]:
    """A realistic context for rendering a step without a patient (template checks, previews)."""
    first = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)  # 10:00 in Los Angeles
    times = [first + timedelta(days=d) for d in definition.infusions.default_days]
    number = infusion_number or (1 if kind in {StepKind.REMINDER, StepKind.CHECKIN} else None)
    return message_context(
        patient_name=SAMPLE_PATIENT,
        zone=SAMPLE_ZONE,
        clinic=clinic,
        definition=definition,
        infusion_times=times,
        step_key=step_key,
        kind=kind,
        infusion_number=number,
        note_link=SAMPLE_NOTE_LINK if kind is StepKind.EDUCATION else None,
    )
