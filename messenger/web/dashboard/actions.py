"""What staff do from the dashboard, through the services the bot's commands use (same rules, same audit)."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import segno
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from messenger.bot import parsing
from messenger.db import transaction
from messenger.domain.models import Patient
from messenger.services import changes, dashboard_views
from messenger.services.attendance import mark_attendance
from messenger.services.direct import MAX_REPLY, NoDirectContact, queue_staff_reply
from messenger.services.errors import ServiceError
from messenger.services.invites import create_invite
from messenger.web.dashboard.access import PREFIX, DashboardDeps, Handler, Visit, done


def back(patient_id: int) -> str:
    return f"{PREFIX}/patients/{patient_id}"


async def reply(deps: DashboardDeps, request: Request, visit: Visit) -> Response:
    patient_id = request.path_params["patient_id"]
    text = visit.form.get("text", "").strip()
    if not text:
        raise ServiceError("dashboard.reply_empty")
    if len(text) > MAX_REPLY:
        raise ServiceError("dashboard.reply_too_long", limit=MAX_REPLY)
    parsing.refuse_control_characters(text.replace("\n", " ").replace("\r", " "))
    async with transaction(deps.sessions) as session:
        patient = await _patient(session, patient_id)
        queued = await queue_staff_reply(
            session,
            now=deps.clock.now(),
            patient_id=patient_id,
            text=text,
            staff_user_id=visit.staff.telegram_user_id,
            clinic=deps.clinic.name,
            channels=deps.channels,
        )
    if isinstance(queued, NoDirectContact):
        raise ServiceError("dashboard.reply_failed", name=patient.name, patient_id=patient_id)
    deps.poke()
    message = deps.text("dashboard.replied", name=patient.name, channel=queued.channel.value)
    return done(deps, visit, message, back(patient_id))


async def take(deps: DashboardDeps, request: Request, visit: Visit) -> Response:
    alert_id = request.path_params["alert_id"]
    staff = visit.staff
    taken = (
        await deps.desk.acknowledge(
            alert_id=alert_id, staff_user_id=staff.telegram_user_id, name=staff.name or str(staff.telegram_user_id)
        )
        if deps.desk is not None
        else None
    )
    if taken is None:
        raise ServiceError("dashboard.no_alert")
    patient_id = taken.alert.patient_id
    target = back(patient_id) if patient_id is not None else f"{PREFIX}/inbox"
    if not taken.first:
        return done(deps, visit, deps.text("inbox.already_taken", who=taken.alert.acknowledged_name or ""), target)
    return done(deps, visit, deps.text("dashboard.taken"), target)


async def reschedule(deps: DashboardDeps, request: Request, visit: Visit) -> Response:
    """Without ``confirm``, show what would move; with it, move."""
    patient_id = request.path_params["patient_id"]
    number = parsing.positive_int(visit.form.get("number", ""))
    async with deps.sessions() as session:
        patient = await _patient(session, patient_id)
    zone = ZoneInfo(patient.timezone)
    when_text = visit.form.get("when", "")
    at = parsing.local_datetime(when_text.replace("T", " "), zone)
    if visit.form.get("confirm") != "yes":
        preview = await dashboard_views.preview_reschedule(
            sessions=deps.sessions,
            catalog=deps.catalog,
            clock=deps.clock,
            quiet_hours=deps.quiet_hours,
            patient_id=patient_id,
            number=number,
            at=at,
        )
        moves = [
            {
                "step": m.step_key,
                "before": deps.when(m.before, zone),
                "after": deps.when(m.after, zone),
                "skipped": m.status.value == "skipped",
            }
            for m in preview.moves
        ]
        warning = deps.text("staff.window_warning", problem=preview.warning) if preview.warning else None
        return deps.page(
            "reschedule",
            patient=patient,
            number=number,
            when=deps.when(at, zone),
            when_value=when_text,
            moves=moves,
            warning=warning,
            csrf=visit.csrf,
        )
    async with transaction(deps.sessions) as session:
        series = await changes.latest_series(session, patient_id)
        result = await changes.reschedule_infusion(
            session=session,
            catalog=deps.catalog,
            clock=deps.clock,
            quiet_hours=deps.quiet_hours,
            series=series,
            number=number,
            at=at,
            actor=visit.actor,
        )
    deps.poke()
    text = deps.text(
        "staff.rescheduled", number=number, patient_id=patient_id, when=deps.when(at, zone), moved=result.moved
    )
    return done(deps, visit, text, back(patient_id))


async def series_change(deps: DashboardDeps, request: Request, visit: Visit) -> Response:
    """Pause, resume or cancel the patient's series."""
    patient_id, change = request.path_params["patient_id"], request.url.path.rsplit("/", 1)[-1]
    if change not in {"pause", "resume", "cancel"}:
        raise ServiceError("dashboard.bad_form")
    if change == "cancel" and visit.form.get("confirm") != "yes":
        return await _cancel_preview(deps, patient_id, visit)
    async with transaction(deps.sessions) as session:
        series = await changes.latest_series(session, patient_id)
        if change == "pause":
            held = await changes.pause(session=session, clock=deps.clock, series=series, actor=visit.actor)
            text = deps.text("staff.paused", patient_id=patient_id, held=held)
        elif change == "resume":
            released, skipped = await changes.resume(
                session=session, clock=deps.clock, quiet_hours=deps.quiet_hours, series=series, actor=visit.actor
            )
            text = deps.text("staff.resumed", patient_id=patient_id, released=released, skipped=skipped)
        else:
            cancelled = await changes.cancel(session=session, clock=deps.clock, series=series, actor=visit.actor)
            text = deps.text("staff.cancelled", patient_id=patient_id, cancelled=cancelled)
    deps.poke()
    return done(deps, visit, text, back(patient_id))


async def _cancel_preview(deps: DashboardDeps, patient_id: int, visit: Visit) -> Response:
    """What cancelling would end, and the button that does it."""
    preview = await dashboard_views.preview_cancel(sessions=deps.sessions, clock=deps.clock, patient_id=patient_id)
    async with deps.sessions() as session:
        patient = await _patient(session, patient_id)
    return deps.page("cancel", patient=patient, messages=preview.messages, infusions=preview.infusions, csrf=visit.csrf)


async def attendance(deps: DashboardDeps, request: Request, visit: Visit) -> Response:
    patient_id = request.path_params["patient_id"]
    number = parsing.positive_int(visit.form.get("number", ""))
    outcome = visit.form.get("outcome", "")
    if outcome not in {"attended", "missed"}:
        raise ServiceError("dashboard.bad_form")
    async with transaction(deps.sessions) as session:
        series = await changes.latest_series(session, patient_id)
        await mark_attendance(
            session=session,
            clock=deps.clock,
            series=series,
            number=number,
            attended=outcome == "attended",
            actor=visit.actor,
        )
    deps.poke()
    return done(deps, visit, deps.text(f"attendance.{outcome}", patient_id=patient_id, number=number), back(patient_id))


async def invite(deps: DashboardDeps, request: Request, visit: Visit) -> Response:
    """A fresh invite (earlier ones stop working), with a QR code to show the patient at the front desk."""
    patient_id = request.path_params["patient_id"]
    ttl = timedelta(days=deps.settings.invite_ttl_days)
    async with transaction(deps.sessions) as session:
        patient = await _patient(session, patient_id)
        code = await create_invite(session=session, clock=deps.clock, patient_id=patient_id, ttl=ttl, actor=visit.actor)
    link = f"https://t.me/{deps.bot_username()}?start={code}"
    return deps.page(
        "invite",
        patient=patient,
        link=link,
        qr=segno.make(link, error="m").svg_data_uri(scale=6),
        expires=deps.when(deps.clock.now() + ttl, ZoneInfo(patient.timezone)),
        csrf=visit.csrf,
    )


async def _patient(session: AsyncSession, patient_id: int) -> Patient:
    patient = await session.get(Patient, patient_id)
    if patient is None or patient.erased_at is not None:
        raise ServiceError("unknown_patient", patient_id=patient_id)
    return patient


# The handlers by name, each wrapped by access.guarded with the dashboard's deps.
HANDLERS: dict[str, Handler] = {
    "reply": reply,
    "take": take,
    "reschedule": reschedule,
    "series_change": series_change,
    "attendance": attendance,
    "invite": invite,
}
