"""Staff record whether an infusion happened: /attended <id> <n>, /missed <id> <n>."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from messenger.bot import parsing
from messenger.bot.context import BotDeps, reply, staff_only
from messenger.bot.parsing import InputError
from messenger.db import transaction
from messenger.domain.models import Staff
from messenger.services import changes
from messenger.services.attendance import mark_attendance
from messenger.services.audit import staff_actor


@staff_only()
async def attended(update: Update, context: ContextTypes.DEFAULT_TYPE, deps: BotDeps, staff: Staff) -> None:
    """Mark infusion n of a patient as attended."""
    await _mark(update, context, deps, staff, attended=True)


@staff_only()
async def missed(update: Update, context: ContextTypes.DEFAULT_TYPE, deps: BotDeps, staff: Staff) -> None:
    """Mark infusion n of a patient as missed: its check-in is skipped."""
    await _mark(update, context, deps, staff, attended=False)


async def _mark(
    update: Update, context: ContextTypes.DEFAULT_TYPE, deps: BotDeps, staff: Staff, *, attended: bool
) -> None:
    args = context.args or []
    command = "attended" if attended else "missed"
    if len(args) != 2:
        raise InputError("usage_attendance", command=command)
    patient_id, number = parsing.positive_int(args[0]), parsing.positive_int(args[1])
    async with transaction(deps.sessions) as session:
        series = await changes.latest_series(session, patient_id)
        await mark_attendance(
            session=session,
            clock=deps.clock,
            series=series,
            number=number,
            attended=attended,
            actor=staff_actor(staff.telegram_user_id),
        )
    deps.poke()
    await reply(update, deps.text(f"attendance.{command}", patient_id=patient_id, number=number))
