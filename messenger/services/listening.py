"""What happens to a patient's own words: kept, triaged, answered honestly, and put before a person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.config import Settings
from messenger.domain.hours import ClinicHours, clinic_hours
from messenger.domain.models import ConversationEntry, Patient
from messenger.domain.triage import Assessment, Level, PhraseBook, classify
from messenger.services import audit
from messenger.services.conversation import Inbound, record_inbound

# The patient's reply and the staff alert for each level; after hours a routine reply says so.
_REPLIES = {Level.CRISIS: "listening.crisis", Level.URGENT: "listening.urgent", Level.ROUTINE: "listening.received"}
_ALERTS = {Level.CRISIS: "inbox.crisis", Level.URGENT: "inbox.urgent", Level.ROUTINE: "inbox.message"}
AFTER_HOURS = "listening.after_hours"


@dataclass(frozen=True, slots=True)
class Heard:
    entry: ConversationEntry
    assessment: Assessment
    # Keys in bot.toml: what the patient is told, and the alert staff get.
    reply: str
    alert: str
    open_now: bool

    @property
    def urgent(self) -> bool:
        return self.assessment.urgent


def respond(assessment: Assessment, *, open_now: bool) -> tuple[str, str]:
    """(reply key, alert key): crisis and urgent replies at any hour; routine ones say when it will be read."""
    reply = _REPLIES[assessment.level]
    if assessment.level is Level.ROUTINE and not open_now:
        reply = AFTER_HOURS
    return reply, _ALERTS[assessment.level]


def listen(
    session: AsyncSession, *, at: datetime, patient: Patient, inbound: Inbound, book: PhraseBook, hours: ClinicHours
) -> Heard:
    """Store what the patient sent and decide the reply and the alert (media is always routine)."""
    assessment = classify(inbound.text or "", book) if inbound.media is None else Assessment(Level.ROUTINE)
    open_now = hours.is_open(at)
    reply, alert = respond(assessment, open_now=open_now)
    entry = record_inbound(session, at=at, patient_id=patient.pk, inbound=inbound, level=assessment.level)
    audit.record(
        session,
        at=at,
        actor=audit.patient_actor(patient.pk),
        patient_id=patient.pk,
        action="inbound.message",
        channel=inbound.channel.value,
        level=assessment.level.value,
        negated=assessment.negated,
        media=inbound.media,
    )
    return Heard(entry, assessment, reply, alert, open_now)


def discreet_key(key: str) -> str:
    """The SMS/WhatsApp wording of a ``listening.*`` string (a staff reply is sent as written)."""
    section, _, name = key.partition(".")
    return f"listening_sms.{name}" if section == "listening" and name != "staff_reply" else key


def reply_params(settings: Settings, *, now: datetime, zone: ZoneInfo | None = None) -> dict[str, Any]:
    """What every reply to a patient may name: the clinic, its numbers, and when it next opens."""
    hours = clinic_hours(settings)
    opens = hours.next_opening(now)
    return {
        "clinic": settings.clinic_name,
        "phone": settings.clinic_phone,
        "crisis_line": settings.crisis_line,
        "emergency": settings.emergency_number,
        "after_hours_phone": settings.after_hours_phone,
        "opens": patient_time(opens, zone or hours.zone) if opens is not None and opens != now else None,
        "reply_time": None,
    }


def patient_time(instant: datetime, zone: ZoneInfo) -> str:
    """A time as a patient reads it ("Monday 7 December at 08:00"), as the reminders write times."""
    local = instant.astimezone(zone)
    return f"{local:%A} {local.day} {local:%B} at {local:%H:%M}"
