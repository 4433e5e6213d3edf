"""Updates received by webhook survive a crash: stored before Telegram is answered, handled once, taken over.

Everything runs through the web app over HTTP and the real bot against the loopback Bot API server.
A process that died is a ``worker`` row whose heartbeat expired, holding the updates it had stored.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import text

from messenger.app import App, build_app
from messenger.bot.journal import MAX_ATTEMPTS, UpdateJournal
from messenger.db import transaction
from messenger.domain.bookkeeping import ReceivedUpdate, Worker
from messenger.migrations import upgrade
from tests.bot.conftest import OWNER, post_update, webhook_settings
from tests.inbound.support import WAIT, hold_alarm

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


async def test_a_handled_update_is_recognised_for_a_day_then_forgotten(webhook_app, bot_api, clock):
    update = bot_api.user_sends(OWNER, "/stats")
    await post_update(webhook_app, update)
    await bot_api.wait_for_message(OWNER, contains=STATS, timeout=WAIT)
    await _journal(webhook_app).wait_idle()

    clock.advance(timedelta(hours=23))
    await _journal(webhook_app).take_over()
    kept = await _row(webhook_app, update["update_id"])
    await post_update(webhook_app, update)
    await _answered_after(webhook_app, bot_api)
    clock.advance(timedelta(hours=2))
    await _journal(webhook_app).take_over()

    assert kept is not None and kept.payload is None
    assert _answers(bot_api, STATS) == 1
    assert await _row(webhook_app, update["update_id"]) is None


async def _dead_process_left(app: App, updates: list[dict], *, attempts: int = 1, beat_ago: float = 60) -> None:
    """Rows stored by a process that then stopped beating ``beat_ago`` seconds ago."""
    now = app.clock.now()
    name = f"process-{beat_ago:.0f}s"
    async with transaction(app.sessions) as session:
        session.add(Worker(name=name, started_at=now - timedelta(hours=1), beat_at=now - timedelta(seconds=beat_ago)))
        for update in updates:
            session.add(
                ReceivedUpdate(
                    update_id=update["update_id"],
                    payload=update,
                    chat_id=OWNER,
                    received_at=now - timedelta(seconds=beat_ago),
                    held_by=name,
                    attempts=attempts,
                )
            )


async def test_updates_a_dead_process_stored_are_handled_once_at_start_up_oldest_first(bot_api, database_url, clock):
    stats, help_ = bot_api.user_sends(OWNER, "/stats"), bot_api.user_sends(OWNER, "/help")
    settings = webhook_settings(bot_api, database_url)
    await upgrade(settings.database_url)
    app = build_app(settings, clock=clock, serve_http=True)
    # Stored newest first: the order of handling comes from Telegram's ids.
    await _dead_process_left(app, [help_, stats])
    await app.start()
    try:
        await hold_alarm(app)
        await bot_api.wait_for(lambda api: _answers(api, HELP) == 1, timeout=WAIT)
        await _journal(app).wait_idle()
        rows = [await _row(app, update["update_id"]) for update in (stats, help_)]
        taken_again = await _journal(app).take_over()  # the sweep after start-up
        resent = await post_update(app, stats)  # Telegram never saw the dead process's 200
        await _answered_after(app, bot_api)
    finally:
        await app.stop()

    texts = [m.get("text") or "" for m in bot_api.sent_messages(OWNER)]
    first = {label: next(i for i, t in enumerate(texts) if label in t) for label in (STATS, HELP)}
    assert first[STATS] < first[HELP], "the older update is answered first"
    assert _answers(bot_api, STATS) == 1
    assert all(r is not None and r.handled_at is not None and r.held_by == app.heartbeat.name for r in rows)
    assert taken_again == 0 and resent.status_code == 200


async def test_a_live_process_keeps_its_updates_and_the_sweep_takes_them_once_it_stops_beating(
    webhook_app, bot_api, clock
):
    update = bot_api.user_sends(OWNER, "/stats")
    await _dead_process_left(webhook_app, [update], beat_ago=0)  # beating now: alive, still handling it

    while_alive = await _journal(webhook_app).take_over()
    clock.advance(webhook_app.heartbeat.ttl + timedelta(seconds=1))
    after_ttl = await _journal(webhook_app).take_over()
    await bot_api.wait_for_message(OWNER, contains=STATS, timeout=WAIT)
    await _answered_after(webhook_app, bot_api)
    row = await _row(webhook_app, update["update_id"])

    assert (while_alive, after_ttl) == (0, 1)
    assert _answers(bot_api, STATS) == 1
    assert row is not None and row.handled_at is not None and row.attempts == 2


async def test_an_update_that_every_process_died_handling_is_given_up(webhook_app, bot_api, caplog):
    update = bot_api.user_sends(OWNER, "/stats")
    await _dead_process_left(webhook_app, [update], attempts=MAX_ATTEMPTS)

    with caplog.at_level(logging.WARNING, logger="messenger.bot.journal"):
        taken = await _journal(webhook_app).take_over()
    await _answered_after(webhook_app, bot_api)
    row = await _row(webhook_app, update["update_id"])

    assert taken == 0 and _answers(bot_api, STATS) == 0
    assert row is not None and row.handled_at is not None and row.payload is None
    assert f"gave up Telegram update {update['update_id']}" in caplog.text


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
