"""Steps that more than one handler module takes: enrol and invite, a patient's card, /stop confirmed.

Handler modules import these instead of each other's handlers, so each handler module depends
only on what is below it.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from telegram import InputFile, Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from messenger.bot import parsing
from messenger.bot.context import BotDeps, reply
from messenger.bot.keyboards import Callback, single
from messenger.bot.parsing import InputError
from messenger.db import transaction
from messenger.domain.addresses import fixed_lines
from messenger.domain.enums import ChannelName
from messenger.domain.models import ContactBase, Patient, Staff
from messenger.rendering.context import infusion_view
from messenger.services import audit, changes, conversation, reports
from messenger.services.attendance import effective_status
from messenger.services.audit import staff_actor
from messenger.services.contacts import find_contact, set_opted_out
from messenger.services.enrolment import EnrolmentRequest, enrol, zone_of
from messenger.services.errors import ServiceError
from messenger.services.invites import create_invite
from messenger.services.language import set_language

_CONTACT_KEYS = {"phone": ChannelName.SMS, "whatsapp": ChannelName.WHATSAPP, "email": ChannelName.EMAIL}


def invite_link(context: ContextTypes.DEFAULT_TYPE, code: str) -> str:
    return f"https://t.me/{context.bot.username}?start={code}"


# A series has a handful of infusions; a longer list is a typing slip or an attack.
MAX_INFUSIONS = 20


def enrolment_request(deps: BotDeps, fields: dict[str, str]) -> EnrolmentRequest:
    """An enrolment from ``/enroll`` fields (one line or the conversation's answers)."""
    for key in ("name", "tz"):
        if not fields.get(key):
            raise InputError("missing_key", key=key)
    zone = zone_of(fields["tz"])
    series_key = fields.get("series") or deps.settings.default_series
    given = parsing.datetimes(fields["infusions"], zone) if fields.get("infusions") else None
    first = parsing.local_datetime(fields["first"], zone) if fields.get("first") else None
    contacts: list[ContactBase] = []
    for key, value in fields.items():
        if key in _CONTACT_KEYS and value:
            address = parsing.email(value) if key == "email" else parsing.phone(value, deps.settings.phone_region).e164
            contacts.append(ContactBase(channel=_CONTACT_KEYS[key], address=address, priority=len(contacts)))
    if len(given or ()) > MAX_INFUSIONS:
        raise InputError("input.too_long", key="infusions", limit=MAX_INFUSIONS)
    return EnrolmentRequest(
        name=parsing.name(fields["name"]),
        timezone=zone.key,
        series_key=series_key,
        locale=parsing.language(fields["lang"], deps.languages) if fields.get("lang") else deps.locale,
        first_infusion=first,
        infusions=given,
        contacts=contacts,
    )


async def enrol_and_invite(
    update: Update, context: ContextTypes.DEFAULT_TYPE, deps: BotDeps, staff: Staff, request: EnrolmentRequest
) -> None:
    """Enrol, make an invite, reply with the patient's id, infusion times and link."""
    actor = staff_actor(staff.telegram_user_id)
    ttl = timedelta(days=deps.settings.invite_ttl_days)
    async with transaction(deps.sessions) as session:
        series = await enrol(
            session=session,
            catalog=deps.catalog,
            clock=deps.clock,
            quiet_hours=deps.quiet_hours,
            request=request,
            actor=actor,
        )
        code = await create_invite(
            session=session, clock=deps.clock, patient_id=series.patient_id, ttl=ttl, actor=actor
        )
        infusions = await changes.infusions_of(session, series.id)  # type: ignore[arg-type]
    deps.poke()
    zone, formats = ZoneInfo(request.timezone), deps.staff_formats
    await reply(
        update,
        deps.page(
            "enrolled",
            name=request.name,
            patient_id=series.patient_id,
            timezone=zone.key,
            infusions=[infusion_view(i.number, len(infusions), i.scheduled_at, zone, formats) for i in infusions],
            link=invite_link(context, code),
            expires=deps.when(deps.clock.now() + ttl, zone),
            language=deps.strings.plain(f"language.{request.locale.split('_')[0]}", request.locale),
            landlines=landlines(request.contacts, deps.settings.phone_region),
        ),
    )


def landlines(contacts: list[ContactBase], region: str) -> list[str]:
    """SMS numbers typed as fixed lines: staff check them with the patient before the first text."""
    return fixed_lines((c.address for c in contacts if c.channel is ChannelName.SMS), region)


async def send_patient_card(update: Update, deps: BotDeps, patient_id: int) -> None:
    async with deps.sessions() as session:
        card = await reports.patient_card(session, patient_id)
        entries = await conversation.recent(session, patient_id)
    zone = ZoneInfo(card.patient.timezone)
    await reply(
        update,
        deps.page(
            "patient",
            patient=card.patient,
            series=card.series,
            contacts=card.contacts,
            infusions=[
                {
                    "number": i.number,
                    "when": deps.when(i.scheduled_at, zone),
                    "status": effective_status(i, deps.clock.now()).value,
                    "marked": i.status.value,
                }
                for i in card.infusions
            ],
            next_messages=[
                {
                    "step": m.step_key,
                    "kind": m.kind.value,
                    "infusion": m.infusion_number,
                    "when": deps.when(m.send_at, zone),
                    "status": m.status.value,
                }
                for m in card.next_messages
            ],
            answers=[
                {
                    "question": a.question,
                    "value": a.value,
                    "when": deps.when(a.answered_at, zone),
                    "escalated": a.escalated,
                }
                for a in card.answers
            ],
            conversation=[conversation.entry_view(e, deps.when(e.at, zone)) for e in entries],
        ),
        reply_markup=single(deps.insights.html("chart_button"), Callback("o", patient_id, "chart")),
    )


async def send_progress(update: Update, deps: BotDeps, staff: Staff, patient_id: int) -> None:
    """Send a patient's progress chart as a photo into the staff member's chat; audited."""
    rendered = await deps.insights.progress(patient_id)
    # Audited once the chart exists, before it leaves: what was shown is on record even if the send fails.
    async with transaction(deps.sessions) as session:
        audit.record(
            session,
            at=deps.clock.now(),
            actor=staff_actor(staff.telegram_user_id),
            action="view.progress",
            patient_id=patient_id,
        )
    if update.effective_chat is not None:
        await update.effective_chat.send_photo(
            InputFile(rendered.content, filename=rendered.filename), caption=rendered.caption, parse_mode=ParseMode.HTML
        )


async def confirm_stop(deps: BotDeps, patient: Patient, chat_id: int, confirmed: bool) -> str:
    """The answer to the /stop question: opt the chat out (and tell staff), or keep things as they are."""
    if not confirmed:
        return deps.strings.get("patient.stop_kept", patient.locale)
    async with transaction(deps.sessions) as session:
        contact = await find_contact(session, patient_id=patient.id, channel=ChannelName.TELEGRAM)  # type: ignore[arg-type]
        if contact is None or contact.address != str(chat_id):
            raise ServiceError("button_not_yours")
        changed = await set_opted_out(
            session=session, clock=deps.clock, contact=contact, opted_out=True, reason="patient sent /stop"
        )
        if changed:
            await deps.alert(session, "opted_out", patient, channel=ChannelName.TELEGRAM.value)
    if not changed:
        return deps.strings.get("patient.already_stopped", patient.locale)
    deps.poke()
    return deps.strings.get("patient.stopped", patient.locale)


# Callback data kind for a language button: "l:<patient id>:<language>".
LANGUAGE_KIND = "l"


async def language_chosen(deps: BotDeps, patient: Patient, code: str) -> str:
    """Switch the patient's language; the answer is already in the new one."""
    async with transaction(deps.sessions) as session:
        await set_language(
            session=session,
            clock=deps.clock,
            patient_id=patient.pk,
            language=code,
            known=deps.languages,
            actor=audit.patient_actor(patient.pk),
        )
    return deps.strings.get("patient.language_set", code, language=deps.strings.get(f"language.{code}", code))
