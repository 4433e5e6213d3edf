"""Hostile input through the real bot: each is refused with a short, specific sentence and changes nothing.

Every case here once ended in an unhandled exception (and the generic error reply): a Unicode
digit that ``str.isdigit`` accepts, an id past PostgreSQL's integer range, a folder or path as a
time zone, a name over the column's length, year 9999, NUL (PostgreSQL refuses it in text).
"""

from __future__ import annotations

import logging

import pytest
from sqlmodel import func, select

from messenger.db import transaction
from messenger.domain.models import Patient, Staff
from tests.bot.conftest import OWNER, PATIENT, invite_code, say

ENROL = '/enroll name="Jane Doe" first="2026-12-02 10:00" tz=America/Los_Angeles'
GENERIC = "Something went wrong"

HOSTILE = [
    pytest.param("/patient ²", "is not a number", id="unicode-digit-id"),
    pytest.param("/patient 99999999999", "is not a number", id="id-past-int32"),
    pytest.param("/patient " + "9" * 40, "is not a number", id="forty-digit-id"),
    pytest.param("/pause -1", "is not a number", id="negative-id"),
    pytest.param("/staff add ٣٤٥", "is not a number", id="arabic-digits-user-id"),
    pytest.param('/enroll name=Jane tz=America first="2026-12-02 10:00"', "not a time zone", id="zone-folder"),
    pytest.param('/enroll name=Jane tz=../../etc/passwd first="2026-12-02 10:00"', "not a time zone", id="zone-path"),
    pytest.param(f'/enroll name=Jane tz={"A/" * 150} first="2026-12-02 10:00"', "not a time zone", id="zone-300-chars"),
    pytest.param('/enroll name=Jane tz="<b>x</b>" first="2026-12-02 10:00"', "not a time zone", id="zone-markup"),
    pytest.param(
        f'/enroll name="{"N" * 201}" tz=UTC first="2026-12-02 10:00"', "at most 200 characters", id="name-201"
    ),
    pytest.param('/enroll name=Jane tz=UTC first="9999-12-31 10:00"', "year between 2000 and 2100", id="year-9999"),
    pytest.param('/enroll name="Ja\x00ne" tz=UTC first="2026-12-02 10:00"', "control characters", id="nul-in-name"),
    pytest.param("/reschedule 1 2 " + "x" * 5000, "is not a date", id="long-echo"),
]


async def _patients(app) -> int:
    async with app.sessions() as session:
        return (await session.exec(select(func.count()).select_from(Patient))).one()


@pytest.mark.parametrize(("command", "expected"), HOSTILE)
async def test_hostile_input_gets_a_specific_sentence_and_changes_nothing(bot_app, bot_api, caplog, command, expected):
    await say(bot_api, OWNER, ENROL, expect="Enrolled")
    caplog.set_level(logging.ERROR)

    answer = await say(bot_api, OWNER, command)

    assert expected in answer["text"], answer["text"]
    assert GENERIC not in answer["text"]
    # The echo is cut: a 5,000-character argument never comes back whole.
    assert len(answer["text"]) < 400
    assert await _patients(bot_app) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "a handler failed"


async def test_a_forged_button_with_a_unicode_digit_is_harmless(bot_app, bot_api, caplog):
    code = invite_code((await say(bot_api, OWNER, ENROL, expect="Enrolled"))["text"])
    welcome = await say(bot_api, PATIENT, f"/start {code}")
    caplog.set_level(logging.ERROR)
    answered = len(bot_api.calls_to("answerCallbackQuery"))

    bot_api.user_presses(PATIENT, "r:²:y", message_id=welcome["message_id"], require_button=False)
    await bot_api.wait_for(lambda a: len(a.calls_to("answerCallbackQuery")) > answered)

    assert "no longer active" in bot_api.calls_to("answerCallbackQuery")[-1].params["text"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_patient_message_with_nul_reaches_staff_without_it(bot_app, bot_api):
    code = invite_code((await say(bot_api, OWNER, ENROL, expect="Enrolled"))["text"])
    await say(bot_api, PATIENT, f"/start {code}")

    ack = await say(bot_api, PATIENT, "my pain\x00 is worse")
    alert = await bot_api.wait_for_message(OWNER, contains="my pain is worse")

    assert "your message is with" in ack["text"]
    assert "\x00" not in alert["text"]


async def test_a_reply_over_telegrams_limit_is_split_at_line_breaks(bot_app, bot_api, clock):
    async with transaction(bot_app.sessions) as session:
        for n in range(400):
            session.add(
                Staff(telegram_user_id=10_000 + n, name=f"Colleague number {n:03d} of the team", created_at=clock.now())
            )
    before = len(bot_api.sent_messages(OWNER))

    bot_api.user_sends(OWNER, "/staff list")
    await bot_api.wait_for(lambda a: any("10399" in (m.get("text") or "") for m in a.sent_messages(OWNER)[before:]))

    parts = bot_api.sent_messages(OWNER)[before:]
    assert len(parts) >= 2
    assert all(len(m["text"]) <= 4096 for m in parts)
    text = "\n".join(m["text"] for m in parts)
    assert all(str(10_000 + n) in text for n in range(400))


async def test_a_transient_telegram_failure_is_retried_and_the_reply_arrives(bot_app, bot_api):
    bot_api.fail_next("sendMessage", status=500, description="Internal Server Error", times=2)

    answer = await say(bot_api, OWNER, "/stats", expect="Patients by status")

    assert answer["text"].startswith("Patients by status") or "Patients by status" in answer["text"]
    statuses = [c.status for c in bot_api.calls_to("sendMessage")]
    assert statuses[:3] == [500, 500, 200]


async def test_a_failed_reply_after_a_change_says_it_may_have_happened(bot_app, bot_api):
    await say(bot_api, OWNER, ENROL, expect="Enrolled")
    # Telegram refuses the confirmation (not a transient failure): the pause itself was committed.
    bot_api.fail_next("sendMessage", status=400, description="Bad Request: message is too long")

    answer = await say(bot_api, OWNER, "/pause 1", expect="may already be done")

    assert "nothing was changed" not in answer["text"]
    card = await say(bot_api, OWNER, "/patient 1", expect="Infusions")
    assert "paused" in card["text"]
