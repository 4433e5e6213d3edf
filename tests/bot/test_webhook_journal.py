"""Updates received by webhook are stored before Telegram is answered, and handled once.

Everything runs through the web app over HTTP and the real bot against the loopback Bot API server.
"""

from __future__ import annotations

import logging

from sqlalchemy import text

from messenger.app import App
from messenger.bot.journal import UpdateJournal
from messenger.domain.bookkeeping import ReceivedUpdate
from tests.bot.conftest import OWNER, post_update
from tests.inbound.support import WAIT

STATS = "Patients by status"
HELP = "Staff commands"


def _journal(app: App) -> UpdateJournal:
    assert app.telegram is not None and app.telegram.journal is not None
    return app.telegram.journal


async def _row(app: App, update_id: int) -> ReceivedUpdate | None:
    async with app.sessions() as session:
        return await session.get(ReceivedUpdate, update_id)


def _answers(bot_api, contains: str) -> int:
    return sum(contains in (m.get("text") or "") for m in bot_api.sent_messages(OWNER))


async def _answered_after(app: App, bot_api) -> None:
    """Send ``/help`` by webhook and wait for its answer: what came before it has been handled by then."""
    await post_update(app, bot_api.user_sends(OWNER, "/help"))
    before = _answers(bot_api, HELP)
    await bot_api.wait_for(lambda api: _answers(api, HELP) > before, timeout=WAIT)
    await _journal(app).wait_idle()


async def test_an_update_is_stored_before_the_answer_and_marked_handled_after(webhook_app, bot_api, clock):
    reply = bot_api.hold("sendMessage")  # the bot is still handling the update when its row is read
    update = bot_api.user_sends(OWNER, "/stats")

    response = await post_update(webhook_app, update)
    await bot_api.wait_for(lambda api: bool(api.calls_to("sendMessage")), timeout=WAIT)
    while_handled = await _row(webhook_app, update["update_id"])
    reply.set()
    await bot_api.wait_for_message(OWNER, contains=STATS, timeout=WAIT)
    await _journal(webhook_app).wait_idle()
    after = await _row(webhook_app, update["update_id"])

    assert response.status_code == 200
    assert while_handled is not None
    assert while_handled.payload == update and while_handled.handled_at is None
    assert (while_handled.held_by, while_handled.chat_id) == (webhook_app.heartbeat.name, OWNER)
    assert after is not None
    assert after.handled_at == clock.now()
    assert (after.payload, after.chat_id) == (None, None), "a handled update keeps neither its text nor its chat"


async def test_an_update_sent_again_is_handled_once(webhook_app, bot_api):
    update = bot_api.user_sends(OWNER, "/stats")
    reply = bot_api.hold("sendMessage")

    first = await post_update(webhook_app, update)
    while_handled = await post_update(webhook_app, update)
    reply.set()
    await _journal(webhook_app).wait_idle()
    once_handled = await post_update(webhook_app, update)
    await _answered_after(webhook_app, bot_api)

    assert [first.status_code, while_handled.status_code, once_handled.status_code] == [200, 200, 200]
    assert _answers(bot_api, STATS) == 1


async def test_an_update_that_cannot_be_stored_is_a_500_and_handled_when_sent_again(webhook_app, bot_api, caplog):
    update = bot_api.user_sends(OWNER, "/stats")
    async with webhook_app.engine.begin() as connection:
        await connection.execute(text("DROP TABLE telegram_update"))

    with caplog.at_level(logging.ERROR, logger="messenger.web.telegram_webhook"):
        failed = await post_update(webhook_app, update)
    async with webhook_app.engine.begin() as connection:
        await connection.run_sync(ReceivedUpdate.__table__.create)  # type: ignore[attr-defined]
    again = await post_update(webhook_app, update)
    await bot_api.wait_for_message(OWNER, contains=STATS, timeout=WAIT)
    await _answered_after(webhook_app, bot_api)

    assert (failed.status_code, again.status_code) == (500, 200)
    assert _answers(bot_api, STATS) == 1
    assert f"could not store Telegram update {update['update_id']}" in caplog.text
    assert "/stats" not in caplog.text, "the log names the update, never what it says"
