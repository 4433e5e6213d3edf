"""/start with an invite when Telegram fails: the welcome is never stranded, and a retry is not a wrong code."""

from __future__ import annotations

from sqlmodel import select

from messenger.domain.enums import MessageStatus, StepKind
from messenger.domain.models import Message
from tests.bot.conftest import OWNER, PATIENT, invite_code, say

ENROL = '/enroll name="Jane Doe" first="2026-12-02 10:00" tz=America/Los_Angeles'


async def _welcome(app) -> Message:
    async with app.sessions() as session:
        return (await session.exec(select(Message).where(Message.kind == StepKind.WELCOME))).one()


async def test_a_welcome_that_meets_one_server_error_is_retried(bot_app, bot_api):
    code = invite_code((await say(bot_api, OWNER, ENROL, expect="Enrolled"))["text"])
    bot_api.fail_next("sendMessage", status=500, description="Internal Server Error")

    welcome = await say(bot_api, PATIENT, f"/start {code}", expect="Your infusions")
    await bot_api.wait_for_message(OWNER, contains="connected on Telegram")  # sent once the welcome is recorded

    assert "Jane" in welcome["text"]
    assert (await _welcome(bot_app)).status is MessageStatus.SENT


async def test_a_refused_welcome_goes_back_to_the_outbox_and_a_second_start_is_not_a_wrong_code(bot_app, bot_api):
    code = invite_code((await say(bot_api, OWNER, ENROL, expect="Enrolled"))["text"])
    bot_api.fail_next("sendMessage", status=400, description="Bad Request: something unexpected")
    refused = len(bot_api.calls_to("sendMessage"))

    bot_api.user_sends(PATIENT, f"/start {code}")
    await bot_api.wait_for(lambda a: len(a.calls_to("sendMessage")) > refused)
    await bot_api.wait_for(lambda a: bool(a.calls_to("sendMessage")[refused:]) and _settled(a, refused))
    held = await _welcome(bot_app)
    again = await say(bot_api, PATIENT, f"/start {code}")
    await bot_app.dispatcher.run_due()
    delivered = await bot_api.wait_for_message(PATIENT, contains="Your infusions")

    assert held.status is MessageStatus.PENDING and held.claimed_by is None
    assert "does not work" not in again["text"]
    assert "Jane" in delivered["text"]
    assert (await _welcome(bot_app)).status is MessageStatus.SENT


def _settled(api, since: int) -> bool:
    # The refused welcome, then the staff alert that the patient linked: the handler has finished.
    return any(str(c.params.get("chat_id")) == str(OWNER) for c in api.calls_to("sendMessage")[since:])
