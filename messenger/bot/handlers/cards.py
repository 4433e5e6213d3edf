"""What staff read about patients: one patient's card (with their conversation) and the clinic's figures."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from telegram import Update
from telegram.ext import ContextTypes

from messenger.bot.context import BotDeps, reply, staff_only
from messenger.bot.handlers.staff import local_text, patient_id_arg
from messenger.domain.models import Staff
from messenger.services import conversation, reports
from messenger.services.acknowledgement import acknowledgement_figures
from messenger.services.attendance import effective_status


@staff_only(audit_as="view.patient")
async def patient(update: Update, context: ContextTypes.DEFAULT_TYPE, deps: BotDeps, staff: Staff) -> None:
    """Show one patient's card."""
    await send_patient_card(update, deps, patient_id_arg(context, "patient"))


async def send_patient_card(update: Update, deps: BotDeps, patient_id: int) -> None:
    async with deps.sessions() as session:
        card = await reports.patient_card(session, patient_id, now=deps.clock.now())
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
                    "when": local_text(i.scheduled_at, zone),
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
                    "when": local_text(m.send_at, zone),
                    "status": m.status.value,
                }
                for m in card.next_messages
            ],
            answers=[
                {
                    "question": a.question,
                    "value": a.value,
                    "when": local_text(a.answered_at, zone),
                    "escalated": a.escalated,
                }
                for a in card.answers
            ],
            conversation=[
                {
                    "when": local_text(e.at, zone),
                    "outgoing": e.direction == conversation.OUTBOUND,
                    "channel": e.channel.value,
                    "level": e.level,
                    "media": e.media,
                    "text": e.text,
                    "handled": e.handled_at is not None,
                }
                for e in entries
            ],
        ),
    )


@staff_only(audit_as="view.stats")
async def stats(update: Update, context: ContextTypes.DEFAULT_TYPE, deps: BotDeps, staff: Staff) -> None:
    """Patients by status and today's messages."""
    async with deps.sessions() as session:
        figures = await reports.stats(session, now=deps.clock.now(), zone=deps.clinic_zone)
        taking = await acknowledgement_figures(session)
    minutes = {
        name: None if value is None else round(value / 60)
        for name, value in (("median", taking.median), ("p90", taking.p90))
    }
    await reply(update, deps.page("stats", stats=figures, acknowledgement=taking, minutes=minutes))
