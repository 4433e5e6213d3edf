"""The whole application with its web app on a loopback port and its bot on the fake Bot API server."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from messenger.app import App, build_app
from messenger.clock import ManualClock
from tests.bot.conftest import OWNER, PATIENT, bot_settings, invite_code, say
from tests.fakes.bot_api import FakeBotApi
from tests.inbound.support import free_port, hold_alarm

_LOGIN = re.compile(r"(http://127\.0\.0\.1:\d+/dashboard/login/[A-Za-z0-9_-]+)")
CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
ENROL = '/enroll name="{name}" first="2026-12-02 10:00" tz=America/Los_Angeles phone=+15551230000'


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as api:
        yield api


@asynccontextmanager
async def dashboard_app(api: FakeBotApi, database_url: str, clock: ManualClock, **extra: object) -> AsyncIterator[App]:
    """The app serving its web pages on a free loopback port, its alarm held: tests run the dispatcher."""
    port = free_port()
    settings = bot_settings(api, database_url, public_url=f"http://127.0.0.1:{port}", http_port=port, **extra)
    app = build_app(settings, clock=clock, serve_http=True)
    await app.start()
    await hold_alarm(app)
    try:
        yield app
    finally:
        await app.stop()


@pytest.fixture
async def web_app(bot_api: FakeBotApi, database_url: str, clock: ManualClock) -> AsyncIterator[App]:
    async with dashboard_app(bot_api, database_url, clock) as app:
        yield app


class Desk:
    """A signed-in browser without a browser: GETs and POSTs with the session's CSRF token."""

    def __init__(self, http: httpx.AsyncClient, base: str, csrf: str) -> None:
        self.http, self.base, self.csrf = http, base, csrf

    async def get(self, path: str, **params: str) -> httpx.Response:
        return await self.http.get(self.base + path, params=params)

    async def post(self, path: str, **form: str) -> httpx.Response:
        return await self.http.post(self.base + path, data={"csrf": self.csrf, **form})


async def sign_in(http: httpx.AsyncClient, link: str) -> Desk:
    base = link.split("/dashboard/", 1)[0]
    assert (await http.get(link)).status_code == 303
    page = await http.get(base + "/dashboard/inbox")
    match = CSRF.search(page.text)
    assert match, page.text
    return Desk(http, base, match.group(1))


async def login_link(api: FakeBotApi, user: int = OWNER) -> str:
    """The one-time link the bot gives a staff member who sends /dashboard."""
    answer = await say(api, user, "/dashboard", expect="/dashboard/login/")
    match = _LOGIN.search(answer["text"])
    assert match, answer["text"]
    return match.group(1)


async def enrol_linked_patient(api: FakeBotApi, name: str = "Pat Doe", user: int = PATIENT) -> None:
    """Enrol a patient through the bot and link their Telegram chat with the invite."""
    code = invite_code((await say(api, OWNER, ENROL.format(name=name), expect="Enrolled"))["text"])
    await say(api, user, f"/start {code}", expect="Your infusions")
