"""The contract every channel keeps, checked against each implementation and its provider stand-in."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from rich.console import Console

from messenger.channels.base import Channel, Failed, RetryLater, Sent
from messenger.channels.console import ConsoleChannel
from messenger.channels.email import EmailChannel
from messenger.channels.twilio import TwilioChannel
from messenger.content import Flavour
from messenger.domain.enums import ChannelName
from tests.channels.support import far_clock, outgoing
from tests.fakes.smtp import FakeSmtpServer
from tests.fakes.twilio_api import FakeTwilioApi


@dataclass
class Harness:
    channel: Channel
    address: str
    subject: str | None
    delivered: Callable[[], int]
    discreet: bool
    # What a provider outage / a dead address look like; None where there is no provider.
    outage: Callable[[], Awaitable[None]] | None = None
    dead_address: str | None = None

    def outgoing(self, address: str | None = None):  # type: ignore[no-untyped-def]
        return outgoing(
            address or self.address,
            subject=self.subject,
            html="<p>Your visit is tomorrow.</p>" if self.subject else None,
        )


@asynccontextmanager
async def console() -> AsyncIterator[Harness]:
    channel = ConsoleChannel(Console(file=io.StringIO(), width=80))
    yield Harness(channel, "Jane Doe", None, lambda: len(channel.delivered), discreet=False)


def twilio(name: ChannelName):  # type: ignore[no-untyped-def]
    @asynccontextmanager
    async def build() -> AsyncIterator[Harness]:
        async with FakeTwilioApi() as api:
            channel = TwilioChannel(
                name=name,
                account_sid=api.account_sid,
                auth_token=api.auth_token,
                from_number="+15005550006",
                base_url=api.base_url,
                clock=far_clock(),
            )
            api.fail_to("+15005550001", 21211 if name is ChannelName.SMS else 63024)
            try:
                yield Harness(
                    channel,
                    "+15551230001",
                    None,
                    lambda: len(api.messages),
                    discreet=name is ChannelName.SMS,
                    outage=api.stop,
                    dead_address="+15005550001",
                )
            finally:
                await channel.aclose()

    return build


@asynccontextmanager
async def email() -> AsyncIterator[Harness]:
    async with FakeSmtpServer() as smtp:
        channel = EmailChannel(
            host=smtp.host, port=smtp.port, from_address="care@clinic.example", timeout=5, clock=far_clock()
        )
        smtp.refuse("nobody@example.org")

        async def outage() -> None:
            await asyncio.to_thread(smtp.stop)

        yield Harness(
            channel,
            "jane@example.org",
            "Your appointment tomorrow",
            lambda: len(smtp.received),
            discreet=True,
            outage=outage,
            dead_address="nobody@example.org",
        )


HARNESSES = {
    "console": console,
    "twilio-sms": twilio(ChannelName.SMS),
    "twilio-whatsapp": twilio(ChannelName.WHATSAPP),
    "email": email,
}


@pytest.fixture(params=list(HARNESSES), ids=list(HARNESSES))
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    async with HARNESSES[request.param]() as built:
        yield built


async def test_a_send_returns_sent_with_a_provider_id(harness: Harness) -> None:
    outcome = await harness.channel.send(harness.outgoing())

    assert isinstance(outcome, Sent)
    assert isinstance(outcome.provider_id, str) and outcome.provider_id
    assert harness.delivered() == 1


async def test_each_send_gets_its_own_provider_id(harness: Harness) -> None:
    first = await harness.channel.send(harness.outgoing())
    second = await harness.channel.send(harness.outgoing())

    assert isinstance(first, Sent) and isinstance(second, Sent)
    assert first.provider_id != second.provider_id


async def test_a_provider_outage_is_retry_later_not_an_exception(harness: Harness) -> None:
    if harness.outage is None:
        pytest.skip("this channel has no provider to lose")
    await harness.outage()

    outcome = await harness.channel.send(harness.outgoing())

    assert isinstance(outcome, RetryLater)
    assert outcome.reason


async def test_a_dead_address_is_failed_unreachable(harness: Harness) -> None:
    if harness.dead_address is None:
        pytest.skip("this channel has no addresses that can die")

    outcome = await harness.channel.send(harness.outgoing(harness.dead_address))

    assert isinstance(outcome, Failed)
    assert outcome.unreachable and not outcome.opted_out
    assert harness.dead_address not in outcome.reason and harness.dead_address not in outcome.detail
    assert harness.delivered() == 0


async def test_a_malformed_address_is_an_outcome_not_an_exception(harness: Harness) -> None:
    outcome = await harness.channel.send(harness.outgoing("not an address"))

    assert isinstance(outcome, Sent | RetryLater | Failed)


def test_capabilities_are_declared(harness: Harness) -> None:
    capabilities = harness.channel.capabilities

    assert isinstance(harness.channel.name, ChannelName)
    assert isinstance(capabilities.body, Flavour)
    assert capabilities.max_length > 0
    assert capabilities.discreet is harness.discreet
    if capabilities.subject is not None:
        assert harness.subject is not None, "a channel with subjects needs one in every message"
