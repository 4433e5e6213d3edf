"""Telegram webhook mode: updates arrive on the web app, verified by the secret token; nothing is polled."""

from __future__ import annotations

import httpx
import pytest

from tests.bot.conftest import OWNER, WEBHOOK_SECRET, bot_settings, post_update
from tests.inbound.support import WAIT


async def test_the_webhook_is_registered_with_its_secret_and_nothing_polls(webhook_app, bot_api):
    [call] = bot_api.calls_to("setWebhook")

    assert call.params["url"] == f"{webhook_app.settings.public_url}/telegram/webhook"
    assert call.params["secret_token"] == WEBHOOK_SECRET
    assert not bot_api.calls_to("getUpdates")


async def test_an_update_with_the_secret_is_answered(webhook_app, bot_api):
    update = bot_api.user_sends(OWNER, "/stats")

    response = await post_update(webhook_app, update)
    answer = await bot_api.wait_for_message(OWNER, contains="Patients by status", timeout=WAIT)

    assert response.status_code == 200
    assert "Patients by status" in answer["text"]


@pytest.mark.parametrize("secret", [None, "wrong-secret-0123456789abcdef"], ids=["missing", "wrong"])
async def test_an_update_without_the_secret_is_refused_and_not_handled(webhook_app, bot_api, secret):
    update = bot_api.user_sends(OWNER, "/stats")

    response = await post_update(webhook_app, update, secret)
    # A signed update sent after it is answered, so the refused one would have been answered by now.
    await post_update(webhook_app, bot_api.user_sends(OWNER, "/help"))
    await bot_api.wait_for_message(OWNER, contains="Staff commands", timeout=WAIT)

    assert response.status_code == 403
    assert not any("Patients by status" in (m.get("text") or "") for m in bot_api.sent_messages(OWNER))


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param(b"not json", 400, id="not-json"),
        pytest.param(b"[1, 2]", 400, id="not-an-object"),
        # The id keys the stored update: one that is no 64-bit integer could not be stored.
        pytest.param(b'{"update_id": "7"}', 400, id="id-not-a-number"),
        pytest.param(b'{"update_id": 9223372036854775808}', 400, id="id-too-large"),
    ],
)
async def test_a_malformed_update_is_a_400(webhook_app, body, status):
    async with httpx.AsyncClient(timeout=WAIT) as http:
        response = await http.post(
            f"{webhook_app.web.url}/telegram/webhook",
            content=body,
            headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET, "Content-Type": "application/json"},
        )

    assert response.status_code == status


def test_webhook_mode_needs_a_public_url_and_a_secret(bot_api, database_url):
    with pytest.raises(ValueError, match="MESSENGER_TELEGRAM_WEBHOOK_SECRET"):
        bot_settings(bot_api, database_url, telegram_updates="webhook")
