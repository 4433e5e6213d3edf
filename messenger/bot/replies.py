"""A staff member's words to a patient, and "I'm on it": shared by the inbox commands and the buttons.

A reply is an outbox row for the patient, queued with its place in the conversation in one
transaction; the staff member is told it is on its way once that has committed.
"""

from __future__ import annotations

from telegram import CallbackQuery, Update
from telegram.ext import ContextTypes

from messenger.bot.acknowledgement import CopyOnTheWire
from messenger.bot.context import BotDeps, reply, staff_only
from messenger.bot.parsing import InputError
from messenger.db import transaction
from messenger.domain.models import Patient, Staff
from messenger.services.direct import MAX_REPLY, NoDirectContact, queue_staff_reply
from messenger.services.errors import ServiceError
from messenger.services.staff import active_staff


@staff_only()
async def reply_to_alert(update: Update, _context: ContextTypes.DEFAULT_TYPE, deps: BotDeps, staff: Staff) -> None:
    """A staff member's Telegram reply to an alert goes to the patient the alert is about."""
    message = update.effective_message
    original = message.reply_to_message if message is not None else None
    if message is None or original is None:
        raise InputError("usage_reply")
    try:
        patient_id = (
            await deps.desk.patient_for_copy(chat_id=message.chat.id, message_id=original.message_id)
            if deps.desk is not None
            else None
        )
    except CopyOnTheWire:
        await reply(update, deps.text("inbox.reply_not_yet"))
        return
    if patient_id is None:
        await reply(update, deps.text("inbox.reply_not_alert"))
        return
    await send_reply(update, deps, staff, patient_id, message.text or "")


async def send_reply(update: Update, deps: BotDeps, staff: Staff, patient_id: int, text: str) -> None:
    text = text.strip()
    if not text:
        raise InputError("usage_reply")
    if len(text) > MAX_REPLY:
        raise InputError("reply_too_long", limit=MAX_REPLY)
    async with deps.sessions() as session:
        patient = await session.get(Patient, patient_id)
    if patient is None:
        raise ServiceError("unknown_patient", patient_id=patient_id)
    async with transaction(deps.sessions) as session:
        queued = await queue_staff_reply(
            session,
            now=deps.clock.now(),
            patient_id=patient_id,
            text=text,
            staff_user_id=staff.telegram_user_id,
            clinic=deps.clinic.name,
            channels=deps.channels,
        )
    if isinstance(queued, NoDirectContact):
        await reply(update, deps.text("inbox.reply_failed", name=patient.name, patient_id=patient_id))
        return
    deps.poke()
    await reply(
        update, deps.text("inbox.replied", name=patient.name, patient_id=patient_id, channel=queued.channel.value)
    )


async def take(deps: BotDeps, query: CallbackQuery, alert_id: int) -> str | None:
    """ "I'm on it": the first press takes the alert; later presses are told who has it."""
    user = query.from_user
    async with deps.sessions() as session:
        staff = await active_staff(session, user.id)
    if staff is None:
        raise ServiceError("button_not_yours")
    name = staff.name or user.full_name or str(user.id)
    taken = await deps.desk.acknowledge(alert_id=alert_id, staff_user_id=user.id, name=name) if deps.desk else None
    if taken is None:
        raise ServiceError("button_not_yours")
    if taken.first:
        return None
    return deps.text("inbox.already_taken", who=taken.alert.acknowledged_name or "")
