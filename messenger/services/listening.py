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
from messenger.domain.series import SeriesDefinition
from messenger.domain.triage import Assessment, Level, PhraseBook, classify
from messenger.rendering.context import series_vars
from messenger.rendering.formats import formats_for
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


def reply_params(settings: Settings, *, now: datetime, language: str, zone: ZoneInfo | None = None) -> dict[str, Any]:
    """What every reply to a patient may name: the clinic, its numbers, and when it next opens
    (the day and the time apart, in the patient's language, for the sentence to join)."""
    hours = clinic_hours(settings)
    opens = hours.next_opening(now)
    params: dict[str, Any] = {
        "clinic": settings.clinic_name,
        "phone": settings.clinic_phone,
        "crisis_line": settings.crisis_line,
        "emergency": settings.emergency_number,
        "after_hours_phone": settings.after_hours_phone,
        "opens": None,
        "opens_time": None,
        # How soon staff call back: a clinic's promise, from the series (see ``promised_reply_time``).
        "reply_time": None,
    }
    if opens is not None and opens != now:
        formats = formats_for(language, settings.locale)
        local = opens.astimezone(zone or hours.zone)
        params |= {"opens": formats.date(local), "opens_time": formats.time(local)}
    return params


def promised_reply_time(definition: SeriesDefinition | None, language: str) -> str | None:
    """How soon the clinic says it calls back ("within one working day"), from the series' ``vars.reply_time``;
    None when the clinic promises no time, and the reply names none."""
    if definition is None:
        return None
    return series_vars(definition, language).get("reply_time")
