"""What patients answer: infusion confirmations and check-ins, with escalation to staff."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.clock import Clock
from messenger.domain.catalog import SeriesCatalog
from messenger.domain.checkin_rules import Escalation
from messenger.domain.enums import InfusionStatus, MessageStatus, StepKind
from messenger.domain.models import Answer, Infusion, Message, Series
from messenger.domain.series import SeriesDefinition
from messenger.domain.wording import Phrase
from messenger.services import audit
from messenger.services.attendance import hold_for_reschedule
from messenger.services.errors import ServiceError
from messenger.services.rows import existing

QUESTIONS = ("pain", "mood", "contact")
VALID = {"pain": {str(n) for n in range(11)}, "mood": {str(n) for n in range(1, 6)}, "contact": {"yes", "no"}}


@dataclass(frozen=True, slots=True)
class CheckinState:
    message: Message
    answers: dict[str, str]
    # The question to ask next, or None when the check-in is complete.
    next_question: str | None
    # Why this answer needs a call from the clinic, as ``escalation.*`` phrases (empty if it does not).
    escalations: list[Phrase] = field(default_factory=list)
    duplicate: bool = False
    # Some answer of this check-in (this one or an earlier) was escalated to staff.
    escalated: bool = False
    # The series the check-in belongs to: what the clinic promises comes from its variables.
    definition: SeriesDefinition | None = None


async def own_sent_message(session: AsyncSession, *, message_id: int, patient_id: int, kind: StepKind) -> Message:
    """A message of ``kind`` that was sent to this patient; anything else is a stale or foreign button.

    One still "sending" counts: the patient can press its button before the dispatcher has recorded
    the rest of the batch it went out in."""
    message = await session.get(Message, message_id)
    if (
        message is None
        or message.patient_id != patient_id
        or message.kind is not kind
        or message.status not in (MessageStatus.SENT, MessageStatus.SENDING)
    ):
        raise ServiceError("button_not_yours")
    return message


async def respond_to_reminder(
    *, session: AsyncSession, clock: Clock, message_id: int, patient_id: int, attending: bool
) -> Infusion:
    message = await own_sent_message(session, message_id=message_id, patient_id=patient_id, kind=StepKind.REMINDER)
    infusion = (
        await session.exec(
            select(Infusion).where(Infusion.series_id == message.series_id, Infusion.number == message.infusion_number)
        )
    ).one()
    now = clock.now()
    if infusion.status is InfusionStatus.CANCELLED:
        raise ServiceError("series_closed", status="cancelled")
    if infusion.scheduled_at <= now:
        raise ServiceError("infusion_started", number=infusion.number)
    infusion.status = InfusionStatus.CONFIRMED if attending else InfusionStatus.RESCHEDULE_REQUESTED
    infusion.responded_at = now
    if not attending and message.series_id is not None:  # a reminder always has its series
        await hold_for_reschedule(session, series_id=message.series_id, number=infusion.number, now=now)
    audit.record(
        session,
        at=now,
        actor=audit.patient_actor(patient_id),
        patient_id=patient_id,
        action="infusion.confirm" if attending else "infusion.reschedule_request",
        infusion=infusion.number,
    )
    return infusion


async def checkin_state(session: AsyncSession, message: Message) -> dict[str, str]:
    rows = await session.exec(select(Answer).where(Answer.message_id == message.id))
    return {a.question: a.value for a in rows.all()}


async def answer_checkin(
    *,
    session: AsyncSession,
    clock: Clock,
    catalog: SeriesCatalog,
    message_id: int,
    patient_id: int,
    question: str,
    value: str,
) -> CheckinState:
    """Store one answer; a second answer to the same question changes nothing."""
    message = await own_sent_message(session, message_id=message_id, patient_id=patient_id, kind=StepKind.CHECKIN)
    if question not in VALID or value not in VALID[question]:
        raise ServiceError("answer_invalid", question=question)
    rows = (await session.exec(select(Answer).where(Answer.message_id == message.id))).all()
    answers = {a.question: a.value for a in rows}
    earlier_escalated = any(a.escalated for a in rows)
    if question in answers:
        return CheckinState(message, answers, next_question(answers), duplicate=True, escalated=earlier_escalated)
    if message.series_id is None:  # only staff alerts have no series, and they carry no buttons
        raise ServiceError("button_not_yours")
    series = await existing(session, Series, message.series_id)
    definition = catalog.get(series.definition_key) if series.definition_key in catalog else None
    escalation = definition.escalation if definition is not None else Escalation()
    reasons = escalations(escalation, question, value)
    if question == "pain" and not reasons:
        reasons = await _rise_from_baseline(session, escalation, series_id=series.pk, value=int(value))
    session.add(
        Answer(
            series_id=message.series_id,
            patient_id=patient_id,
            message_id=message.id,
            question=question,
            value=value,
            score=int(value) if value.isdigit() else None,
            escalated=bool(reasons),
            answered_at=clock.now(),
            after_infusion=await infusions_before(session, message),
        )
    )
    answers[question] = value
    return CheckinState(
        message,
        answers,
        next_question(answers),
        reasons,
        escalated=earlier_escalated or bool(reasons),
        definition=definition,
    )


async def _rise_from_baseline(session: AsyncSession, rule: Escalation, *, series_id: int, value: int) -> list[Phrase]:
    """Pain up by ``rule.pain_rise`` or more from the patient's own first check-in of the series."""
    first = (
        await session.exec(
            select(Answer.score)
            .where(Answer.series_id == series_id, Answer.question == "pain", col(Answer.score).is_not(None))
            .order_by(col(Answer.answered_at), col(Answer.id))
            .limit(1)
        )
    ).first()
    if first is None or value - first < rule.pain_rise:
        return []
    return [Phrase("escalation.pain_rise", {"value": value, "rise": value - first, "first": first})]


async def infusions_before(session: AsyncSession, message: Message) -> int:
    """How many of the series' infusions were due before this check-in: the one it follows (0: the baseline)."""
    count = await session.exec(
        select(func.count())
        .select_from(Infusion)
        .where(
            Infusion.series_id == message.series_id,
            col(Infusion.scheduled_at) <= message.due_at,
            col(Infusion.status) != InfusionStatus.CANCELLED,
        )
    )
    return int(count.one())


async def open_checkin(session: AsyncSession, patient_id: int) -> tuple[Message, str] | None:
    """The patient's latest sent check-in and its next question, if one is unanswered (for replies by text)."""
    message = (
        await session.exec(
            select(Message)
            .where(
                Message.patient_id == patient_id, Message.kind == StepKind.CHECKIN, Message.status == MessageStatus.SENT
            )
            .order_by(col(Message.sent_at).desc())
            .limit(1)
        )
    ).first()
    question = None if message is None else next_question(await checkin_state(session, message))
    return None if message is None or question is None else (message, question)


def escalations(rule: Escalation, question: str, value: str) -> list[Phrase]:
    if question == "pain" and int(value) >= rule.pain_at_least:
        return [Phrase("escalation.pain", {"value": int(value)})]
    if question == "mood" and int(value) <= rule.mood_at_most:
        return [Phrase("escalation.mood", {"value": int(value)})]
    if question == "contact" and value == "yes" and rule.contact_requested:
        return [Phrase("escalation.contact")]
    return []


def next_question(answers: dict[str, str]) -> str | None:
    """The first question not yet answered, or None."""
    return next((q for q in QUESTIONS if q not in answers), None)
