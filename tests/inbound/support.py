"""Building blocks for the end-to-end tests of SMS, WhatsApp and e-mail: settings, a running app, replies."""

from __future__ import annotations

import asyncio
import socket
import xml.etree.ElementTree as ElementTree
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import httpx
from icalendar import Calendar
from sqlmodel import col, select

from messenger.app import App, build_app
from messenger.channels.signing import twilio_signature
from messenger.clock import Clock, ScaledClock
from messenger.config import Settings
from messenger.domain.enums import ChannelName
from messenger.domain.models import AuditEvent, Contact, Message
from messenger.scheduling.alarm import WAKE_JOB
from messenger.scheduling.dispatcher import Delivery, DeliveryListener
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.smtp import FakeSmtpServer
from tests.fakes.twilio_api import API_VERSION, FakeTwilioApi, WebhookReply
from tests.fakes.twilio_api import Message as TwilioMessage

OWNER = 1001
PATIENT_CHAT = 5005
SMS_FROM = "+15005550006"
WHATSAPP_FROM = "+15005550007"
CLINIC_ADDRESS = "Care Team <care@clinic.example>"
CLINIC_PHONE = "949-503-1414"
PATIENT_PHONE = "+15551230001"
PATIENT_EMAIL = "jane@example.org"
SIGNING_SECRET = "unsubscribe-links-are-signed-with-this-0123456789"
COMPACT = Path(__file__).parent.parent / "data" / "series"
# Generous: other test runs share this machine.
WAIT = 30.0
# Providers' limits (a long code's one SMS a second, Telegram's one message a second to a chat) are kept
# on a clock this many times faster, unless a test of pacing brings its own: a paced send costs a millisecond.
FAST_PACING = 1_000


def fast_pacing() -> ScaledClock:
    return ScaledClock(datetime.now(UTC), FAST_PACING)


def free_port() -> int:
    """A loopback port nobody listens on now (for a public URL that must be known before the app starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def inbound_settings(
    database_url: str,
    *,
    twilio: FakeTwilioApi | None = None,
    smtp: FakeSmtpServer | None = None,
    bot_api: FakeBotApi | None = None,
    public: bool = False,
    **extra: object,
) -> Settings:
    """Settings for the providers given; with ``public`` the app's public URL is its own loopback address.

    Twilio's status callbacks only exist with a public URL, so ``public`` is needed to receive them.
    """
    values: dict[str, object] = {"_env_file": None, "database_url": database_url, "http_port": 0}
    if public:
        port = free_port()
        values |= {"http_port": port, "public_url": f"http://127.0.0.1:{port}"}
    if twilio is not None:
        values |= {
            "twilio_account_sid": twilio.account_sid,
            "twilio_auth_token": twilio.auth_token,
            "twilio_sms_from": SMS_FROM,
            "twilio_whatsapp_from": WHATSAPP_FROM,
            "twilio_base_url": twilio.base_url,
        }
    if smtp is not None:
        values |= {"smtp_host": smtp.host, "smtp_port": smtp.port, "email_from": CLINIC_ADDRESS}
    if bot_api is not None:
        values |= {"telegram_token": bot_api.token, "telegram_base_url": bot_api.base_url, "owner_ids": [OWNER]}
    return Settings(**(values | extra))  # type: ignore[arg-type]


@asynccontextmanager
async def running_app(
    settings: Settings,
    clock: Clock,
    *,
    manual: bool = True,
    listeners: Sequence[DeliveryListener] = (),
    pacing_clock: Clock | None = None,
) -> AsyncIterator[App]:
    """The whole application with its web app on loopback; with ``manual`` the test runs the dispatcher.

    Pacers run on ``pacing_clock``, by default :func:`fast_pacing`."""
    pacing_clock = pacing_clock or fast_pacing()
    app = build_app(settings, clock=clock, listeners=listeners, serve_http=True, pacing_clock=pacing_clock)
    await app.start()
    try:
        if manual:
            await hold_alarm(app)
        yield app
    finally:
        await app.stop()


async def hold_alarm(app: App) -> None:
    """Pause the alarm, and let a run it already began finish, so only the test runs the dispatcher."""
    app.alarm.scheduler.pause()
    if app.alarm.scheduler.get_job(WAKE_JOB) is None:  # the wake-up at start was already taken
        await asyncio.wait_for(app.alarm.wait_idle(), WAIT)


def invitation(message: EmailMessage) -> tuple[str, int, datetime] | None:
    """(UID, SEQUENCE, DTSTART) of the calendar entry a message carries, if any."""
    parts = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    if not parts:
        return None
    [part] = parts
    [event] = Calendar.from_ical(part.get_content()).walk("VEVENT")
    return str(event["UID"]), int(event["SEQUENCE"]), event.decoded("DTSTART")


def inbound_url(app: App) -> str:
    assert app.web is not None
    return f"{app.web.url}/twilio/inbound"


def status_url(app: App) -> str:
    assert app.web is not None
    return f"{app.web.url}/twilio/status"


def twiml_reply(reply: WebhookReply) -> str | None:
    """The text of the TwiML ``<Message>`` in a webhook answer, or None for an empty ``<Response/>``."""
    assert reply.status == 200, (reply.status, reply.body)
    assert reply.content_type in {"application/xml", "text/xml"}, reply.content_type
    root = ElementTree.fromstring(reply.body)
    assert root.tag == "Response"
    messages = root.findall("Message")
    assert len(messages) <= 1, reply.body
    return messages[0].text if messages else None


async def post_form(url: str, form: dict[str, str], *, signature: str | None) -> httpx.Response:
    """POST a form as Twilio would, with this ``X-Twilio-Signature`` (or none)."""
    headers = {"User-Agent": "TwilioProxy/1.1"}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    async with httpx.AsyncClient(timeout=WAIT) as http:
        return await http.post(url, data=form, headers=headers)


def status_form(
    twilio: FakeTwilioApi, message: TwilioMessage, status: str, error_code: int | None = None
) -> dict[str, str]:
    """The form of a status callback for ``message``, as Twilio sends it."""
    form = {
        "AccountSid": twilio.account_sid,
        "ApiVersion": API_VERSION,
        "From": message.from_,
        "MessageSid": message.sid,
        "MessageStatus": status,
        "SmsSid": message.sid,
        "SmsStatus": status,
        "To": message.to,
    }
    if error_code is not None:
        form["ErrorCode"] = str(error_code)
    return form


def signed(token: str, url: str, form: dict[str, str]) -> str:
    return twilio_signature(token, url, form)


async def contact(app: App, channel: ChannelName) -> Contact:
    async with app.sessions() as session:
        return (await session.exec(select(Contact).where(Contact.channel == channel))).one()


async def audit_actions(app: App) -> list[str]:
    async with app.sessions() as session:
        return [e.action for e in (await session.exec(select(AuditEvent).order_by(col(AuditEvent.id)))).all()]


async def sent_rows(app: App) -> dict[str, Message]:
    """Sent outbox rows by provider id: which step each provider message carried."""
    async with app.sessions() as session:
        rows = (await session.exec(select(Message).where(col(Message.provider_id).is_not(None)))).all()
    return {row.provider_id: row for row in rows if row.provider_id}  # type: ignore[misc]


class DeliveryLog:
    """A dispatcher listener that keeps every delivery and wakes waiters on each one."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._changed = asyncio.Event()

    async def __call__(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        self._changed.set()

    async def wait_for(self, predicate: Callable[[list[Delivery]], bool], timeout: float = WAIT) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate(self.deliveries):
            self._changed.clear()
            remaining = deadline - loop.time()
            try:
                if remaining <= 0:
                    raise TimeoutError
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                seen = [(d.patient.name, d.message.step_key, d.status.value) for d in self.deliveries]
                raise AssertionError(f"timed out after {timeout}s; deliveries so far: {seen}") from None
