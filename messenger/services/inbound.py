"""What patients send back by SMS or WhatsApp: STOP / START / HELP first, then check-in answers, then free text.

Every message is kept in the patient's conversation; keywords and answers are handled by
the bot at once, free text is triaged and waits in the staff inbox.
"""

from __future__ import annotations

import re
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
from messenger.domain.hours import ClinicHours
from messenger.domain.models import Contact, Message, Patient, Series
from messenger.domain.timing import PAST_NOT_AFTER, QuietHours, send_time_of
from messenger.domain.triage import Level, PhraseBooks
from messenger.rendering.whatsapp import step_templates
from messenger.services import audit
from messenger.services.answers import answer_checkin, open_checkin
from messenger.services.contacts import contact_at, set_opted_out
from messenger.services.conversation import Inbound, record_inbound
from messenger.services.listening import Heard, listen, promised_reply_time
from messenger.services.rows import existing

# The carrier keywords (CTIA, and Twilio's defaults) and their Spanish counterparts, matched on the whole
# message with accents folded ("SÍ" is "si").
STOP_WORDS = frozenset(
    {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout", "revoke"}
    | {"parar", "para", "cancelar", "detener", "alto", "baja", "darse de baja"}
)
START_WORDS = frozenset({"start", "unstop", "yes"} | {"comenzar", "iniciar", "reanudar", "si"})
HELP_WORDS = frozenset({"help", "info"} | {"ayuda", "informacion"})
_ANSWERS = {
    "pain": {str(n): str(n) for n in range(11)},
    "mood": {str(n): str(n) for n in range(1, 6)},
    "contact": {"yes": "yes", "y": "yes", "yeah": "yes", "please": "yes", "no": "no", "n": "no", "nope": "no"}
    | {"si": "yes", "s": "yes", "por favor": "yes"},
}
# "8", "8/10", "pain 8", "pain: 8 / 10"; "mood 2", "2/5".
_SCORE = {
    "pain": re.compile(r"^(?:pain\s*:?\s*)?(\d{1,2})(?:\s*/\s*10)?$"),
    "mood": re.compile(r"^(?:mood\s*:?\s*)?(\d)(?:\s*/\s*5)?$"),
}
# Yes or no, in English and Spanish: answer an open question before "yes" / "si" mean START.
_YES_NO = frozenset({"yes", "y", "no", "n", "si", "s"})


def read_answer(question: str, word: str) -> str | None:
    """The answer ``word`` gives to ``question``, or None if it is not one (a number out of range is None)."""
    pattern = _SCORE.get(question)
    if pattern is not None:
        match = pattern.match(word)
        word = match.group(1).lstrip("0") or "0" if match else word
    return _ANSWERS[question].get(word)


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
    # Free text: kept, triaged; its alert is for the caller to store in the same transaction.
    heard: Heard | None = None
    # Said before the reply (a gentle word after a very low mood).
    preface: str | None = None


async def handle_inbound(
    *,
    session: AsyncSession,
    clock: Clock,
    catalog: SeriesCatalog,
    channel: ChannelName,
    address: str,
    body: str,
    books: PhraseBooks,
    hours: ClinicHours,
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
    answer = read_answer(question, word) if question else None
    # "yes" answers an open question; it means START only to a patient who had stopped messages.
    answering = question is not None and word in _YES_NO and not contact.opted_out
    now = clock.now()

    if word in STOP_WORDS:
        if await set_opted_out(
            session=session, clock=clock, contact=contact, opted_out=True, reason=f"replied {word.upper()}"
        ):
            result.alert, result.alert_params = "opted_out", {"channel": channel.value}
        result.reply = "stopped"
    elif word in START_WORDS and not answering:
        if await set_opted_out(
            session=session, clock=clock, contact=contact, opted_out=False, reason=f"replied {word.upper()}"
        ):
            result.alert, result.alert_params = "opted_in", {"channel": channel.value}
        result.reply = "started"
    elif word in HELP_WORDS:
        result.reply = "help"
    elif checkin is not None and question is not None and answer is not None:
        await _answer(session, clock, catalog, result, checkin, question, answer)
    elif question in ("pain", "mood") and (answering or _SCORE[question].match(word)):
        # A number out of range, or yes/no to a number question, is a mistaken answer: ask again.
        result.reply, result.reply_params = "invalid_answer", {"question": question}
    else:
        inbound = Inbound(channel, text[:3000])
        result.heard = listen(
            session, at=now, patient=patient, inbound=inbound, book=books(patient.locale), hours=hours
        )
        result.reply = result.heard.reply
        result.alert, result.alert_params = result.heard.alert, {"text": text[:1000]}
    if result.heard is None:  # handled by the bot itself: kept, but nobody needs to answer it
        entry = record_inbound(
            session, at=now, patient_id=patient.pk, inbound=Inbound(channel, text[:3000]), level=Level.ROUTINE
        )
        entry.handled_at = now
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


async def _answer(
    session: AsyncSession,
    clock: Clock,
    catalog: SeriesCatalog,
    result: InboundResult,
    checkin: Message,
    question: str,
    answer: str,
) -> None:
    """Record a check-in answer; reply with the next question, or thanks that say whether staff were told."""
    if result.patient is None:  # only called for a known patient's open check-in
        raise TypeError("a check-in answer needs its patient")
    state = await answer_checkin(
        session=session,
        clock=clock,
        catalog=catalog,
        message_id=checkin.pk,
        patient_id=result.patient.pk,
        question=question,
        value=answer,
    )
    if state.next_question:
        result.reply = f"question_{state.next_question}"
    else:
        result.reply = "listening.escalated" if state.escalated else "checkin_thanks"
        result.reply_params["reply_time"] = promised_reply_time(state.definition, result.patient.locale)
    if question == "mood" and state.escalations:
        result.preface = "listening.low_mood"
    if state.escalations:
        result.alert, result.alert_params = "escalation", {"reasons": state.escalations}


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
