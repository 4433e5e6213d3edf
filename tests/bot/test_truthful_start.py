"""A second /start with the same invite from the chat it linked is not a wrong code."""

from __future__ import annotations

from tests.bot.conftest import OWNER, PATIENT, invite_code, say

ENROL = '/enroll name="Jane Doe" first="2026-12-02 10:00" tz=America/Los_Angeles'


async def test_a_retried_start_from_the_linked_chat_shows_the_schedule(bot_app, bot_api):
    code = invite_code((await say(bot_api, OWNER, ENROL, expect="Enrolled"))["text"])
    await say(bot_api, PATIENT, f"/start {code}", expect="Your infusions")

    again = await say(bot_api, PATIENT, f"/start {code}", expect="Your infusions")
    stranger = await say(bot_api, 7009, f"/start {code}")

    assert "does not work" not in again["text"]
    assert "does not work" in stranger["text"]
