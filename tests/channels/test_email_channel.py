"""The e-mail channel against a real SMTP server on loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from icalendar import Calendar

from messenger.channels.base import Failed, RetryLater, Sent
from messenger.channels.calendar import CalendarEvent, ics_bytes
from messenger.channels.email import EmailChannel
from messenger.channels.failures import FailureCode
from messenger.content import Flavour
from tests.channels.support import FAR_FROM_TODAY, LA, far_clock, outgoing
from tests.fakes.smtp import FakeSmtpServer

PATIENT = "jane@example.org"
SUBJECT = "Your appointment tomorrow at 9:00 AM (visit 2 of 6)"
BODY = "Hi Jane,\n\nYour visit is tomorrow at 9:00 AM. An adult must drive you home.\n"
HTML = '<p style="margin:0">Hi Jane,</p>\n<p>Your visit is <b>tomorrow at 9:00 AM</b>.</p>'
UNSUBSCRIBE = "https://clinic.example/unsubscribe/" + "eyJjb250YWN0IjoxMjN9" * 6 + ".1798761600.c2lnbmF0dXJl"


@pytest.fixture
async def smtp() -> AsyncIterator[FakeSmtpServer]:
    async with FakeSmtpServer() as server:
        yield server


def channel_for(smtp: FakeSmtpServer, **options: object) -> EmailChannel:
    settings: dict[str, object] = {
        "host": smtp.host,
        "port": smtp.port,
        "from_address": "Care Team <care@clinic.example>",
        "timeout": 5,
        "clock": far_clock(),
        **options,
    }
    return EmailChannel(**settings)  # type: ignore[arg-type]


async def send_one(smtp: FakeSmtpServer, channel: EmailChannel, **content: object) -> tuple[Sent, EmailMessage]:
    fields: dict[str, object] = {"subject": SUBJECT, "html": HTML, **content}
    body = fields.pop("body", BODY)
    outcome = await channel.send(outgoing(PATIENT, body, **fields))  # type: ignore[arg-type]
    assert isinstance(outcome, Sent), outcome
    [message] = await smtp.wait_for(1)
    return outcome, message


# ---------------------------------------------------------------------------- the message


async def test_subject_text_and_html_alternative(smtp: FakeSmtpServer) -> None:
    _, message = await send_one(smtp, channel_for(smtp))

    assert message["Subject"] == SUBJECT
    assert message["From"] == "Care Team <care@clinic.example>"
    assert message["To"] == f"Jane Doe <{PATIENT}>"
    # The channel's clock, years from today: a Date from the wall clock would differ.
    assert message["Date"].datetime == FAR_FROM_TODAY.replace(microsecond=0)
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    assert plain.get_content() == BODY
    # The layout is the rendering's job (templates/<locale>/layout): the channel carries the part as given.
    assert html.get_content().strip() == HTML
    assert smtp.received[0].rcpt_tos == (PATIENT,)
    assert smtp.received[0].mail_from == "care@clinic.example"


async def test_the_message_id_is_the_provider_id(smtp: FakeSmtpServer) -> None:
    outcome, message = await send_one(smtp, channel_for(smtp))

    assert outcome.provider_id == message["Message-ID"]
    assert outcome.provider_id.startswith("<") and outcome.provider_id.endswith("@clinic.example>")


async def test_without_html_the_message_is_plain_text(smtp: FakeSmtpServer) -> None:
    _, message = await send_one(smtp, channel_for(smtp), html=None)

    assert message.get_content_type() == "text/plain"
    assert message.get_content() == BODY


async def test_non_ascii_text_survives(smtp: FakeSmtpServer) -> None:
    _, message = await send_one(
        smtp,
        channel_for(smtp),
        subject="Señora Zoë: café at 9 ☕",
        body="Hola, Zoë — ¿mañana?\n",
        recipient="Zoë Núñez",
    )

    assert message["Subject"] == "Señora Zoë: café at 9 ☕"
    assert message.get_body(("plain",)).get_content() == "Hola, Zoë — ¿mañana?\n"  # type: ignore[union-attr]
    assert message["To"] == f"Zoë Núñez <{PATIENT}>"


async def test_a_subject_cannot_add_headers(smtp: FakeSmtpServer) -> None:
    _, message = await send_one(smtp, channel_for(smtp), subject="Hello\r\nBcc: someone@evil.example")

    assert message["Subject"] == "Hello Bcc: someone@evil.example"
    assert message["Bcc"] is None
    assert smtp.received[0].rcpt_tos == (PATIENT,)


def test_capabilities() -> None:
    capabilities = EmailChannel.capabilities
    assert (capabilities.body, capabilities.subject, capabilities.html) == (
        Flavour.EMAIL_TEXT,
        Flavour.EMAIL_SUBJECT,
        Flavour.EMAIL_HTML,
    )
    assert capabilities.max_length == 100_000
    assert capabilities.discreet is True


# ---------------------------------------------------------------------------- unsubscribe headers


async def test_one_click_unsubscribe_headers(smtp: FakeSmtpServer) -> None:
    seen = []

    def unsubscribe_url(item: object) -> str:
        seen.append(item)
        return UNSUBSCRIBE

    _, message = await send_one(smtp, channel_for(smtp, unsubscribe_url=unsubscribe_url))

    assert message["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # Written verbatim on one line, not folded into RFC 2047 encoded words.
    assert f"List-Unsubscribe: <{UNSUBSCRIBE}>\r\n".encode() in smtp.received[0].raw
    assert len(seen) == 1 and seen[0].address == PATIENT  # type: ignore[attr-defined]


@pytest.mark.parametrize("unsubscribe_url", [None, lambda item: None], ids=["no callback", "callback gives None"])
async def test_no_unsubscribe_headers_without_a_url(smtp: FakeSmtpServer, unsubscribe_url: object) -> None:
    _, message = await send_one(smtp, channel_for(smtp, unsubscribe_url=unsubscribe_url))

    assert message["List-Unsubscribe"] is None
    assert message["List-Unsubscribe-Post"] is None


# ---------------------------------------------------------------------------- calendar invitations


def appointment(sequence: int = 0, *, start: datetime | None = None, cancelled: bool = False) -> CalendarEvent:
    return CalendarEvent(
        uid="infusion-42@clinic.example",
        sequence=sequence,
        start=start or datetime(2026, 12, 3, 9, 0, tzinfo=LA),
        duration=timedelta(minutes=90),
        summary="Appointment at the clinic",
        location="1 Main Street, Irvine",
        description="Visit 2 of 6. An adult must drive you home.",
        cancelled=cancelled,
    )


def invitation(message: EmailMessage) -> tuple[EmailMessage, Calendar]:
    [part] = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert isinstance(part, EmailMessage)
    return part, Calendar.from_ical(part.get_content())


async def test_a_calendar_invitation_is_attached(smtp: FakeSmtpServer) -> None:
    data = ics_bytes(
        appointment(),
        organizer_email="care@clinic.example",
        attendee_email=PATIENT,
        now=datetime(2026, 11, 30, 20, 0, tzinfo=UTC),
    )

    _, message = await send_one(smtp, channel_for(smtp), attachments=(("appointment.ics", data, "text/calendar"),))

    assert message.get_content_type() == "multipart/mixed"
    assert message.get_body(("html",)) is not None  # the alternative is still there
    part, calendar = invitation(message)
    assert part.get_filename() == "appointment.ics"
    assert part.get_param("method") == "REQUEST"
    assert calendar["METHOD"] == "REQUEST"
    [event] = calendar.walk("VEVENT")
    assert str(event["UID"]) == "infusion-42@clinic.example"
    assert int(event["SEQUENCE"]) == 0
    assert event.decoded("DTSTART") == datetime(2026, 12, 3, 17, 0, tzinfo=UTC)
    assert event.decoded("DTEND") == datetime(2026, 12, 3, 18, 30, tzinfo=UTC)
    assert str(event["STATUS"]) == "CONFIRMED"


async def test_a_rescheduled_invitation_keeps_the_uid_and_raises_the_sequence(smtp: FakeSmtpServer) -> None:
    channel = channel_for(smtp)
    now = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)
    first = ics_bytes(appointment(0), now=now)
    moved = ics_bytes(appointment(1, start=datetime(2026, 12, 4, 10, 0, tzinfo=LA)), now=now)
    cancelled = ics_bytes(appointment(2, cancelled=True), now=now)

    for data in (first, moved, cancelled):
        outcome = await channel.send(
            outgoing(PATIENT, BODY, subject=SUBJECT, attachments=(("appointment.ics", data, "text/calendar"),))
        )
        assert isinstance(outcome, Sent)
    messages = await smtp.wait_for(3)

    events = [(part.get_param("method"), calendar.walk("VEVENT")[0]) for part, calendar in map(invitation, messages)]
    assert {str(event["UID"]) for _, event in events} == {"infusion-42@clinic.example"}
    assert [int(event["SEQUENCE"]) for _, event in events] == [0, 1, 2]
    assert events[1][1].decoded("DTSTART") == datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
    assert [method for method, _ in events] == ["REQUEST", "REQUEST", "CANCEL"]
    assert str(events[2][1]["STATUS"]) == "CANCELLED"


async def test_other_attachments_keep_their_type(smtp: FakeSmtpServer) -> None:
    _, message = await send_one(
        smtp,
        channel_for(smtp),
        attachments=(("directions.pdf", b"%PDF-1.4 fake", "application/pdf"), ("blob", b"\x00\x01", "nonsense")),
    )

    parts = list(message.iter_attachments())
    assert [(p.get_filename(), p.get_content_type()) for p in parts] == [
        ("directions.pdf", "application/pdf"),
        ("blob", "application/octet-stream"),
    ]
    assert parts[0].get_content() == b"%PDF-1.4 fake"


# ---------------------------------------------------------------------------- answers


async def test_no_subject_is_failed_before_sending(smtp: FakeSmtpServer) -> None:
    for subject in (None, "", "  \n "):
        outcome = await channel_for(smtp).send(outgoing(PATIENT, BODY, subject=subject))
        assert outcome == Failed(FailureCode.SMTP_INVALID_MESSAGE)
    assert smtp.received == []


async def test_an_invalid_address_is_unreachable(smtp: FakeSmtpServer) -> None:
    for address in ("not an address", "jane@", "", "jane@example.org\r\nBcc: x@evil.example"):
        outcome = await channel_for(smtp).send(outgoing(address, BODY, subject=SUBJECT))
        assert outcome == Failed(FailureCode.SMTP_INVALID_ADDRESS, unreachable=True), address
    assert smtp.received == []


# (label, server reply to RCPT, outcome type, unreachable)
RCPT_REPLIES = [
    ("550 5.1.1 user unknown", "550 5.1.1 <jane@example.org>: Recipient address rejected: User unknown", Failed, True),
    ("550 without enhanced code", "550 No such user here", Failed, True),
    ("551 5.1.6 moved", "551 5.1.6 User has moved", Failed, True),
    ("553 5.1.3 bad syntax", "553 5.1.3 Bad recipient address syntax", Failed, True),
    ("550 5.2.1 mailbox disabled", "550 5.2.1 Mailbox disabled for this recipient", Failed, True),
    ("550 5.7.1 relaying denied", "550 5.7.1 <jane@example.org>: Relay access denied", Failed, False),
    ("552 5.2.2 mailbox full", "552 5.2.2 Mailbox full", Failed, False),
    ("450 4.2.1 busy", "450 4.2.1 Mailbox busy", RetryLater, False),
    ("451 4.7.1 greylisted", "451 4.7.1 Greylisted, please try again later", RetryLater, False),
]


@pytest.mark.parametrize(
    ("reply", "kind", "unreachable"), [case[1:] for case in RCPT_REPLIES], ids=[case[0] for case in RCPT_REPLIES]
)
async def test_recipient_refusals_map_to_outcomes(
    smtp: FakeSmtpServer, reply: str, kind: type, unreachable: bool
) -> None:
    smtp.refuse(PATIENT, reply)

    outcome = await channel_for(smtp).send(outgoing(PATIENT, BODY, subject=SUBJECT))

    assert isinstance(outcome, kind), outcome
    if isinstance(outcome, Failed):
        assert outcome.unreachable is unreachable and not outcome.opted_out
    assert outcome.code is (FailureCode.SMTP_REJECTED if kind is Failed else FailureCode.SMTP_DEFERRED)
    assert f"code={reply[:3]}" in outcome.reason
    assert PATIENT not in outcome.reason and "example.org" not in outcome.reason + outcome.detail
    assert smtp.received == []


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        ("451 4.3.0 Temporary local problem", RetryLater),
        ("554 5.7.1 Message rejected as spam for jane@example.org", Failed),
    ],
    ids=["451 at DATA", "554 at DATA"],
)
async def test_data_refusals_map_to_outcomes(smtp: FakeSmtpServer, reply: str, kind: type) -> None:
    smtp.reject_next_data(reply)

    outcome = await channel_for(smtp).send(outgoing(PATIENT, BODY, subject=SUBJECT))

    assert isinstance(outcome, kind), outcome
    assert not getattr(outcome, "unreachable", False)
    assert PATIENT not in outcome.reason and PATIENT not in outcome.detail


async def test_a_deferred_recipient_is_retry_later(smtp: FakeSmtpServer) -> None:
    smtp.defer(PATIENT)

    outcome = await channel_for(smtp).send(outgoing(PATIENT, BODY, subject=SUBJECT))

    assert outcome == RetryLater(FailureCode.SMTP_DEFERRED, params=(("code", "450"),))


async def test_a_server_that_is_down_is_retry_later() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    channel = EmailChannel(
        host="127.0.0.1", port=port, from_address="care@clinic.example", timeout=5, clock=far_clock()
    )

    outcome = await channel.send(outgoing(PATIENT, BODY, subject=SUBJECT))

    assert isinstance(outcome, RetryLater)
    assert "unavailable" in outcome.reason


async def test_a_server_that_never_answers_is_retry_later() -> None:
    hung_up = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read()  # never greets; returns once the client gives up
        finally:
            writer.close()
            hung_up.set()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    channel = EmailChannel(
        host="127.0.0.1", port=port, from_address="care@clinic.example", timeout=0.3, clock=far_clock()
    )
    try:
        outcome = await channel.send(outgoing(PATIENT, BODY, subject=SUBJECT))
        await asyncio.wait_for(hung_up.wait(), 5)
    finally:
        server.close()
        await server.wait_closed()

    assert isinstance(outcome, RetryLater)


async def test_authentication() -> None:
    async with FakeSmtpServer(credentials=("mailer", "right-password")) as smtp:
        good = channel_for(smtp, username="mailer", password="right-password", start_tls=False)
        bad = channel_for(smtp, username="mailer", password="wrong-password", start_tls=False)
        anonymous = channel_for(smtp, start_tls=False)

        assert isinstance(await good.send(outgoing(PATIENT, BODY, subject=SUBJECT)), Sent)
        refused = await bad.send(outgoing(PATIENT, BODY, subject=SUBJECT))
        unauthenticated = await anonymous.send(outgoing(PATIENT, BODY, subject=SUBJECT))

        assert refused == Failed(FailureCode.SMTP_AUTH, (("code", "535"),))
        assert isinstance(unauthenticated, Failed) and not unauthenticated.unreachable
        assert "wrong-password" not in refused.reason
        assert len(smtp.received) == 1
