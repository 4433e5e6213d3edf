"""One pause for every sender of the bot: a 429 on a command reply holds the dispatcher, and vice versa.

The real application (python-telegram-bot polling the loopback Bot API), its pacer on a
manual clock that moves only to the next wake-up and never past :attr:`TimeDriver.hold`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from messenger.app import App, build_app
from messenger.clock import ManualClock
from messenger.domain.enums import ChannelName
from messenger.pacing.pacer import Pacer
from tests.bot.conftest import STRANGER, bot_settings
from tests.factories import enrol_patient
from tests.fakes.bot_api import FakeBotApi
from tests.pacing.support import TimeDriver, driven

PACE_T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PATIENT_CHAT = "5005"


@pytest.fixture
def pace() -> ManualClock:
    return ManualClock(PACE_T0)


@pytest.fixture
async def running(
    database_url: str, clock: ManualClock, pace: ManualClock
) -> AsyncIterator[tuple[App, FakeBotApi, TimeDriver]]:
    async with FakeBotApi() as api, driven(pace) as driver:
        driver.hold = PACE_T0 + timedelta(seconds=1)  # start-up takes a handful of slots
        app = build_app(bot_settings(api, database_url), clock=clock, pacing_clock=pace)
        await app.start()
        app.alarm.scheduler.pause()  # the test runs the dispatcher itself
        try:
            yield app, api, driver
        finally:
            driver.release()
            await app.stop()


def pacer_of(app: App) -> Pacer:
    pacer = app.channels[ChannelName.TELEGRAM].pacer  # type: ignore[attr-defined]
    assert isinstance(pacer, Pacer)
    return pacer


async def waiting_until(clock: ManualClock, instant: datetime) -> None:
    """Return once some task waits on ``clock`` for ``instant`` (progress, not time)."""
    while instant not in clock.wake_times():
        await clock.wait_for_sleeper()


def pause_heard(pacer: Pacer) -> asyncio.Event:
    """Set once the pacer is paused (the client has read the 429, not just the server sent it)."""
    heard = asyncio.Event()
    pacer.on_pause(lambda _until: heard.set())
    return heard


def sends_to(api: FakeBotApi, chat: int) -> list[str]:
    return [
        c.params["text"] for c in api.calls_to("sendMessage") if c.params.get("chat_id") == chat and c.status == 200
    ]


async def test_a_429_on_a_command_reply_holds_the_dispatcher(
    running: tuple[App, FakeBotApi, TimeDriver], pace: ManualClock
) -> None:
    app, api, driver = running
    await enrol_patient(app, contacts=[(ChannelName.TELEGRAM, PATIENT_CHAT)])
    heard = pause_heard(pacer_of(app))
    api.fail_next("sendMessage", status=429, retry_after=7)
    api.user_sends(STRANGER, "/help")
    await heard.wait()
    until = pacer_of(app).paused_until()
    assert until is not None and until - pace.now() == timedelta(seconds=7)

    dispatch = asyncio.create_task(app.dispatcher.run_due())
    await waiting_until(pace, until)
    assert sends_to(api, int(PATIENT_CHAT)) == [], "nothing reaches Telegram inside the pause"
    driver.release()
    report = await dispatch

    assert report.counts["sent"] >= 1
    assert sends_to(api, int(PATIENT_CHAT)), "the welcome went out once the pause ended"
    assert pace.now() >= until


async def test_a_429_on_a_dispatcher_send_holds_command_replies(
    running: tuple[App, FakeBotApi, TimeDriver], pace: ManualClock
) -> None:
    app, api, driver = running
    await enrol_patient(app, contacts=[(ChannelName.TELEGRAM, PATIENT_CHAT)])
    api.fail_next("sendMessage", status=429, retry_after=9)
    report = await app.dispatcher.run_due()
    until = pacer_of(app).paused_until()
    assert report.counts["pending"] >= 1 and until is not None
    assert until - pace.now() == timedelta(seconds=9)

    api.user_sends(STRANGER, "/help")
    await waiting_until(pace, until)
    assert sends_to(api, STRANGER) == [], "the reply waits for the pause like every other request"
    driver.release()
    reply = await api.wait_for_message(STRANGER)

    assert reply["text"]
    assert pace.now() >= until
