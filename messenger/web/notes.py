"""``GET /n/<token>``: the page of a note whose link went by SMS, in the patient's language.

Lock screens and link previews show a page's title and OpenGraph tags, so both say only "a
message for you"; link-preview robots get that much and nothing else, and their visits do not
count as the patient reading the note. A forged, altered or expired link gets a polite page with
the clinic's phone number.
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from messenger.clock import Clock
from messenger.content import Flavour
from messenger.db import SessionFactory, transaction
from messenger.domain.catalog import SeriesCatalog
from messenger.rendering.context import Clinic, message_context
from messenger.rendering.environment import TemplateEnvironment, TemplateRenderError
from messenger.services.notes import NOTE_PATH, NoteLinks, OpenedNote, open_note

__all__ = ["NOTE_PAGE", "NoteDeps", "note_routes"]

log = logging.getLogger(__name__)

NOTE_PAGE = "web/note.html.j2"
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")
# Nothing of the page may be kept by a shared browser, a proxy or a search engine, nor leak in a Referer.
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow, noarchive",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'",
}
# What link-preview robots (messaging apps, social networks, search engines) put in their User-Agent.
PREVIEW_ROBOTS = (
    "facebookexternalhit",
    "facebot",
    "twitterbot",
    "slackbot",
    "whatsapp",
    "telegrambot",
    "discordbot",
    "linkedinbot",
    "skypeuripreview",
    "applebot",
    "googlebot",
    "bingbot",
    "embedly",
)


@dataclass(frozen=True, slots=True)
class NoteDeps:
    links: NoteLinks
    sessions: SessionFactory
    clock: Clock
    catalog: SeriesCatalog
    templates: TemplateEnvironment
    clinic: Clinic
    default_locale: str


def is_preview_robot(user_agent: str) -> bool:
    agent = user_agent.lower()
    return any(robot in agent for robot in PREVIEW_ROBOTS)


def note_routes(deps: NoteDeps) -> list[Route]:
    async def note(request: Request) -> Response:
        message_id = deps.links.message_id(request.path_params["token"], now=deps.clock.now())
        if message_id is None:
            return _page(deps, _browser_language(request) or deps.default_locale, status=404)
        robot = is_preview_robot(request.headers.get("User-Agent", ""))
        record = request.method == "GET" and not robot  # HEAD and previews are not the patient reading
        async with transaction(deps.sessions) as session:
            opened = await open_note(session=session, clock=deps.clock, message_id=message_id, record=record)
        if opened is None:
            return _page(deps, deps.default_locale, status=404)
        if robot:
            return _page(deps, opened.patient.locale, preview=True)
        try:
            body = _note_html(deps, opened)
        except TemplateRenderError as exc:
            log.error("note page for message %s: %s", message_id, exc)
            return _page(deps, opened.patient.locale, status=500)
        return _page(deps, opened.patient.locale, note=body)

    return [Route(f"{NOTE_PATH}{{token}}", note, methods=["GET"], name="note")]


def _browser_language(request: Request) -> str | None:
    """The first language the browser asks for (``es`` from ``es-US,es;q=0.9``): a dead link names no patient."""
    first = request.headers.get("Accept-Language", "").split(",")[0].split(";")[0].strip()
    language = first.split("-")[0].lower()
    return language if _LANGUAGE.match(language) else None


def _note_html(deps: NoteDeps, opened: OpenedNote) -> Markup:
    """The note, from the same template as every other flavour of it (its e-mail HTML, or its text)."""
    message, patient = opened.message, opened.patient
    definition = deps.catalog.get(opened.series.definition_key)
    context = message_context(
        patient_name=patient.name,
        zone=ZoneInfo(patient.timezone),
        clinic=deps.clinic,
        definition=definition,
        infusion_times=opened.infusion_times,
        step_key=message.step_key,
        kind=message.kind,
        infusion_number=message.infusion_number,
    )
    templates, locale = deps.templates, patient.locale
    if templates.has(message.template, Flavour.EMAIL_HTML, locale):
        return Markup(
            templates.render(message.template, Flavour.EMAIL_HTML, locale, context)
        )  # the template autoescapes
    text = templates.render(message.template, Flavour.TEXT, locale, context)
    paragraphs = [html.escape(p.strip()).replace("\n", "<br>") for p in text.split("\n\n") if p.strip()]
    return Markup("".join(f"<p>{p}</p>" for p in paragraphs))  # escaped just above


def _page(
    deps: NoteDeps, locale: str, *, status: int = 200, note: Markup | None = None, preview: bool = False
) -> Response:
    page = deps.templates.render_localized(
        NOTE_PAGE,
        locale,
        {
            "lang": locale,
            "clinic": {"name": deps.clinic.name, "phone": deps.clinic.phone},
            "note": note,
            "preview": preview,
        },
    )
    return HTMLResponse(page, status_code=status, headers=_HEADERS)
