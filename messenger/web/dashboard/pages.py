"""The dashboard's pages: patients, one patient, the inbox; and signing in and out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from zoneinfo import ZoneInfo

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from messenger.db import transaction
from messenger.domain import bounds
from messenger.domain.enums import MessageStatus, SeriesStatus
from messenger.domain.models import Message
from messenger.insights.course import InfusionMark, attendance_of, checkins_of
from messenger.scheduling.dispatcher.jobs import load
from messenger.services import conversation, dashboard_views, reports
from messenger.services.dashboard_access import Refused, open_login, sign_out
from messenger.web.dashboard.access import COOKIE, PREFIX, DashboardDeps, Handler, Visit, signed_out, start_session
from messenger.web.dashboard.chart import course_chart
from messenger.web.dashboard.texts import shown_texts
from messenger.web.notes import is_preview_robot

MAX_QUERY = 100
AGENDA = timedelta(hours=24)


async def patients(deps: DashboardDeps, request: Request, visit: Visit) -> Response:
    query = request.query_params.get("q", "")[:MAX_QUERY]
    status_text = request.query_params.get("status", "")
    status = SeriesStatus(status_text) if status_text in {s.value for s in SeriesStatus} else None
    async with deps.sessions() as session:
        lines = await dashboard_views.search_patients(
            session,
            query="" if bounds.has_control_characters(query) else query,
            status=status,
            now=deps.clock.now(),
        )
    rows = [
        {
            "id": line.patient.pk,
            "name": line.patient.name,
            "status": line.series.status.value if line.series else None,
            "next": (
                {
                    "number": line.next_infusion.number,
                    "when": deps.when(line.next_infusion.scheduled_at, ZoneInfo(line.patient.timezone)),
                }
                if line.next_infusion
                else None
            ),
        }
        for line in lines
    ]
    statuses = [s.value for s in SeriesStatus]
    return deps.page("patients", rows=rows, q=query, status=status_text, statuses=statuses, csrf=visit.csrf)


async def patient(deps: DashboardDeps, request: Request, visit: Visit) -> Response:
    patient_id = request.path_params["patient_id"]
    async with deps.sessions() as session:
        card = await reports.patient_card(session, patient_id)
        messages = await dashboard_views.timeline(session, patient_id)
        jobs = await load(session, messages, deps.catalog)
        entries = await dashboard_views.conversation_of(session, patient_id)
        alerts = await dashboard_views.open_alerts(session, patient_id)
        answers = await dashboard_views.answers_of(session, patient_id)
    zone, now = ZoneInfo(card.patient.timezone), deps.clock.now()
    texts = shown_texts(deps.renderer, jobs, channels=deps.channels, now=now)
    chart = course_chart(
        checkins_of(answers),
        [InfusionMark(i.number, i.scheduled_at, attendance_of(i, now)) for i in card.infusions],
        zone=zone,
        formats=deps.clinic.formats(deps.locale),
        stamp=lambda instant: deps.when(instant, zone),
    )
    return deps.page(
        "patient",
        patient=card.patient,
        series=card.series,
        contacts=card.contacts,
        infusions=[
            {"number": i.number, "when": deps.when(i.scheduled_at, zone), "status": i.status.value}
            for i in card.infusions
        ],
        timeline=[
            {
                "when": deps.when(m.sent_at or m.send_at, zone),
                "step": m.step_key,
                "kind": m.kind.value,
                "infusion": m.infusion_number,
                "status": m.status.value,
                "channel": _channel(m),
                "error": m.last_error if m.status in (MessageStatus.FAILED, MessageStatus.SKIPPED) else None,
                "shown": texts.get(m.pk),
            }
            for m in messages
        ],
        answers=[
            {
                "when": deps.when(a.answered_at, zone),
                "question": a.question,
                "value": a.value,
                "after": a.after_infusion,
            }
            for a in answers
        ],
        chart=chart,
        conversation=[conversation.entry_view(e, deps.when(e.at, zone)) for e in entries],
        alerts=[{"id": a.pk, "when": deps.when(a.created_at)} for a in alerts],
        csrf=visit.csrf,
    )


async def inbox(deps: DashboardDeps, _request: Request, visit: Visit) -> Response:
    async with deps.sessions() as session:
        lines = await conversation.inbox(session)
        alerts = await dashboard_views.open_alerts(session)
        names = await dashboard_views.patient_names(session, [a.patient_id for a in alerts if a.patient_id is not None])
    waiting = [
        {
            "id": line.patient.pk,
            "name": line.patient.name,
            "waiting": line.waiting,
            "since": deps.when(line.since),
            "level": line.level.value,
        }
        for line in lines
    ]
    open_alerts = [
        {
            "id": a.pk,
            "patient_id": a.patient_id,
            "name": names.get(a.patient_id or 0),
            # The alert as staff received it in Telegram, without Telegram's markup.
            "text": Markup(a.text).striptags(),
            "since": deps.when(a.created_at),
        }
        for a in alerts
    ]
    return deps.page("inbox", waiting=waiting, alerts=open_alerts, csrf=visit.csrf)


async def agenda(deps: DashboardDeps, _request: Request, visit: Visit) -> Response:
    now = deps.clock.now()
    async with deps.sessions() as session:
        due = await dashboard_views.agenda(session, now=now, end=now + AGENDA)
    rows = [
        {
            "when": deps.when(m.send_at),
            "patient_id": p.pk,
            "name": p.name,
            "step": m.step_key,
            "kind": m.kind.value,
            "channel": _channel(m),
            "held": m.status is MessageStatus.HELD,
            "overdue": m.send_at < now,
        }
        for m, p in due
    ]
    overdue = sum(1 for row in rows if row["overdue"])
    return deps.page("agenda", rows=rows, overdue=overdue, csrf=visit.csrf)


async def logout(deps: DashboardDeps, request: Request, _visit: Visit) -> Response:
    async with transaction(deps.sessions) as session:
        await sign_out(session=session, clock=deps.clock, token=request.cookies.get(COOKIE, ""))
    return signed_out(deps, status=200)


def login_handler(deps: DashboardDeps) -> Callable[[Request], Awaitable[Response]]:
    async def login(request: Request) -> Response:
        """Spend the one-time link and start a session; a link preview robot spends nothing."""
        if is_preview_robot(request.headers.get("User-Agent", "")):
            return signed_out(deps, status=200)
        async with transaction(deps.sessions) as session:
            outcome = await open_login(
                session=session, clock=deps.clock, token=request.path_params["token"], lifetime=deps.session_lifetime
            )
        if isinstance(outcome, Refused):
            return signed_out(deps, status=403)
        return start_session(deps, outcome.token)

    return login


def _channel(message: Message) -> str | None:
    """The channel it went on, or the only one it may go on."""
    channel = message.channel or message.only_channel
    return channel.value if channel is not None else None


async def home(_request: Request) -> Response:
    return RedirectResponse(f"{PREFIX}/patients", status_code=303)


# The handlers by name, each wrapped by access.guarded with the dashboard's deps.
HANDLERS: dict[str, Handler] = {
    "patients": patients,
    "patient": patient,
    "inbox": inbox,
    "agenda": agenda,
    "logout": logout,
}
