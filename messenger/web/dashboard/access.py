"""The dashboard's door: what it needs, the session cookie, CSRF on every POST, security headers.

Every page and action goes through :func:`guarded`: the cookie must name a live session of a
member of staff who is still active (checked in the database on each request, so removing
someone locks them out at once), and a POST must carry the session's CSRF token.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from messenger.bot.acknowledgement import AlertDesk
from messenger.bot.context import explain
from messenger.clock import Clock
from messenger.config import Settings
from messenger.db import SessionFactory, transaction
from messenger.domain.catalog import SeriesCatalog
from messenger.domain.enums import ChannelName
from messenger.domain.models import Staff
from messenger.domain.timing import QuietHours
from messenger.rendering.context import Clinic
from messenger.rendering.environment import TemplateEnvironment
from messenger.rendering.strings import BotStrings
from messenger.scheduling.dispatcher.render import Renderer
from messenger.services import audit
from messenger.services.dashboard_access import Refused, signed_in
from messenger.services.errors import ServiceError
from messenger.web.forms import MAX_FORM_BYTES, parse_form, read_limited

log = logging.getLogger(__name__)

COOKIE = "dashboard_session"
PREFIX = "/dashboard"
# No inline script or style, nothing from elsewhere, never inside a frame, no Referer leaving with a patient's id.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
}


@dataclass(frozen=True, slots=True)
class DashboardDeps:
    settings: Settings
    sessions: SessionFactory
    clock: Clock
    catalog: SeriesCatalog
    templates: TemplateEnvironment
    strings: BotStrings
    quiet_hours: QuietHours
    clinic: Clinic
    poke: Callable[[], None]
    channels: frozenset[ChannelName]
    # "I'm on it" edits the alert's copies in Telegram: there is no desk without the bot.
    desk: AlertDesk | None
    # The bot's @username, known once it has started: an invite link opens a chat with it.
    bot_username: Callable[[], str]
    # Each message's text on the patient's page, as the dispatcher renders it.
    renderer: Renderer

    @property
    def locale(self) -> str:
        return self.settings.default_locale

    @property
    def secure(self) -> bool:
        return (self.settings.public_url or "").startswith("https://")

    @property
    def session_lifetime(self) -> timedelta:
        return timedelta(hours=self.settings.dashboard_session_hours)

    def when(self, instant: datetime, zone: ZoneInfo | None = None) -> str:
        """A time as staff read it, in the clinic's convention (the patient's zone where given)."""
        return self.clinic.formats(self.locale).stamp(instant.astimezone(zone or self.settings.zone))

    def text(self, key: str, **params: Any) -> Markup:
        return Markup(self.strings.get(key, self.locale, **params))  # the strings escape their parameters

    def page(self, name: str, *, http_status: int = 200, **context: Any) -> Response:
        body = self.templates.render_localized(
            f"dashboard/{name}.html.j2", self.locale, {"lang": self.locale, **context}
        )
        return HTMLResponse(body, status_code=http_status, headers=HEADERS)


@dataclass(frozen=True, slots=True)
class Visit:
    """A signed-in request: who, their form token, and (a POST) the form."""

    staff: Staff
    csrf: str
    form: dict[str, str]

    @property
    def actor(self) -> str:
        return audit.staff_actor(self.staff.telegram_user_id)


Handler = Callable[["DashboardDeps", Request, Visit], Awaitable[Response]]


def guarded(
    deps: DashboardDeps, handler: Handler, *, audit_as: str | None = None
) -> Callable[[Request], Awaitable[Response]]:
    """``handler`` for signed-in staff only; reads audited as ``audit_as``; a refused rule explained on a page."""

    async def endpoint(request: Request) -> Response:
        token = request.cookies.get(COOKIE, "")
        async with transaction(deps.sessions) as session:
            outcome = await signed_in(session=session, clock=deps.clock, token=token) if token else None
            if outcome is not None and not isinstance(outcome, Refused) and audit_as:
                audit.record(
                    session,
                    at=deps.clock.now(),
                    actor=audit.staff_actor(outcome.staff.telegram_user_id),
                    action=audit_as,
                    patient_id=request.path_params.get("patient_id"),
                )
        if outcome is None or isinstance(outcome, Refused):
            return signed_out(deps, status=401)
        form: dict[str, str] = {}
        if request.method == "POST":
            raw = await read_limited(request, MAX_FORM_BYTES)
            pairs = parse_form(raw) if raw is not None else None
            form = dict(pairs or [])
            if pairs is None or not hmac.compare_digest(form.get("csrf", ""), outcome.csrf):
                await _refuse_forgery(deps, outcome.staff, request.url.path)
                return deps.page(
                    "message", http_status=403, message=deps.text("dashboard.forged"), back=None, csrf=None
                )
        visit = Visit(outcome.staff, outcome.csrf, form)
        try:
            return await handler(deps, request, visit)
        except ServiceError as error:
            message = Markup(explain(deps.strings, error, deps.locale))
            return deps.page("message", http_status=400, message=message, back=_back(request), csrf=visit.csrf)

    return endpoint


def signed_out(deps: DashboardDeps, *, status: int) -> Response:
    """The page for a dead link or session; the cookie goes with it."""
    response = deps.page("message", http_status=status, message=deps.text("dashboard.signed_out"), back=None, csrf=None)
    response.delete_cookie(COOKIE, path=PREFIX, secure=deps.secure, httponly=True, samesite="strict")
    return response


def start_session(deps: DashboardDeps, token: str) -> Response:
    response = RedirectResponse(f"{PREFIX}/patients", status_code=303, headers=HEADERS)
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(deps.session_lifetime.total_seconds()),
        path=PREFIX,
        secure=deps.secure,
        httponly=True,
        samesite="strict",
    )
    return response


def done(deps: DashboardDeps, visit: Visit, message: Markup, back: str) -> Response:
    """An action's outcome, and the way back to where it was taken."""
    return deps.page("message", message=message, back=back, csrf=visit.csrf)


def _back(request: Request) -> str:
    patient_id = request.path_params.get("patient_id")
    return f"{PREFIX}/patients/{patient_id}" if patient_id is not None else f"{PREFIX}/inbox"


async def _refuse_forgery(deps: DashboardDeps, staff: Staff, path: str) -> None:
    log.warning("dashboard: a POST without its CSRF token was refused")
    async with transaction(deps.sessions) as session:
        audit.record(
            session,
            at=deps.clock.now(),
            actor=audit.staff_actor(staff.telegram_user_id),
            action="dashboard.refused",
            reason="csrf",
            path=path,
        )
