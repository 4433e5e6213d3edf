"""What patients send back by SMS or WhatsApp: STOP / START / HELP first, then check-in answers, then free text."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.channels.base import Failed
from messenger.channels.failures import FailureCode
from messenger.clock import Clock
from messenger.domain.catalog import SeriesCatalog
from messenger.domain.enums import ChannelName, MessageStatus
from messenger.domain.models import Contact, Message, Patient, Series
from messenger.domain.timing import PAST_NOT_AFTER, QuietHours, send_time_of
from messenger.rendering.whatsapp import step_templates
from messenger.services import audit
from messenger.services.answers import answer_checkin, open_checkin
from messenger.services.contacts import contact_at, set_opted_out
from messenger.services.rows import existing

# The carrier keywords (CTIA, and Twilio's defaults) and their Spanish counterparts, matched on the whole
# message with accents folded ("SÍ" is "si").
STOP_WORDS = frozenset(
    {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout", "revoke"}
    | {"parar", "para", "cancelar", "detener", "alto", "baja", "darse de baja"}
)
START_WORDS = frozenset({"start", "unstop", "yes"} | {"comenzar", "iniciar", "reanudar", "si"})
HELP_WORDS = frozenset({"help", "info"} | {"ayuda", "informacion"})
# "YES" / "SI" answer an open contact question before they mean START.
_YES_WORDS = frozenset({"yes", "si"})
_ANSWERS = {
    "pain": {str(n): str(n) for n in range(11)},
    "mood": {str(n): str(n) for n in range(1, 6)},
    "contact": {"yes": "yes", "y": "yes", "si": "yes", "s": "yes", "no": "no", "n": "no"},
}


def keyword(body: str) -> str:
    """A reply as one comparable word: spaces collapsed, lower case, accents folded, end punctuation dropped."""
    folded = unicodedata.normalize("NFKD", " ".join(body.split()).lower())
    return "".join(ch for ch in folded if not unicodedata.combining(ch)).strip(".!¡?¿")


@dataclass
class InboundResult:
    """The reply to send back (a key in ``[sms]`` of bot.toml) and the alert for staff, if any."""

    reply: str | None = None
    reply_params: dict[str, Any] = field(default_factory=dict)
    alert: str | None = None
    alert_params: dict[str, Any] = field(default_factory=dict)
    patient: Patient | None = None


async def handle_inbound(
    *, session: AsyncSession, clock: Clock, catalog: SeriesCatalog, channel: ChannelName, address: str, body: str
) -> InboundResult:
    contact = await contact_at(session, channel, address)
    if contact is None:
        return InboundResult()  # an unknown number gets no answer: it may be anyone
    patient = await existing(session, Patient, contact.patient_id)
    # Opens WhatsApp's 24-hour window for free text (messenger.scheduling.whatsapp).
    contact.last_inbound_at = clock.now()
    text = " ".join(body.split())
    word = keyword(text)
    result = InboundResult(patient=patient)
    checkin, question = await open_checkin(session, patient.pk) or (None, None)

    if word in STOP_WORDS:
        if await set_opted_out(
            session=session, clock=clock, contact=contact, opted_out=True, reason=f"replied {word.upper()}"
        ):
            result.alert, result.alert_params = "opted_out", {"channel": channel.value}
        result.reply = "stopped"
    elif word in START_WORDS and not (word in _YES_WORDS and question == "contact"):
        if await set_opted_out(
            session=session, clock=clock, contact=contact, opted_out=False, reason=f"replied {word.upper()}"
        ):
            result.alert, result.alert_params = "opted_in", {"channel": channel.value}
        result.reply = "started"
    elif word in HELP_WORDS:
        result.reply = "help"
    elif checkin is not None and question is not None and word in _ANSWERS[question]:
        state = await answer_checkin(
            session=session,
            clock=clock,
            catalog=catalog,
            message_id=checkin.pk,
            patient_id=patient.pk,
            question=question,
            value=_ANSWERS[question][word],
        )
        if state.next_question:
            result.reply = f"question_{state.next_question}"
        else:
            result.reply = "checkin_thanks_contact" if state.answers.get("contact") == "yes" else "checkin_thanks"
        if state.escalations:
            result.alert, result.alert_params = "escalation", {"reasons": state.escalations}
    elif checkin is not None and question in ("pain", "mood") and word.isdigit() and len(word) <= 2:
        # A number out of range is a mistaken answer, not a message for staff: ask again.
        result.reply, result.reply_params = "invalid_answer", {"question": question}
    else:
        result.reply = "free_text_ack"
        result.alert, result.alert_params = "free_text", {"text": text[:1000]}
    audit.record(
        session,
        at=clock.now(),
        actor=audit.patient_actor(patient.pk),
        patient_id=patient.pk,
        action="inbound",
        channel=channel.value,
        kind=result.reply or "none",
    )
    return result


@dataclass(frozen=True, slots=True)
class StatusResult:
    message: Message | None
    # The contact this report found dead or opted out (None if it was known already).
    lost: Contact | None = None
    # Back in the queue, to go again at once (as its WhatsApp template).
    requeued: bool = False


async def apply_delivery_status(
    *,
    session: AsyncSession,
    clock: Clock,
    quiet_hours: QuietHours,
    provider_id: str,
    status: str,
    failure: Failed | None,
    catalog: SeriesCatalog | None = None,
) -> StatusResult:
    """A provider's later word on a sent message: a dead or opted-out number sends it to the next contact."""
    message = (await session.exec(select(Message).where(Message.provider_id == provider_id))).first()
    if message is None:
        return StatusResult(None)
    now = clock.now()
    message.provider_status = status[:32] or None
    if failure is None or message.status is not MessageStatus.SENT:
        _record_status(session, message, status, now)
        return StatusResult(message)
    contact = await session.get(Contact, message.contact_id) if message.contact_id else None
    lost, requeued = None, False
    if failure.code is FailureCode.TWILIO_OUTSIDE_WINDOW and await _has_whatsapp_template(session, catalog, message):
        # WhatsApp refused free text after accepting it: once more, as the step's template (which 63016 never hits).
        await _reroute(session, message, failure, quiet_hours, now)
        requeued = True
    elif contact is not None and (failure.unreachable or failure.opted_out):
        # Staff hear once per episode: only the report that finds the contact fine says it is lost.
        newly = (failure.unreachable and contact.reachable) or (failure.opted_out and not contact.opted_out)
        contact.reachable = contact.reachable and not failure.unreachable
        contact.opted_out = contact.opted_out or failure.opted_out
        contact.status_reason, lost = failure.reason, contact if newly else None
        await _reroute(session, message, failure, quiet_hours, now)
    else:
        message.status, message.last_error, message.updated_at = MessageStatus.FAILED, failure.reason, now
    _record_status(session, message, status, now, reason=failure.reason)
    return StatusResult(message, lost, requeued)


def _record_status(session: AsyncSession, message: Message, status: str, now: datetime, **reason: str) -> None:
    """Audit a provider's delivery report on ``message`` (with why it failed, when it did)."""
    audit.record(
        session,
        at=now,
        actor=audit.SYSTEM,
        action="delivery_status",
        patient_id=message.patient_id,
        message=message.id,
        status=status,
        **reason,
    )


async def _reroute(
    session: AsyncSession, message: Message, failure: Failed, quiet_hours: QuietHours, now: datetime
) -> None:
    """The step was not delivered: back to the queue for the patient's next contact, if still in time."""
    patient = await session.get(Patient, message.patient_id)
    when = None
    if patient is not None:
        when = send_time_of(message, zone=ZoneInfo(patient.timezone), quiet=quiet_hours, not_before=now)
    values: dict[str, object] = {"status": MessageStatus.PENDING, "send_at": when, "last_error": failure.reason}
    if when is None:
        values = {
            "status": MessageStatus.FAILED,
            "last_error": f"{failure.reason}; {PAST_NOT_AFTER} for another contact",
        }
    await session.exec(
        update(Message)
        .where(col(Message.id) == message.id, col(Message.status) == MessageStatus.SENT)
        .values(sent_at=None, provider_id=None, updated_at=now, **values)
    )


async def _has_whatsapp_template(session: AsyncSession, catalog: SeriesCatalog | None, message: Message) -> bool:
    series = await session.get(Series, message.series_id)
    if catalog is None or series is None or series.definition_key not in catalog:
        return False
    return bool(step_templates(catalog.get(series.definition_key), message.step_key))
