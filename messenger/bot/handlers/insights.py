"""Staff commands for insights: /progress, /report, /summary and /export."""

from __future__ import annotations

from telegram import InputFile, Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from messenger.bot import parsing
from messenger.bot.context import BotDeps, staff_only
from messenger.bot.parsing import InputError
from messenger.bot.steps import send_progress
from messenger.db import transaction
from messenger.domain.enums import StaffRole
from messenger.domain.models import Staff
from messenger.insights.documents import Rendered
from messenger.insights.export_csv import export_zip
from messenger.services import audit

REPORT_DAYS, MAX_REPORT_DAYS = 30, 3660


@staff_only()
async def progress(update: Update, context: ContextTypes.DEFAULT_TYPE, deps: BotDeps, staff: Staff) -> None:
    """Send a patient's pain and mood chart as a photo."""
    patient_id = _patient_id(context, "usage_progress")
    await send_progress(update, deps, staff, patient_id)


@staff_only()
async def report(update: Update, context: ContextTypes.DEFAULT_TYPE, deps: BotDeps, staff: Staff) -> None:
    """Send the cohort report for the last N days (30 by default): a chart and its figures."""
    args = context.args or []
    if len(args) > 1:
        raise InputError("insights.usage_report")
    days = parsing.positive_int(args[0]) if args else REPORT_DAYS
    if days > MAX_REPORT_DAYS:
        raise InputError("insights.usage_report")
    _figures, rendered = await deps.insights.report(days)
    await _audit(deps, staff, "view.report", days=days)
    await _send(update, rendered, photo=True)


@staff_only()
async def summary(update: Update, context: ContextTypes.DEFAULT_TYPE, deps: BotDeps, staff: Staff) -> None:
    """Send a patient's one-page course summary as a PDF."""
    patient_id = _patient_id(context, "usage_summary")
    rendered = await deps.insights.summary(patient_id)
    await _audit(deps, staff, "view.summary", patient_id=patient_id)
    await _send(update, rendered, photo=False)


@staff_only()
async def export(update: Update, _context: ContextTypes.DEFAULT_TYPE, deps: BotDeps, staff: Staff) -> None:
    """Send the clinic's data as a CSV zip (owners only)."""
    if staff.role is not StaffRole.OWNER:
        raise InputError("insights.owners_only")
    async with deps.sessions() as session:
        content, counts = await export_zip(session)
    now = deps.clock.now()
    caption = deps.insights.html("export_caption", patients=counts["patients.csv"], messages=counts["messages.csv"])
    await _audit(deps, staff, "export", format="csv", rows=counts)
    await _send(update, Rendered(content, f"messenger-export-{now:%Y-%m-%d}.zip", caption), photo=False)


async def _send(update: Update, rendered: Rendered, *, photo: bool) -> None:
    if update.effective_chat is None:
        return
    file = InputFile(rendered.content, filename=rendered.filename)
    if photo:
        await update.effective_chat.send_photo(file, caption=rendered.caption, parse_mode=ParseMode.HTML)
    else:
        await update.effective_chat.send_document(file, caption=rendered.caption, parse_mode=ParseMode.HTML)


async def _audit(deps: BotDeps, staff: Staff, action: str, *, patient_id: int | None = None, **detail: object) -> None:
    async with transaction(deps.sessions) as session:
        audit.record(
            session,
            at=deps.clock.now(),
            actor=audit.staff_actor(staff.telegram_user_id),
            action=action,
            patient_id=patient_id,
            **detail,
        )


def _patient_id(context: ContextTypes.DEFAULT_TYPE, usage: str) -> int:
    if not context.args or len(context.args) != 1:
        raise InputError(f"insights.{usage}")
    return parsing.positive_int(context.args[0])
