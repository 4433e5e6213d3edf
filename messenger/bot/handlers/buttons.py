"""Button presses: reminder answers, check-in answers, /stop confirmation, and staff's "Open patient".

A stale, forged or someone else's button is harmless: it changes nothing and the presser
is told the button is no longer active.
"""

from __future__ import annotations

import logging
import re
from html import unescape
from zoneinfo import ZoneInfo

from telegram import CallbackQuery, Update
from telegram import Message as TelegramMessage
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from messenger.bot import replies
from messenger.bot.context import BotDeps, deps_of
from messenger.bot.keyboards import Callback, question_buttons
from messenger.bot.steps import LANGUAGE_KIND, confirm_stop, language_chosen, send_patient_card, send_progress
from messenger.channels.telegram import markup
from messenger.db import transaction
from messenger.domain.models import Patient
from messenger.services.answers import CheckinState, answer_checkin, respond_to_reminder
from messenger.services.errors import ServiceError
from messenger.services.invites import patient_for_chat
from messenger.services.listening import promised_reply_time, reply_params
from messenger.services.staff import active_staff

log = logging.getLogger(__name__)


async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Route a button press by its callback data."""
    deps = deps_of(context)
    query = update.callback_query
    if query is None:  # registered as a CallbackQueryHandler: there is always one
        return
    callback = Callback.decode(query.data)
    try:
        if callback is None:
            raise ServiceError("button_not_yours")
        if callback.kind == "o":
            await _open_patient(update, deps, callback)
            await query.answer()
            return
        if callback.kind == "a":
            note = await replies.take(deps, query, callback.target)
            await query.answer(_plain(note) if note else None)
            return
        patient = await _presser(deps, query)
        if callback.kind == "r" and callback.value in {"y", "n"}:
            await _reminder(deps, query, patient, callback)
        elif callback.kind == "c" and callback.question:
            await _checkin(deps, query, patient, callback)
        elif callback.kind == LANGUAGE_KIND and callback.target == patient.id:
            await _edit(query, await language_chosen(deps, patient, callback.value), None)
        elif callback.kind == "s" and callback.target == patient.id:
            text = await confirm_stop(deps, patient, query.message.chat.id, callback.value == "y")  # type: ignore[union-attr]
            await _edit(query, text, None)
        else:
            raise ServiceError("button_not_yours")
    except ServiceError as error:
        await query.answer(_plain(deps.explain(error)), show_alert=False)
        return
    await query.answer()


async def _presser(deps: BotDeps, query: CallbackQuery) -> Patient:
    # A button on an inline message (sent through another chat) carries no message: not one of ours.
    if query.message is None:
        raise ServiceError("button_not_yours")
    async with deps.sessions() as session:
        patient = await patient_for_chat(session, query.message.chat.id)
    if patient is None:
        raise ServiceError("button_not_yours")
    return patient


async def _reminder(deps: BotDeps, query: CallbackQuery, patient: Patient, callback: Callback) -> None:
    attending = callback.value == "y"
    async with transaction(deps.sessions) as session:
        infusion = await respond_to_reminder(
            session=session, clock=deps.clock, message_id=callback.target, patient_id=patient.pk, attending=attending
        )
        if not attending:
            when = deps.when(infusion.scheduled_at, ZoneInfo(patient.timezone))
            await deps.alert(session, "reschedule_request", patient, number=infusion.number, when=when)
    deps.poke()
    key = "patient.reminder_confirmed" if attending else "patient.reminder_reschedule"
    await _edit(query, _original(query) + "\n\n" + deps.strings.get(key, patient.locale, number=infusion.number), None)


async def _checkin(deps: BotDeps, query: CallbackQuery, patient: Patient, callback: Callback) -> None:
    question, value = callback.question  # type: ignore[misc]
    async with transaction(deps.sessions) as session:
        state = await answer_checkin(
            session=session,
            clock=deps.clock,
            catalog=deps.catalog,
            message_id=callback.target,
            patient_id=patient.id,  # type: ignore[arg-type]
            question=question,
            value=value,
        )
        # Committed with the answer, before any edit: a failed edit cannot lose the escalation.
        if state.escalations:
            await deps.alert(session, "escalation", patient, reasons=state.escalations)
    if state.duplicate:
        return
    deps.poke()
    text, rows = checkin_message(deps, patient.locale, _original(query), state, callback.target, question, value)
    try:
        await _edit(query, text, rows)
    except TelegramError as exc:
        # The answer (and any alert) is recorded; the press is still acknowledged below.
        log.warning("check-in message %s could not be edited: %s", callback.target, exc)


def checkin_message(
    deps: BotDeps, locale: str, original: str, state: CheckinState, message_id: int, question: str, value: str
) -> tuple[str, tuple]:  # type: ignore[type-arg]
    """The check-in message after an answer: the answer noted, then the next question or thanks."""
    strings = deps.strings
    label = (
        strings.get(f"buttons.mood_{value}", locale)
        if question == "mood"
        else strings.get(f"buttons.{value}", locale)
        if question == "contact"
        else value
    )
    text = original + "\n" + strings.get(f"patient.answered_{question}", locale, value=value, label=label)
    params = reply_params(deps.settings, now=deps.clock.now(), language=locale)
    params["reply_time"] = promised_reply_time(state.definition, locale)
    if question == "mood" and state.escalations:
        text += "\n\n" + strings.get("listening.low_mood", locale, **params)
    if state.next_question is None:
        thanks = "listening.escalated" if state.escalated else "patient.checkin_thanks"
        return text + "\n\n" + strings.get(thanks, locale, **params), ()
    next_text = strings.get(f"patient.question_{state.next_question}", locale)
    return text + "\n\n" + next_text, question_buttons(state.next_question, message_id, strings, locale)


async def _open_patient(update: Update, deps: BotDeps, callback: Callback) -> None:
    async with deps.sessions() as session:
        staff = await active_staff(session, update.effective_user.id)  # type: ignore[union-attr]
    if staff is None:
        raise ServiceError("button_not_yours")
    if callback.value == "chart":
        await send_progress(update, deps, staff, callback.target)
    else:
        await send_patient_card(update, deps, callback.target)


def _original(query: CallbackQuery) -> str:
    message = query.message
    # An inaccessible (too old) message has no text to keep.
    return message.text_html if isinstance(message, TelegramMessage) and message.text else ""


async def _edit(query: CallbackQuery, text: str, rows: tuple | None) -> None:  # type: ignore[type-arg]
    try:
        await query.edit_message_text(text[:4096], parse_mode=ParseMode.HTML, reply_markup=markup(rows or ()))
    except BadRequest as exc:
        # A double press edits to the same text; Telegram says "not modified", which is fine.
        if "not modified" not in exc.message.lower():
            raise


def _plain(text: str) -> str:
    """Callback answers are plain text (at most 200 characters): drop the HTML."""
    return unescape(re.sub(r"<[^>]+>", "", text))[:200]
