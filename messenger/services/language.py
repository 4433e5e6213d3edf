"""The language a patient reads: chosen by the patient (/language) or set by staff at enrolment."""

from __future__ import annotations

from enum import StrEnum

from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.clock import Clock
from messenger.domain.models import Patient
from messenger.services import audit
from messenger.services.errors import ServiceError


class LanguageChange(StrEnum):
    CHANGED = "changed"
    UNCHANGED = "unchanged"


async def set_language(
    *, session: AsyncSession, clock: Clock, patient_id: int, language: str, known: list[str], actor: str
) -> LanguageChange:
    """Every message not yet sent to the patient goes out in ``language`` (one of ``known``)."""
    if language not in known:
        raise ServiceError("button_not_yours")
    patient = await session.get(Patient, patient_id)
    if patient is None:
        raise ServiceError("unknown_patient", patient_id=patient_id)
    if patient.locale == language:
        return LanguageChange.UNCHANGED
    previous, patient.locale = patient.locale, language
    session.add(patient)
    audit.record(
        session,
        at=clock.now(),
        actor=actor,
        action="patient.language",
        patient_id=patient_id,
        language=language,
        previous=previous,
    )
    return LanguageChange.CHANGED
