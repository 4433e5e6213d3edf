"""The patient's side: /start with an invite, /schedule, /stop, /resume, /help, and free text."""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Update
from telegram.ext import ContextTypes

from messenger.bot.context import BotDeps, deps_of, guest_locale, reply
from messenger.bot.keyboards import Callback, choice
from messenger.db import transaction
from messenger.domain import bounds
from messenger.domain.enums import ChannelName, InfusionStatus
from messenger.domain.models import Patient
from messenger.rendering.context import infusion_view
from messenger.services import changes, reports
from messenger.services.contacts import find_contact, release_waiting, set_opted_out, welcome_due_now
from messenger.services.errors import ServiceError
from messenger.services.guesses import guess_verdict, record_failed_guess
from messenger.services.invites import patient_for_chat, redeem_invite
from messenger.services.staff import active_staff

log = logging.getLogger(__name__)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Link the chat with an invite code, or show a linked patient their schedule."""
    deps = deps_of(context)
    chat_id, user_id = update.effective_chat.id, update.effective_user.id  # type: ignore[union-attr]
    if context.args:
        await _redeem(update, deps, context.args[0], chat_id, user_id)
        return
    async with transaction(deps.sessions) as session:
        patient = await patient_for_chat(session, chat_id)
        if patient is not None:
            await _opt_in(session, deps, patient)
    deps.poke()
    if patient is None:
        await reply(
            update, deps.strings.get("patient.hello_unlinked", guest_locale(update, deps), clinic=deps.clinic.name)
        )
        return
    await reply(update, await schedule_text(deps, patient))


async def _redeem(update: Update, deps: BotDeps, code: str, chat_id: int, user_id: int) -> None:
    clinic = {"clinic": deps.clinic.name, "phone": deps.clinic.phone}
    async with deps.sessions() as session:
        verdict = await guess_verdict(session=session, clock=deps.clock, user_id=user_id, limits=deps.guess_limits)
    if not verdict.allowed:
        log.info("invite guesses throttled (%s)", verdict.value)
        await reply(update, deps.strings.get("patient.throttled", guest_locale(update, deps), **clinic))
        return
    try:
        async with transaction(deps.sessions) as session:
            patient = await redeem_invite(session=session, clock=deps.clock, code=code[:64], chat_id=chat_id)
            await release_waiting(
                session=session, clock=deps.clock, quiet_hours=deps.quiet_hours, patient_id=patient.pk
            )
            welcome = await welcome_due_now(
                session=session, clock=deps.clock, patient_id=patient.pk, channel=ChannelName.TELEGRAM
            )
            await deps.alert(session, "linked", patient)
    except ServiceError as error:
        async with deps.sessions() as session:
            linked = await patient_for_chat(session, chat_id)
        if linked is not None:  # the link was used by this very chat (a retried /start): not a guess
            await reply(update, await schedule_text(deps, linked))
            return
        async with transaction(deps.sessions) as session:
            await record_failed_guess(session=session, clock=deps.clock, user_id=user_id, limits=deps.guess_limits)
        log.info("an invite code was refused (%s)", error.code)
        await reply(update, deps.explain(error, guest_locale(update, deps)))
        return
    deps.poke()
    # The series' welcome lists the infusions itself, and the dispatcher sends it now;
    # a patient welcomed already (on another channel) gets their schedule.
    if not welcome:
        await reply(update, await schedule_text(deps, patient))


async def schedule(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show the patient's upcoming infusions in their local time."""
    deps = deps_of(context)
    patient = await _linked_patient(update, deps)
    if patient is not None:
        await reply(update, await schedule_text(deps, patient))


async def stop(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Ask once whether the patient really wants no more messages."""
    deps = deps_of(context)
    patient = await _linked_patient(update, deps)
    if patient is None:
        return
    keyboard = choice(
        (deps.strings.get("buttons.stop_yes", patient.locale), Callback("s", patient.pk, "y")),
        (deps.strings.get("buttons.stop_no", patient.locale), Callback("s", patient.pk, "n")),
    )
    text = deps.strings.get("patient.stop_confirm", patient.locale, clinic=deps.clinic.name)
    await reply(update, text, reply_markup=keyboard)


async def resume(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Turn messages back on for this chat (``/resume <id>`` is the staff command)."""
    deps = deps_of(context)
    patient = await _linked_patient(update, deps)
    if patient is None:
        return
    async with transaction(deps.sessions) as session:
        changed = await _opt_in(session, deps, patient)
    deps.poke()
    await reply(update, deps.strings.get("patient.resumed" if changed else "patient.not_stopped", patient.locale))


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Patients see their commands; staff see theirs."""
    deps = deps_of(context)
    async with deps.sessions() as session:
        staff = await active_staff(session, update.effective_user.id)  # type: ignore[union-attr]
        patient = None if staff else await patient_for_chat(session, update.effective_chat.id)  # type: ignore[union-attr]
    locale = patient.locale if patient else guest_locale(update, deps)
    await reply(update, deps.page("help-staff" if staff else "help-patient", locale, clinic=deps.clinic))


async def free_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Acknowledge what a patient writes and forward it to staff."""
    deps = deps_of(context)
    async with deps.sessions() as session:
        patient = await patient_for_chat(session, update.effective_chat.id)  # type: ignore[union-attr]
        staff = await active_staff(session, update.effective_user.id)  # type: ignore[union-attr]
    if patient is None:
        if staff is None:
            text = deps.strings.get(
                "patient.not_linked", guest_locale(update, deps), clinic=deps.clinic.name, phone=deps.clinic.phone
            )
            await reply(update, text)
        return
    # Kept as the patient wrote it, less what no database or chat can hold.
    raw = update.effective_message.text or ""  # type: ignore[union-attr]
    text = bounds.without_control_characters(raw)[: bounds.MAX_FREE_TEXT_LENGTH]
    # Committed before the patient is told: "passed to your care team" is true when it is said.
    async with transaction(deps.sessions) as session:
        await deps.alert(session, "free_text", patient, text=text)
    deps.poke()
    ack = deps.strings.get("patient.free_text_ack", patient.locale, clinic=deps.clinic.name, phone=deps.clinic.phone)
    await reply(update, ack)


async def _opt_in(session: AsyncSession, deps: BotDeps, patient: Patient) -> bool:
    contact = await find_contact(session, patient_id=patient.id, channel=ChannelName.TELEGRAM)  # type: ignore[arg-type]
    if contact is None or not await set_opted_out(
        session=session, clock=deps.clock, contact=contact, opted_out=False, reason="patient opted back in"
    ):
        return False
    await deps.alert(session, "opted_in", patient, channel=ChannelName.TELEGRAM.value)
    return True


async def _linked_patient(update: Update, deps: BotDeps) -> Patient | None:
    async with deps.sessions() as session:
        patient = await patient_for_chat(session, update.effective_chat.id)  # type: ignore[union-attr]
    if patient is None:
        text = deps.strings.get(
            "patient.not_linked", guest_locale(update, deps), clinic=deps.clinic.name, phone=deps.clinic.phone
        )
        await reply(update, text)
    return patient


async def schedule_text(deps: BotDeps, patient: Patient) -> str:
    zone = ZoneInfo(patient.timezone)
    async with deps.sessions() as session:
        series = await reports.latest_series_of(session, patient.id)  # type: ignore[arg-type]
        upcoming = await reports.upcoming_infusions(session, series, deps.clock.now()) if series else []
        total = len(await changes.infusions_of(session, series.id)) if series else 0  # type: ignore[arg-type]
    infusions = [
        infusion_view(i.number, total, i.scheduled_at, zone, deps.clinic.formats(patient.locale))
        | {"status": i.status.value}
        for i in upcoming
        if i.status is not InfusionStatus.CANCELLED
    ]
    return deps.page("schedule", patient.locale, infusions=infusions, timezone=zone.key, clinic=deps.clinic)
