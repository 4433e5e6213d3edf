"""Inbound webhooks: Twilio (status callbacks, replies by SMS/WhatsApp) and one-click e-mail unsubscribe.

Every Twilio request must carry a valid ``X-Twilio-Signature`` over the public URL and
the form as sent; anything else gets 403 and is logged without its body. Each message and
each status report is acted on once, by its SID (see ``services.receipts``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from messenger.bot.alerts import StaffAlerts
from messenger.channels.signing import read_token, sign_token, valid_twilio_signature
from messenger.channels.twilio import twilio_failure
from messenger.clock import Clock
from messenger.config import Settings
from messenger.db import SessionFactory, transaction
from messenger.domain import bounds
from messenger.domain.catalog import SeriesCatalog
from messenger.domain.enums import ChannelName, MessageStatus
from messenger.domain.hours import clinic_hours
from messenger.domain.models import Contact, Patient
from messenger.domain.timing import QuietHours
from messenger.domain.triage import PhraseBooks
from messenger.rendering.environment import TemplateEnvironment
from messenger.rendering.strings import BotStrings
from messenger.services.contacts import set_opted_out
from messenger.services.inbound import InboundResult, apply_delivery_status, handle_inbound
from messenger.services.listening import discreet_key, reply_params
from messenger.services.receipts import first_receipt
from messenger.web.forms import MAX_FORM_BYTES, TwilioForm, parse_form, read_limited

log = logging.getLogger(__name__)

WHATSAPP_PREFIX = "whatsapp:"
FAILED_STATUSES = {"undelivered", "failed"}
UNSUBSCRIBE_VALIDITY = timedelta(days=365)


@dataclass
class WebhookDeps:
    settings: Settings
    sessions: SessionFactory
    clock: Clock
    catalog: SeriesCatalog
    strings: BotStrings
    templates: TemplateEnvironment
    alerts: StaffAlerts | None
    poke: Callable[[], None]
    quiet_hours: QuietHours
    phrases: PhraseBooks

    @property
    def locale(self) -> str:
        return self.settings.default_locale

    async def alert(self, session: AsyncSession, key: str | None, patient: Patient | None, **params: Any) -> None:
        """Queue a staff alert in the transaction of what caused it."""
        if key and patient is not None and self.alerts is not None:
            await self.alerts.queue(session, now=self.clock.now(), key=key, patient_id=patient.pk, **params)


def unsubscribe_link(settings: Settings, contact_id: int, now: datetime) -> str | None:
    """A signed, expiring one-click unsubscribe link for an e-mail contact."""
    if not settings.public_url or settings.signing_secret is None:
        return None
    token = sign_token(
        settings.signing_secret.get_secret_value().encode(), f"c{contact_id}", now + UNSUBSCRIBE_VALIDITY
    )
    return f"{settings.public_url}/unsubscribe/{token}"


def webhook_routes(deps: WebhookDeps) -> list[Route]:
    async def inbound(request: Request) -> Response:
        return await _inbound(deps, request)

    async def status(request: Request) -> Response:
        return await _status(deps, request)

    async def unsubscribe(request: Request) -> Response:
        return await _unsubscribe(deps, request)

    return [
        Route("/twilio/inbound", inbound, methods=["POST"]),
        Route("/twilio/status", status, methods=["POST"]),
        Route("/unsubscribe/{token}", unsubscribe, methods=["GET", "POST"]),
    ]


async def _twilio_form(deps: WebhookDeps, request: Request) -> TwilioForm | Response:
    """The verified form, or the answer that refuses the request (413, 403 or 400)."""
    raw = await read_limited(request, MAX_FORM_BYTES)
    if raw is None:
        return Response("request too large", status_code=413)
    pairs = parse_form(raw)
    token = deps.settings.twilio_auth_token
    url = f"{deps.settings.public_url}{request.url.path}" if deps.settings.public_url else str(request.url)
    if request.url.query and deps.settings.public_url:
        url += f"?{request.url.query}"
    signature = request.headers.get("X-Twilio-Signature", "")
    secret = token.get_secret_value() if token else ""
    # Signed over every pair as sent: a repeated name (two MediaUrl) must not be collapsed first.
    if pairs is None or not valid_twilio_signature(secret, url, pairs, signature):
        log.warning("rejected a Twilio request to %s: missing or invalid signature", request.url.path)
        return Response("invalid signature", status_code=403)
    form = TwilioForm(pairs)
    if form.hostile():
        log.warning("rejected a signed Twilio request to %s: control characters or a long id", request.url.path)
        return Response("malformed request", status_code=400)
    return form


async def _inbound(deps: WebhookDeps, request: Request) -> Response:
    form = await _twilio_form(deps, request)
    if isinstance(form, Response):
        return form
    sender = form.get("From")
    channel = ChannelName.WHATSAPP if sender.startswith(WHATSAPP_PREFIX) else ChannelName.SMS
    try:
        async with transaction(deps.sessions) as session:
            if not await first_receipt(session=session, clock=deps.clock, source="twilio.inbound", key=form.sid):
                return _twiml("")
            result = await handle_inbound(
                session=session,
                clock=deps.clock,
                catalog=deps.catalog,
                channel=channel,
                address=sender.removeprefix(WHATSAPP_PREFIX),
                body=form.get("Body"),
                books=deps.phrases,
                hours=clinic_hours(deps.settings),
            )
            if result.heard is not None:
                # Queued with the message it is about: the reply may then say the clinic has it.
                await deps.alert(
                    session,
                    result.heard.alert,
                    result.patient,
                    urgent=result.heard.urgent,
                    media=None,
                    crisis_line=deps.settings.crisis_line,
                    emergency=deps.settings.emergency_number,
                    **result.alert_params,
                )
            else:
                await deps.alert(session, result.alert, result.patient, **result.alert_params)
    except IntegrityError:  # the same message, acted on by a concurrent request
        return _twiml("")
    if result.alert or result.heard is not None or result.reply == "started":
        deps.poke()
    return _twiml(_sms_reply(deps, result))


def _sms_reply(deps: WebhookDeps, result: InboundResult) -> str:
    if not result.reply:
        return ""
    locale = result.patient.locale if result.patient else deps.locale
    zone = ZoneInfo(result.patient.timezone) if result.patient else None
    params = reply_params(deps.settings, now=deps.clock.now(), language=locale, zone=zone)
    question = deps.strings.plain(f"sms.question_{result.reply_params.get('question', 'pain')}", locale)
    key = discreet_key(result.reply) if "." in result.reply else f"sms.{result.reply}"
    reply = deps.strings.plain(key, locale, **(params | result.reply_params | {"question": question}))
    if result.preface:
        reply = deps.strings.plain(discreet_key(result.preface), locale, **params) + " " + reply
    return reply


async def _status(deps: WebhookDeps, request: Request) -> Response:
    form = await _twilio_form(deps, request)
    if isinstance(form, Response):
        return form
    state = form.get("MessageStatus")
    code = bounds.ascii_int(form.get("ErrorCode"))
    failure = (
        twilio_failure(code, form.get("ErrorMessage"), address=form.get("To") or None)
        if state in FAILED_STATUSES
        else None
    )
    # One callback per status of a message: the status is part of what makes it a replay.
    key = f"{form.sid}:{state}:{code or ''}"
    try:
        async with transaction(deps.sessions) as session:
            if not await first_receipt(session=session, clock=deps.clock, source="twilio.status", key=key):
                return Response(status_code=204)
            result = await apply_delivery_status(
                session=session,
                clock=deps.clock,
                quiet_hours=deps.quiet_hours,
                provider_id=form.sid,
                status=state,
                failure=failure,
                catalog=deps.catalog,
            )
            patient = await session.get(Patient, result.message.patient_id) if result.message else None
            if result.lost is not None:
                kind = "opted_out" if result.lost.opted_out else "unreachable"
                lost = result.lost
                await deps.alert(session, kind, patient, channel=lost.channel.value, reason=lost.status_reason or "")
            elif failure is not None and result.message is not None and result.message.status is MessageStatus.FAILED:
                await deps.alert(session, "undeliverable", patient, reason=failure.reason)
    except IntegrityError:
        return Response(status_code=204)
    if failure is not None:
        deps.poke()
    return Response(status_code=204)


def _twiml(reply: str) -> Response:
    body = f"<Response><Message>{escape(reply)}</Message></Response>" if reply else "<Response/>"
    return Response(f'<?xml version="1.0" encoding="UTF-8"?>{body}', media_type="application/xml")


async def _unsubscribe(deps: WebhookDeps, request: Request) -> Response:
    secret = deps.settings.signing_secret
    payload = (
        read_token(secret.get_secret_value().encode(), request.path_params["token"], deps.clock.now())
        if secret
        else None
    )
    phone = deps.settings.clinic_phone
    if payload is None or not payload.startswith("c") or not payload[1:].isdigit():
        return _page(deps, "web.unsubscribe_invalid", locale=deps.locale, status=400, phone=phone)
    async with deps.sessions() as session:
        found = await session.get(Contact, int(payload[1:]))
        reader = await session.get(Patient, found.patient_id) if found else None
    locale = reader.locale if reader else deps.locale  # the page speaks the patient's language
    if request.method == "GET":  # link scanners fetch links: only a POST unsubscribes
        return _page(deps, "web.unsubscribe_question", locale=locale, button=True)
    async with transaction(deps.sessions) as session:
        contact = await session.get(Contact, int(payload[1:]))
        changed = contact is not None and await set_opted_out(
            session=session, clock=deps.clock, contact=contact, opted_out=True, reason="one-click unsubscribe"
        )
        patient = await session.get(Patient, contact.patient_id) if contact else None
        if changed:
            await deps.alert(session, "opted_out", patient, channel=ChannelName.EMAIL.value)
    if changed:
        deps.poke()
    return _page(deps, "web.unsubscribed", locale=locale, phone=phone)


def _page(
    deps: WebhookDeps, key: str, *, locale: str, status: int = 200, button: bool = False, **params: object
) -> HTMLResponse:
    """The page in the reader's language (its own template, for the document's ``lang``)."""
    strings = deps.strings
    html = deps.templates.render_file(
        deps.templates.localized_file("web/page.html.j2", locale),
        {
            "title": strings.plain("web.unsubscribe_title", locale),
            "text": strings.plain(key, locale, **params),
            "button": strings.plain("web.unsubscribe_button", locale) if button else None,
        },
    )
    return HTMLResponse(html, status_code=status)
