"""The Twilio channel against a stand-in for Twilio's Messages API, and Twilio's signed webhooks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import format_datetime

import httpx
import pytest
from aiohttp import web
from pydantic import SecretStr

from messenger.channels.base import Failed, RetryLater, Sent
from messenger.channels.failures import FailureCode
from messenger.channels.signing import valid_twilio_signature
from messenger.channels.twilio import TwilioChannel, mask_number, twilio_failure
from messenger.content import Flavour
from messenger.domain.enums import ChannelName
from tests.channels.support import FAR_FROM_TODAY, far_clock, outgoing
from tests.fakes.twilio_api import FakeTwilioApi

SENDER = "+15005550006"
PATIENT = "+15551230001"


@pytest.fixture
async def api() -> AsyncIterator[FakeTwilioApi]:
    async with FakeTwilioApi(from_numbers={SENDER, f"whatsapp:{SENDER}"}) as fake:
        yield fake


def channel_for(api: FakeTwilioApi, name: ChannelName = ChannelName.SMS, **options: object) -> TwilioChannel:
    settings: dict[str, object] = {
        "account_sid": api.account_sid,
        "auth_token": api.auth_token,
        "from_number": SENDER,
        "base_url": api.base_url,
        "clock": far_clock(),
        **options,
    }
    return TwilioChannel(name=name, **settings)  # type: ignore[arg-type]


@pytest.fixture
async def sms(api: FakeTwilioApi) -> AsyncIterator[TwilioChannel]:
    channel = channel_for(api)
    yield channel
    await channel.aclose()


@dataclass
class Webhooks:
    """Our side of Twilio's webhooks: checks each signature the way the application must."""

    auth_token: str
    received: list[tuple[str, dict[str, str], bool]] = field(default_factory=list)
    runner: web.AppRunner | None = None
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def handle(self, request: web.Request) -> web.Response:
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        valid = valid_twilio_signature(
            self.auth_token, self.url(request.path_qs), form, request.headers.get("X-Twilio-Signature")
        )
        self.received.append((request.path, form, valid))
        if not valid:
            return web.Response(status=403, text="bad signature")
        if request.path.startswith("/twilio/inbound"):
            return web.Response(text="<Response/>", content_type="application/xml")
        return web.Response(status=204)


@pytest.fixture
async def webhooks(api: FakeTwilioApi) -> AsyncIterator[Webhooks]:
    hooks = Webhooks(api.auth_token)
    app = web.Application()
    app.router.add_post("/{tail:.*}", hooks.handle)
    hooks.runner = web.AppRunner(app, access_log=None)
    await hooks.runner.setup()
    site = web.TCPSite(hooks.runner, "127.0.0.1", 0)
    await site.start()
    hooks.port = hooks.runner.addresses[0][1]
    yield hooks
    await hooks.runner.cleanup()


# ---------------------------------------------------------------------------- request shape


async def test_an_sms_is_a_form_post_with_basic_auth(api: FakeTwilioApi, sms: TwilioChannel) -> None:
    outcome = await sms.send(outgoing(PATIENT, "Reminder: visit 2 of 6 is tomorrow at 9:00 AM."))

    [request] = api.requests
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{api.account_sid}/Messages.json"
    assert (request.username, request.password) == (api.account_sid, api.auth_token)
    assert request.form == {"To": PATIENT, "From": SENDER, "Body": "Reminder: visit 2 of 6 is tomorrow at 9:00 AM."}
    [message] = api.messages
    assert outcome == Sent(message.sid)
    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert message.resource()["status"] == "queued" and message.resource()["num_segments"] == "1"


async def test_whatsapp_addresses_and_sender_are_prefixed(api: FakeTwilioApi) -> None:
    channel = channel_for(api, ChannelName.WHATSAPP)

    first = await channel.send(outgoing(PATIENT))
    second = await channel.send(outgoing(f"whatsapp:{PATIENT}"))
    await channel.aclose()

    assert isinstance(first, Sent) and isinstance(second, Sent)
    assert [(r.form["To"], r.form["From"]) for r in api.requests] == [
        (f"whatsapp:{PATIENT}", f"whatsapp:{SENDER}"),
        (f"whatsapp:{PATIENT}", f"whatsapp:{SENDER}"),
    ]


async def test_the_status_callback_url_is_sent_when_configured(api: FakeTwilioApi) -> None:
    channel = channel_for(api, status_callback_url="https://clinic.example/twilio/status")

    await channel.send(outgoing(PATIENT))
    await channel.aclose()

    assert api.requests[0].form["StatusCallback"] == "https://clinic.example/twilio/status"
    assert api.messages[0].status_callback == "https://clinic.example/twilio/status"


async def test_no_status_callback_field_without_a_url(api: FakeTwilioApi, sms: TwilioChannel) -> None:
    await sms.send(outgoing(PATIENT))

    assert "StatusCallback" not in api.requests[0].form


def test_capabilities_are_class_level_data() -> None:
    assert TwilioChannel.SMS_CAPABILITIES.body is Flavour.SMS
    assert TwilioChannel.SMS_CAPABILITIES.max_length == 1600
    assert TwilioChannel.SMS_CAPABILITIES.discreet is True
    assert TwilioChannel.WHATSAPP_CAPABILITIES.body is Flavour.TEXT
    # Twilio's Messages API caps Body at 1600 characters on WhatsApp too.
    assert TwilioChannel.WHATSAPP_CAPABILITIES.max_length == 1600
    assert TwilioChannel.WHATSAPP_CAPABILITIES.discreet is False
    assert TwilioChannel.CAPABILITIES[ChannelName.SMS] is TwilioChannel.SMS_CAPABILITIES


def test_only_sms_and_whatsapp_are_twilio_channels() -> None:
    with pytest.raises(ValueError, match="not email"):
        TwilioChannel(name=ChannelName.EMAIL, account_sid="AC1", auth_token="t", from_number=SENDER, clock=far_clock())


def test_the_token_may_be_a_secret_and_never_shows() -> None:
    channel = TwilioChannel(
        name=ChannelName.SMS,
        account_sid="AC1",
        auth_token=SecretStr("s3cret-token"),
        from_number=SENDER,
        clock=far_clock(),
    )
    assert "s3cret" not in repr(channel) and SENDER not in repr(channel)
    assert "s3cret" not in repr(vars(channel))


# ---------------------------------------------------------------------------- answers

# (label, how the fake refuses, outcome type, unreachable, opted_out)
REFUSALS = [
    ("21610 unsubscribed", ("to", 21610), Failed, False, True),
    ("21211 invalid number", ("to", 21211), Failed, True, False),
    ("21614 not a mobile number", ("to", 21614), Failed, True, False),
    ("21408 region not enabled", ("to", 21408), Failed, True, False),
    ("63024 not a WhatsApp user", ("to", 63024), Failed, True, False),
    ("63016 outside the WhatsApp window", ("to", 63016), Failed, False, False),
    ("21606 sender not ours", ("next", 400, 21606), Failed, False, False),
    ("404 unknown resource", ("next", 404, 20404), Failed, False, False),
    ("401 bad credentials", ("next", 401, 20003), Failed, False, False),
    ("429 too many requests", ("next", 429, 20429), RetryLater, False, False),
    ("500 internal error", ("next", 500, 20500), RetryLater, False, False),
    ("503 unavailable", ("next", 503, None), RetryLater, False, False),
]


@pytest.mark.parametrize(
    ("refusal", "kind", "unreachable", "opted_out"), [case[1:] for case in REFUSALS], ids=[case[0] for case in REFUSALS]
)
async def test_twilio_answers_map_to_outcomes(
    api: FakeTwilioApi, sms: TwilioChannel, refusal: tuple, kind: type, unreachable: bool, opted_out: bool
) -> None:
    if refusal[0] == "to":
        api.fail_to(PATIENT, refusal[1])
    else:
        api.fail_next(refusal[1], refusal[2])

    outcome = await sms.send(outgoing(PATIENT))

    assert isinstance(outcome, kind), outcome
    if isinstance(outcome, Failed):
        assert (outcome.unreachable, outcome.opted_out) == (unreachable, opted_out)
    for said in (outcome.reason, outcome.detail):
        assert api.auth_token not in said
        assert PATIENT not in said and PATIENT[1:] not in said
    assert api.messages == []


async def test_a_refusal_names_the_twilio_code_and_message(api: FakeTwilioApi, sms: TwilioChannel) -> None:
    api.fail_to(PATIENT, 21211)

    outcome = await sms.send(outgoing(PATIENT))

    assert outcome == Failed(FailureCode.TWILIO_INVALID_NUMBER, unreachable=True)
    assert outcome.reason == "twilio.21211"
    assert outcome.detail == "The 'To' number …01 is not a valid phone number."


async def test_a_short_number_is_masked_too(api: FakeTwilioApi, sms: TwilioChannel) -> None:
    outcome = await sms.send(outgoing("+1555"))

    assert isinstance(outcome, Failed) and outcome.unreachable
    assert "1555" not in outcome.reason and "1555" not in outcome.detail


async def test_wrong_credentials_are_failed_without_the_token(api: FakeTwilioApi) -> None:
    channel = channel_for(api, auth_token="not-the-token")

    outcome = await channel.send(outgoing(PATIENT))
    await channel.aclose()

    assert isinstance(outcome, Failed) and not outcome.unreachable
    assert "credentials" in outcome.reason and "401" in outcome.reason
    assert outcome.code is FailureCode.TWILIO_CREDENTIALS
    assert "not-the-token" not in outcome.reason and "not-the-token" not in outcome.detail


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [
        (429, 30, 30.0),
        (429, None, 0.0),
        (503, 12, 12.0),
        (429, "soon", 0.0),
    ],
    ids=["429 with Retry-After", "429 without", "503 with Retry-After", "unreadable Retry-After"],
)
async def test_retry_after_is_honoured(
    api: FakeTwilioApi, sms: TwilioChannel, status: int, retry_after: int | str | None, expected: float
) -> None:
    api.fail_next(status, retry_after=retry_after)

    outcome = await sms.send(outgoing(PATIENT))

    assert isinstance(outcome, RetryLater)
    assert outcome.after == expected


async def test_retry_after_as_an_http_date_counts_from_the_channels_clock(
    api: FakeTwilioApi, sms: TwilioChannel
) -> None:
    # Measured against the wall clock, a date years ahead would ask for years of waiting.
    api.fail_next(503, retry_after=format_datetime(FAR_FROM_TODAY + timedelta(seconds=120), usegmt=True))

    outcome = await sms.send(outgoing(PATIENT))

    assert isinstance(outcome, RetryLater) and outcome.after == 120.0


async def test_an_http_date_already_past_by_the_channels_clock_asks_for_no_wait(
    api: FakeTwilioApi, sms: TwilioChannel
) -> None:
    api.fail_next(503, retry_after=format_datetime(FAR_FROM_TODAY - timedelta(seconds=5), usegmt=True))

    outcome = await sms.send(outgoing(PATIENT))

    assert isinstance(outcome, RetryLater) and outcome.after == 0.0


async def test_after_a_failure_the_next_send_goes_through(api: FakeTwilioApi, sms: TwilioChannel) -> None:
    api.fail_next(503)

    assert isinstance(await sms.send(outgoing(PATIENT)), RetryLater)
    assert isinstance(await sms.send(outgoing(PATIENT)), Sent)


async def test_twilio_unreachable_is_retry_later(api: FakeTwilioApi, sms: TwilioChannel) -> None:
    await api.stop()

    outcome = await sms.send(outgoing(PATIENT))

    assert outcome == RetryLater(FailureCode.TWILIO_UNAVAILABLE, params=(("error", "ConnectError"),))


def sms_through(client: httpx.AsyncClient) -> TwilioChannel:
    return TwilioChannel(
        name=ChannelName.SMS, account_sid="AC1", auth_token="t", from_number=SENDER, client=client, clock=far_clock()
    )


@pytest.mark.parametrize(
    "error",
    [httpx.ReadTimeout("slow"), httpx.ConnectTimeout("slow"), httpx.RemoteProtocolError("dropped")],
    ids=["read timeout", "connect timeout", "dropped connection"],
)
async def test_transport_errors_are_retry_later(error: httpx.TransportError) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    async with httpx.AsyncClient(transport=httpx.MockTransport(fail)) as client:
        outcome = await sms_through(client).send(outgoing(PATIENT))

    assert isinstance(outcome, RetryLater)


async def test_a_proxy_error_page_is_retry_later() -> None:
    def gateway(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>Bad Gateway</html>", headers={"Content-Type": "text/html"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(gateway)) as client:
        outcome = await sms_through(client).send(outgoing(PATIENT))

    assert outcome == RetryLater(FailureCode.TWILIO_HTTP, params=(("status", "502"),))


async def test_a_given_client_is_left_open_and_an_own_client_is_closed(api: FakeTwilioApi) -> None:
    async with httpx.AsyncClient() as client:
        borrowed = channel_for(api, client=client)
        await borrowed.aclose()
        assert not client.is_closed
        assert isinstance(await borrowed.send(outgoing(PATIENT)), Sent)

    owned = channel_for(api)
    await owned.aclose()
    assert owned._client.is_closed


# ---------------------------------------------------------------------------- webhooks


async def test_status_callbacks_arrive_signed(api: FakeTwilioApi, webhooks: Webhooks) -> None:
    url = webhooks.url("/twilio/status?channel=sms")
    channel = channel_for(api, status_callback_url=url)
    outcome = await channel.send(outgoing(PATIENT))
    await channel.aclose()
    assert isinstance(outcome, Sent) and outcome.provider_id

    reply = await api.send_status_callback(outcome.provider_id, "delivered")

    assert reply.status == 204
    [(path, form, valid)] = webhooks.received
    assert valid and path == "/twilio/status"
    assert form["MessageSid"] == outcome.provider_id
    assert form["MessageStatus"] == "delivered"
    assert (form["To"], form["From"], form["AccountSid"]) == (PATIENT, SENDER, api.account_sid)
    assert "ErrorCode" not in form


async def test_an_undelivered_callback_carries_the_error_code(api: FakeTwilioApi, webhooks: Webhooks) -> None:
    channel = channel_for(api, status_callback_url=webhooks.url("/twilio/status"))
    outcome = await channel.send(outgoing(PATIENT))
    await channel.aclose()
    assert isinstance(outcome, Sent) and outcome.provider_id

    await api.send_status_callback(outcome.provider_id, "undelivered", error_code=30006)

    [(_, form, valid)] = webhooks.received
    assert valid and form["ErrorCode"] == "30006"
    assert twilio_failure(int(form["ErrorCode"]), "Landline or unreachable carrier").unreachable


async def test_inbound_messages_arrive_signed(api: FakeTwilioApi, webhooks: Webhooks) -> None:
    reply = await api.send_inbound(webhooks.url("/twilio/inbound"), PATIENT, "STOP", to=SENDER)

    assert reply.status == 200 and reply.content_type == "application/xml"
    [(_, form, valid)] = webhooks.received
    assert valid
    assert {k: form[k] for k in ("From", "To", "Body", "NumMedia")} == {
        "From": PATIENT,
        "To": SENDER,
        "Body": "STOP",
        "NumMedia": "0",
    }
    assert form["MessageSid"].startswith("SM") and form["AccountSid"] == api.account_sid


async def test_a_forged_inbound_message_is_refused(api: FakeTwilioApi, webhooks: Webhooks) -> None:
    reply = await api.send_inbound(webhooks.url("/twilio/inbound"), PATIENT, "STOP", to=SENDER, bad_signature=True)

    assert reply.status == 403
    [(_, _, valid)] = webhooks.received
    assert not valid


# ---------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("code", "reason", "unreachable", "opted_out"),
    [
        pytest.param(21610, "twilio.21610", False, True, id="21610 STOP"),
        pytest.param(21211, "twilio.21211", True, False, id="21211 invalid number"),
        pytest.param(21614, "twilio.21614", True, False, id="21614 not mobile"),
        pytest.param(21408, "twilio.21408", True, False, id="21408 region"),
        pytest.param(63024, "twilio.63024", True, False, id="63024 not on WhatsApp"),
        pytest.param(30005, "twilio.30005", True, False, id="30005 unknown handset"),
        pytest.param(30006, "twilio.30006", True, False, id="30006 landline"),
        pytest.param(30003, "twilio.30003", False, False, id="30003 undelivered"),
        pytest.param(30008, "twilio.error code=30008", False, False, id="a code without its own"),
        pytest.param(None, "twilio.http status=400", False, False, id="no code"),
    ],
)
def test_twilio_failure_table(code: int | None, reason: str, unreachable: bool, opted_out: bool) -> None:
    failure = twilio_failure(code, "Message to +15551230001 failed", status=400)

    assert (failure.reason, failure.unreachable, failure.opted_out) == (reason, unreachable, opted_out)
    assert "+15551230001" not in failure.detail and "…01" in failure.detail


def test_mask_number() -> None:
    assert mask_number("+1 (555) 123-0042") == "…42"
    assert mask_number("whatsapp:+15551230042") == "…42"
    assert mask_number("") == "…"
