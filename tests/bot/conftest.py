"""The real application, its bot pointed at a Bot API server on loopback."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from messenger.app import App, build_app
from messenger.clock import ManualClock
from messenger.config import Settings
from tests.fakes.bot_api import FakeBotApi
from tests.inbound.support import WAIT, free_port, running_app

OWNER = 1001
STAFF = 1002
PATIENT = 5005
STRANGER = 6006
WEBHOOK_SECRET = "webhook-secret-0123456789_abcdef"
_LINK = re.compile(r"https://t\.me/clinic_test_bot\?start=([A-Za-z0-9_-]+)")


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as api:
        yield api


def bot_settings(api: FakeBotApi, database_url: str, **extra: object) -> Settings:
    values: dict[str, object] = {"owner_ids": [OWNER]} | extra
    return Settings(
        _env_file=None,
        database_url=database_url,
        telegram_token=api.token,  # type: ignore[call-arg]
        telegram_base_url=api.base_url,
        **values,  # type: ignore[arg-type]
    )


def webhook_settings(api: FakeBotApi, database_url: str) -> Settings:
    """Settings for a bot that receives updates by webhook on its own web app (a free loopback port)."""
    port = free_port()
    return bot_settings(
        api,
        database_url,
        telegram_updates="webhook",
        telegram_webhook_secret=WEBHOOK_SECRET,
        public_url=f"http://127.0.0.1:{port}",
        http_port=port,
    )


@pytest.fixture
async def webhook_app(bot_api: FakeBotApi, database_url: str, clock: ManualClock) -> AsyncIterator[App]:
    async with running_app(webhook_settings(bot_api, database_url), clock) as app:
        yield app


async def post_update(app: App, update: dict, secret: str | None = WEBHOOK_SECRET) -> httpx.Response:
    """POST ``update`` to the app's Telegram webhook as Telegram does (with ``secret``, unless None)."""
    assert app.web is not None
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    async with httpx.AsyncClient(timeout=WAIT) as http:
        return await http.post(f"{app.web.url}/telegram/webhook", json=update, headers=headers)


@pytest.fixture
async def bot_app(bot_api: FakeBotApi, database_url: str, clock: ManualClock) -> AsyncIterator[App]:
    app = build_app(bot_settings(bot_api, database_url), clock=clock)
    await app.start()
    # With a manual clock the tests run the dispatcher themselves; the alarm would race them.
    app.alarm.scheduler.pause()
    try:
        yield app
    finally:
        await app.stop()


async def say(api: FakeBotApi, user_id: int, text: str, *, expect: str | None = None) -> dict:
    """A user sends ``text``; returns the bot's next message to them (containing ``expect``)."""
    before = len(api.sent_messages(user_id))
    api.user_sends(user_id, text)
    await api.wait_for(
        lambda a: (
            len(a.sent_messages(user_id)) > before
            and (expect is None or any(expect in (m.get("text") or "") for m in a.sent_messages(user_id)[before:]))
        )
    )
    replies = api.sent_messages(user_id)[before:]
    return next(m for m in replies if expect is None or expect in (m.get("text") or ""))


def invite_code(text: str) -> str:
    match = _LINK.search(text)
    assert match, f"no invite link in {text!r}"
    return match.group(1)


async def press(api: FakeBotApi, user_id: int, message: dict, label: str) -> None:
    """Press the button labelled ``label`` on ``message`` and wait for the bot to answer the press.

    The button is looked for on the message as it is now: after an earlier press the bot may still be
    editing it to show the next question's buttons, so this waits for the label to be there."""

    def current(api: FakeBotApi) -> dict:
        chat = api.sent_messages(message["chat"]["id"])
        return next((m for m in chat if m["message_id"] == message["message_id"]), message)

    await api.wait_for(lambda a: label in buttons(current(a)))
    rows = current(api)["reply_markup"]["inline_keyboard"]
    data = next(b["callback_data"] for row in rows for b in row if b["text"] == label)
    answered = len(api.calls_to("answerCallbackQuery"))
    api.user_presses(user_id, data, message_id=message["message_id"])
    await api.wait_for(lambda a: len(a.calls_to("answerCallbackQuery")) > answered)


def buttons(message: dict) -> list[str]:
    markup = message.get("reply_markup") or {}
    return [b["text"] for row in markup.get("inline_keyboard", []) for b in row]
