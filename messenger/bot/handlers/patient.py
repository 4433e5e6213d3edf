"""The patient's side: /start with an invite, /schedule, /stop, /resume, /help, and free text."""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Message as TelegramMessage
from telegram import Update
from telegram.ext import ContextTypes

from messenger.bot import replies
from messenger.bot.context import BotDeps, deps_of, guest_locale, reply
from messenger.bot.keyboards import Callback, choice
from messenger.db import transaction
from messenger.domain import bounds
from messenger.domain.enums import ChannelName, InfusionStatus
from messenger.domain.models import Patient
from messenger.rendering.context import infusion_view
from messenger.services import changes, reports
from messenger.services.contacts import find_contact, release_waiting, set_opted_out, welcome_due_now
from messenger.services.conversation import Inbound
from messenger.services.errors import ServiceError
from messenger.services.guesses import guess_verdict, record_failed_guess
from messenger.services.invites import patient_for_chat, redeem_invite
from messenger.services.listening import Heard, listen, reply_params
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
    """Keep what a patient writes or sends, answer by its urgency, and put it before staff."""
    deps = deps_of(context)
    async with deps.sessions() as session:
        patient = await patient_for_chat(session, update.effective_chat.id)  # type: ignore[union-attr]
        staff = await active_staff(session, update.effective_user.id)  # type: ignore[union-attr]
    message = update.effective_message
    if patient is None or message is None:
        if staff is not None and message is not None and message.reply_to_message is not None:
            await replies.reply_to_alert(update, context)
        elif staff is None:
            text = deps.strings.get(
                "patient.not_linked", guest_locale(update, deps), clinic=deps.clinic.name, phone=deps.clinic.phone
            )
            await reply(update, text)
        return
    heard = await hear(deps, patient, telegram_inbound(message))
    # Said once the alert is committed: "the clinic has your message" is true when it is said.
    deps.poke()
    params = reply_params(deps.settings, now=deps.clock.now(), language=patient.locale, zone=ZoneInfo(patient.timezone))
    await reply(update, deps.strings.get(heard.reply, patient.locale, **params))


def telegram_inbound(message: TelegramMessage) -> Inbound:
    """Text as typed; media as a description (with any caption) and the file id to fetch it."""
    for media, attachment in (
        ("voice", message.voice),
        ("audio", message.audio),
        ("video", message.video),
        ("video note", message.video_note),
        ("document", message.document),
        ("sticker", message.sticker),
    ):
        if attachment is not None:
            return Inbound(ChannelName.TELEGRAM, _as_written(message.caption), media, attachment.file_id)
    if message.photo:
        return Inbound(ChannelName.TELEGRAM, _as_written(message.caption), "photo", message.photo[-1].file_id)
    return Inbound(ChannelName.TELEGRAM, _as_written(message.text) or "")


def _as_written(text: str | None) -> str | None:
    """Kept as the patient wrote it, less what no database or chat can hold."""
    if text is None:
        return None
    return bounds.without_control_characters(text)[: bounds.MAX_FREE_TEXT_LENGTH]


async def hear(deps: BotDeps, patient: Patient, inbound: Inbound) -> Heard:
    """Store the message and queue its staff alert in one transaction."""
    now = deps.clock.now()
    async with transaction(deps.sessions) as session:
        heard = listen(
            session, at=now, patient=patient, inbound=inbound, book=deps.phrases(patient.locale), hours=deps.hours
        )
        await deps.alerts.queue(
            session,
            now=now,
            key=heard.alert,
            patient_id=patient.pk,
            urgent=heard.urgent,
            text=inbound.text or "",
            media=inbound.media,
            channel=inbound.channel.value,
            crisis_line=deps.settings.crisis_line,
            emergency=deps.settings.emergency_number,
        )
    return heard


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
