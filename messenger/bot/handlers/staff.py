"""Staff commands: enrol, list, inspect, reschedule, pause, resume, cancel, invite, preview, stats, staff, forget."""

from __future__ import annotations

import math
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Update
from telegram.ext import ContextTypes

from messenger.bot import parsing
from messenger.bot.context import BotDeps, reply, staff_only
from messenger.bot.parsing import InputError
from messenger.bot.steps import invite_link, send_patient_card
from messenger.content import Flavour
from messenger.db import transaction
from messenger.domain.enums import StaffRole
from messenger.domain.models import Patient, Series, Staff
from messenger.rendering.context import sample_context
from messenger.services import changes, reports
from messenger.services.acknowledgement import acknowledgement_figures
from messenger.services.audit import staff_actor
from messenger.services.erasure import forget_patient
from messenger.services.errors import ServiceError
from messenger.services.invites import create_invite
from messenger.services.staff import add_staff, list_staff, remove_staff

PAGE_SIZE = 10


@staff_only(audit_as="view.patients")
async def patients(update: Update, context: ContextTypes.DEFAULT_TYPE, deps: BotDeps, _staff: Staff) -> None:
    """List patients, newest first, a page at a time."""
    page = parsing.positive_int(context.args[0]) if context.args else 1
    async with deps.sessions() as session:
        lines, total = await reports.patient_page(session, page=page, size=PAGE_SIZE, now=deps.clock.now())
    if total == 0:
        await reply(update, deps.text("staff.no_patients"))
        return
    pages = max(1, math.ceil(total / PAGE_SIZE))
    rows = [
        {
            "id": line.patient.id,
            "name": line.patient.name,
            "status": line.series.status.value if line.series else None,
            "next": _next_infusion(line, deps),
        }
        for line in lines
    ]
    await reply(update, deps.page("patients", rows=rows, page=min(page, pages), pages=pages, total=total))


@staff_only(audit_as="view.patient")
async def patient(update: Update, context: ContextTypes.DEFAULT_TYPE, deps: BotDeps, _staff: Staff) -> None:
    """Show one patient's card."""
    await send_patient_card(update, deps, _patient_id(context, "patient"))


@staff_only()
async def reschedule(update: Update, context: ContextTypes.DEFAULT_TYPE, deps: BotDeps, staff: Staff) -> None:
    """Move infusion n of a patient to a new local date and time."""
    args = context.args or []
    count = deps.catalog.get(deps.settings.default_series).infusions.count
    if len(args) < 3:
        raise InputError("usage_reschedule", count=count)
    patient_id, number = parsing.positive_int(args[0]), parsing.positive_int(args[1])
    async with transaction(deps.sessions) as session:
        series = await changes.latest_series(session, patient_id)
        zone = ZoneInfo(await _patient_zone(session, series))
        at = parsing.local_datetime(" ".join(args[2:]), zone)
        result = await changes.reschedule_infusion(
            session=session,
            catalog=deps.catalog,
            clock=deps.clock,
            quiet_hours=deps.quiet_hours,
            series=series,
            number=number,
            at=at,
            actor=staff_actor(staff.telegram_user_id),
        )
    deps.poke()
    when = deps.when(at, zone)
    text = deps.text("staff.rescheduled", number=number, patient_id=patient_id, when=when, moved=result.moved)
    if result.warning:
        text += "\n" + deps.text("staff.window_warning", problem=result.warning)
    await reply(update, text)


@staff_only()
async def pause(update: Update, context: ContextTypes.DEFAULT_TYPE, deps: BotDeps, staff: Staff) -> None:
    """Hold a patient's pending messages."""
    patient_id = _patient_id(context, "pause")
    async with transaction(deps.sessions) as session:
        series = await changes.latest_series(session, patient_id)
        held = await changes.pause(
            session=session, clock=deps.clock, series=series, actor=staff_actor(staff.telegram_user_id)
        )
    await reply(update, deps.text("staff.paused", patient_id=patient_id, held=held))


@staff_only()
async def resume(update: Update, context: ContextTypes.DEFAULT_TYPE, deps: BotDeps, staff: Staff) -> None:
    """Release a paused patient's messages that are still meaningful."""
    patient_id = _patient_id(context, "resume")
    async with transaction(deps.sessions) as session:
        series = await changes.latest_series(session, patient_id)
        released, skipped = await changes.resume(
            session=session,
            clock=deps.clock,
            quiet_hours=deps.quiet_hours,
            series=series,
            actor=staff_actor(staff.telegram_user_id),
        )
    deps.poke()
    await reply(update, deps.text("staff.resumed", patient_id=patient_id, released=released, skipped=skipped))


@staff_only()
async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE, deps: BotDeps, staff: Staff) -> None:
    """Cancel a patient's series."""
    patient_id = _patient_id(context, "cancel")
    async with transaction(deps.sessions) as session:
        series = await changes.latest_series(session, patient_id)
        cancelled = await changes.cancel(
            session=session, clock=deps.clock, series=series, actor=staff_actor(staff.telegram_user_id)
        )
    await reply(update, deps.text("staff.cancelled", patient_id=patient_id, cancelled=cancelled))
    if deps.summaries is not None:
        await deps.summaries.send(patient_id)


@staff_only()
async def invite(update: Update, context: ContextTypes.DEFAULT_TYPE, deps: BotDeps, staff: Staff) -> None:
    """Make a fresh invite link for a patient; earlier ones stop working."""
    patient_id = _patient_id(context, "invite")
    ttl = timedelta(days=deps.settings.invite_ttl_days)
    async with transaction(deps.sessions) as session:
        card = await reports.patient_card(session, patient_id)
        code = await create_invite(
            session=session, clock=deps.clock, patient_id=patient_id, ttl=ttl, actor=staff_actor(staff.telegram_user_id)
        )
    zone = ZoneInfo(card.patient.timezone)
    await reply(
        update,
        deps.text(
            "staff.invite",
            name=card.patient.name,
            patient_id=patient_id,
            expires=deps.when(deps.clock.now() + ttl, zone),
            link=invite_link(context, code),
        ),
    )


@staff_only(audit_as="view.preview")
async def preview(update: Update, context: ContextTypes.DEFAULT_TYPE, deps: BotDeps, _staff: Staff) -> None:
    """Render a step's Telegram message with sample data."""
    args = context.args or []
    if not args:
        raise InputError("usage_preview")
    definition = deps.catalog.get(deps.settings.default_series)
    steps = {key: (step, number) for key, step, number in definition.expanded_steps()}
    if args[0] not in steps:
        raise InputError("unknown_step", step=args[0], steps=", ".join(steps))
    locale = parsing.locale(args[1]) if len(args) > 1 else deps.locale
    step, number = steps[args[0]]
    sample = sample_context(
        definition, clinic=deps.clinic, step_key=args[0], kind=step.kind, infusion_number=number, language=locale
    )
    body = deps.templates.render(step.template, Flavour.TELEGRAM, locale, sample)
    await reply(update, deps.text("staff.preview_header", step=args[0], lang=locale) + "\n\n" + body)


@staff_only(audit_as="view.stats")
async def stats(update: Update, _context: ContextTypes.DEFAULT_TYPE, deps: BotDeps, _staff: Staff) -> None:
    """Patients by status and today's messages."""
    async with deps.sessions() as session:
        figures = await reports.stats(session, now=deps.clock.now(), zone=deps.clinic_zone)
        taking = await acknowledgement_figures(session)
    minutes = {
        name: None if value is None else round(value / 60)
        for name, value in (("median", taking.median), ("p90", taking.p90))
    }
    await reply(update, deps.page("stats", stats=figures, acknowledgement=taking, minutes=minutes))


@staff_only()
async def staff_command(update: Update, context: ContextTypes.DEFAULT_TYPE, deps: BotDeps, staff: Staff) -> None:
    """List, add or remove staff (owners only for changes)."""
    args = context.args or []
    action = args[0].lower() if args else "list"
    clock = deps.clock
    if action == "list":
        async with deps.sessions() as session:
            members = await list_staff(session)
        await reply(update, deps.page("staff", members=members))
        return
    if action not in {"add", "remove"} or len(args) < 2 or (action == "add" and len(args) > 3):
        raise InputError("usage_staff")
    user_id = parsing.telegram_id(args[1])
    async with transaction(deps.sessions) as session:
        if action == "add":
            role_text = args[2].lower() if len(args) == 3 else StaffRole.STAFF.value
            if role_text not in {r.value for r in StaffRole}:
                raise InputError("usage_staff")
            await add_staff(session=session, clock=clock, by=staff, telegram_user_id=user_id, role=StaffRole(role_text))
            text = deps.text("staff.staff_added", user_id=user_id, role=role_text)
        else:
            await remove_staff(session=session, clock=clock, by=staff, telegram_user_id=user_id)
            text = deps.text("staff.staff_removed", user_id=user_id)
    await reply(update, text)


@staff_only()
async def forget(update: Update, context: ContextTypes.DEFAULT_TYPE, deps: BotDeps, staff: Staff) -> None:
    """Erase a patient's personal data (owners only); counts stay."""
    if staff.role is not StaffRole.OWNER:
        raise ServiceError("privacy.owner_only")
    patient_id = _patient_id(context, "forget")
    async with transaction(deps.sessions) as session:
        erased = await forget_patient(
            session=session, clock=deps.clock, patient_id=patient_id, actor=staff_actor(staff.telegram_user_id)
        )
    await reply(update, deps.text("privacy.forgotten", patient_id=patient_id, contacts=erased.contacts))


def _patient_id(context: ContextTypes.DEFAULT_TYPE, command: str) -> int:
    if not context.args or len(context.args) != 1:
        raise InputError("usage_patient_id", command=command)
    return parsing.positive_int(context.args[0])


async def _patient_zone(session: AsyncSession, series: Series) -> str:
    patient = await session.get(Patient, series.patient_id)
    if patient is None:
        raise ServiceError("unknown_patient", patient_id=series.patient_id)
    return patient.timezone


def _next_infusion(line: reports.PatientLine, deps: BotDeps) -> str | None:
    if line.next_infusion is None:
        return None
    zone = ZoneInfo(line.patient.timezone)
    return f"#{line.next_infusion.number} {deps.when(line.next_infusion.scheduled_at, zone)}"
