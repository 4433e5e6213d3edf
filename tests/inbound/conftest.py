"""The providers' stand-ins on loopback: Twilio's API, an SMTP server, Telegram's Bot API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.bot_api import FakeBotApi
from tests.fakes.smtp import FakeSmtpServer
from tests.fakes.twilio_api import FakeTwilioApi
from tests.inbound.support import SMS_FROM, WHATSAPP_FROM


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilioApi]:
    async with FakeTwilioApi(from_numbers={SMS_FROM, f"whatsapp:{WHATSAPP_FROM}"}) as api:
        yield api


@pytest.fixture
async def smtp() -> AsyncIterator[FakeSmtpServer]:
    async with FakeSmtpServer() as server:
        yield server


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as api:
        yield api
