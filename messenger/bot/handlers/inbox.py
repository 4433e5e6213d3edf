"""The staff inbox: /inbox, /done, /reply, a Telegram reply to an alert, and "I'm on it"."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from messenger.bot import parsing
from messenger.bot.context import BotDeps, reply, staff_only
from messenger.bot.parsing import InputError
from messenger.bot.replies import send_reply
from messenger.db import transaction
from messenger.domain.models import Staff
from messenger.services import conversation


@staff_only(audit_as="view.inbox")
async def inbox(update: Update, _context: ContextTypes.DEFAULT_TYPE, deps: BotDeps, _staff: Staff) -> None:
    """List patients with unanswered messages, the longest waiting first."""
    async with deps.sessions() as session:
        lines = await conversation.inbox(session)
    if not lines:
        await reply(update, deps.text("inbox.empty"))
        return
    rows = [
        {
            "id": line.patient.pk,
            "name": line.patient.name,
            "waiting": line.waiting,
            "since": deps.when(line.since, deps.clinic_zone),
            "level": line.level.value,
        }
        for line in lines
    ]
    await reply(update, deps.page("inbox", rows=rows))


@staff_only()
async def done(update: Update, context: ContextTypes.DEFAULT_TYPE, deps: BotDeps, staff: Staff) -> None:
    """Mark a patient's waiting messages handled without replying."""
    if not context.args or len(context.args) != 1:
        raise InputError("usage_patient_id", command="done")
    patient_id = parsing.positive_int(context.args[0])
    async with transaction(deps.sessions) as session:
        handled = await conversation.mark_done(
            session, at=deps.clock.now(), patient_id=patient_id, staff_user_id=staff.telegram_user_id
        )
    await reply(update, deps.text("inbox.done", patient_id=patient_id, count=handled))


@staff_only()
async def reply_command(update: Update, _context: ContextTypes.DEFAULT_TYPE, deps: BotDeps, staff: Staff) -> None:
    """Send ``/reply <id> <text>`` to the patient on their current channel."""
    text = (update.effective_message.text or "").split(maxsplit=2) if update.effective_message else []
    if len(text) < 3 or not text[2].strip():
        raise InputError("usage_reply")
    await send_reply(update, deps, staff, parsing.positive_int(text[1]), text[2])
