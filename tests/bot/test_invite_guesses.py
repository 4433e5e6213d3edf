"""Invite-code guessing is throttled in the database: per user, across users, and across a restart."""

from __future__ import annotations

from datetime import timedelta

from messenger.app import build_app
from messenger.bot.context import BotDeps
from messenger.services.guesses import GuessLimits
from tests.bot.conftest import OWNER, bot_settings, invite_code, say

ENROL = '/enroll name="Jane Doe" first="2026-12-02 10:00" tz=America/Los_Angeles'
REFUSED = "does not work"
THROTTLED = "Too many attempts"


def _limits(app, **values: object) -> None:
    assert app.telegram is not None
    deps: BotDeps = app.telegram.deps
    deps.guess_limits = GuessLimits(**values)  # type: ignore[arg-type]


async def test_a_user_who_guesses_too_often_is_held_even_with_the_right_code(bot_app, bot_api, clock):
    code = invite_code((await say(bot_api, OWNER, ENROL, expect="Enrolled"))["text"])
    guesser = 7001
    answers = [(await say(bot_api, guesser, f"/start wrong-{n}"))["text"] for n in range(5)]

    held = await say(bot_api, guesser, f"/start {code}")
    clock.advance(timedelta(minutes=16))
    welcomed = await say(bot_api, guesser, f"/start {code}")

    assert all(REFUSED in text for text in answers)
    assert THROTTLED in held["text"]
    assert THROTTLED not in welcomed["text"] and REFUSED not in welcomed["text"]


async def test_many_accounts_share_the_overall_limit(bot_app, bot_api):
    _limits(bot_app, per_user=5, overall=6)
    for user in range(7101, 7107):
        await say(bot_api, user, "/start wrong", expect=REFUSED)

    fresh = await say(bot_api, 7200, "/start wrong")

    assert THROTTLED in fresh["text"]


async def test_a_restart_forgets_no_guess(bot_api, database_url, clock):
    settings = bot_settings(bot_api, database_url)
    first = build_app(settings, clock=clock)
    await first.start()
    first.alarm.scheduler.pause()
    try:
        for n in range(5):
            await say(bot_api, 7301, f"/start wrong-{n}", expect=REFUSED)
    finally:
        await first.stop()
    second = build_app(settings, clock=clock)
    await second.start()
    second.alarm.scheduler.pause()
    try:
        after = await say(bot_api, 7301, "/start wrong-again")
    finally:
        await second.stop()

    assert THROTTLED in after["text"]
