"""The variables every template sees, built from rows (or sample data for checks)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from messenger.domain.enums import StepKind
from messenger.domain.series import SeriesDefinition
from messenger.rendering.formats import LocalFormats, formats_for


@dataclass(frozen=True, slots=True)
class Clinic:
    name: str
    phone: str
    # The clinic's convention for dates and times (``MESSENGER_LOCALE``); a patient's language takes its territory.
    locale: str = "en_US"

    def formats(self, language: str) -> LocalFormats:
        return formats_for(language, self.locale)


def infusion_view(number: int, total: int, at: datetime, zone: ZoneInfo, formats: LocalFormats) -> dict[str, Any]:
    return {"number": number, "total": total, **_moment(at, zone, formats)}


@lru_cache(maxsize=4096)
def _moment(at: datetime, zone: ZoneInfo, formats: LocalFormats) -> dict[str, Any]:
    """An infusion's time in words. Every message of a series names all its infusions, and Babel takes
    tens of microseconds a date: a page of a patient's messages, or a batch of sends, asks for the same few."""
    local = at.astimezone(zone)
    time_text = formats.time(local)
    return {
        "at": local,
        "date": formats.date(local),
        "short_date": formats.short_date(local),
        "time": time_text,
        "weekday": formats.weekday(local),
        # The hour as the clock shows it: Spanish says "a la 1:00" but "a las 10:00".
        "hour": int(time_text.split(":")[0]) if time_text[:1].isdigit() else local.hour,
    }


def series_vars(definition: SeriesDefinition, language: str) -> dict[str, str]:
    """The clinic's own words for a series (what to bring, arrange, do before), in ``language`` where translated."""
    base = language.replace("-", "_").split("_")[0]
    words = {name: value for name, value in definition.vars.items() if isinstance(value, str)}
    for code in dict.fromkeys((base, language)):
        translated = definition.vars.get(code)
        if isinstance(translated, dict):
            words |= translated
    return words


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
    language: str,
    not_held: Collection[int] = (),
    note_link: str | None = None,
) -> dict[str, Any]:
    """``not_held``: infusions that did not take place (missed, cancelled, waiting for a new time);
    ``note_link`` is the address of the note's own page, for channels that cannot carry the note."""
    total = definition.infusions.count
    formats = clinic.formats(language)
    infusions = [
        infusion_view(n, total, at, zone, formats) | {"held": n not in not_held}
        for n, at in enumerate(infusion_times, start=1)
    ]
    return {
        "patient": {"name": patient_name, "first_name": patient_name.split()[0] if patient_name.split() else ""},
        "clinic": {"name": clinic.name, "phone": clinic.phone},
        "series": {"title": definition.title, "vars": series_vars(definition, language)},
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
    definition: SeriesDefinition,
    *,
    clinic: Clinic,
    step_key: str,
    kind: StepKind,
    infusion_number: int | None,
    language: str = "en",
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
        language=language,
        note_link=SAMPLE_NOTE_LINK if kind is StepKind.EDUCATION else None,
    )
