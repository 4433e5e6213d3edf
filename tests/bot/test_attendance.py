"""Attendance and never stale, through the real bot: a reschedule request holds, a missed infusion, no "Tomorrow"."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from messenger.domain.enums import MessageStatus
from messenger.domain.timing import from_wall
from tests.bot.conftest import OWNER, PATIENT, invite_code, press, say
from tests.factories import messages_of, run_until, statuses

LA = ZoneInfo("America/Los_Angeles")
ENROL = '/enroll name="Pat Doe" first="2026-12-02 10:00" tz=America/Los_Angeles'


def la(day: int, hour: int, minute: int = 0) -> datetime:
    return from_wall(datetime(2026, 12, day, hour, minute), LA)


async def _link(api) -> None:
    code = invite_code((await say(api, OWNER, ENROL, expect="Enrolled"))["text"])
    await say(api, PATIENT, f"/start {code}", expect="Your infusions")


def _texts(api, since: int = 0) -> list[str]:
    return [m["text"] for m in api.sent_messages(PATIENT)[since:]]


async def test_a_reschedule_request_holds_the_same_day_reminder_and_the_checkin(bot_app, bot_api):
    await _link(bot_api)
    await run_until(bot_app, la(1, 18))
    eve = await bot_api.wait_for_message(PATIENT, contains="Tomorrow: infusion 1")

    await press(bot_api, PATIENT, eve, "I need to reschedule")
    await run_until(bot_app, la(3, 12))
    held = await statuses(bot_app, 1)
    before_new_time = _texts(bot_api)
    card = (await say(bot_api, OWNER, "/patient 1", expect="Infusions"))["text"]
    moved = (await say(bot_api, OWNER, "/reschedule 1 1 2026-12-04 10:00", expect="moved"))["text"]
    released = await statuses(bot_app, 1)
    since = len(bot_api.sent_messages(PATIENT))
    await run_until(bot_app, la(4, 9))

    assert (held["reminder-day-1"], held["checkin-1"]) == (MessageStatus.HELD, MessageStatus.HELD)
    assert not any("Today at 10:00 AM: infusion 1" in t or "after infusion 1" in t for t in before_new_time)
    assert "1. Wed, Dec 2, 2026, 10:00 AM PST · the patient asked for a new time" in card
    assert "reschedule_requested" not in card and "reminder-day" not in card
    # The same-day reminder, the check-in after it, and the baseline check-in due the evening before.
    assert "3 pending message(s) moved" in moved
    assert (released["reminder-day-1"], released["checkin-1"]) == (MessageStatus.PENDING, MessageStatus.PENDING)
    assert any(t.startswith("Today at 10:00 AM: infusion 1 of 5") for t in _texts(bot_api, since))


async def test_a_missed_infusion_gets_no_checkin_and_the_card_says_so(bot_app, bot_api):
    await _link(bot_api)
    early = (await say(bot_api, OWNER, "/missed 1 1", expect="not started"))["text"]
    await run_until(bot_app, la(2, 11))

    marked = (await say(bot_api, OWNER, "/missed 1 1", expect="marked missed"))["text"]
    await run_until(bot_app, la(3, 12))
    after = await statuses(bot_app, 1)
    card = (await say(bot_api, OWNER, "/patient 1", expect="Infusions"))["text"]

    assert early == "Infusion 1 has not started yet; mark it once its time has come."
    assert marked == "Infusion 1 of patient #1 marked missed: its check-in will not be sent."
    assert after["checkin-1"] is MessageStatus.SKIPPED
    assert not any("after infusion 1" in t for t in _texts(bot_api))
    assert "1. Wed, Dec 2, 2026, 10:00 AM PST · missed" in card


async def test_an_infusion_passed_without_a_mark_counts_as_attended(bot_app, bot_api):
    await _link(bot_api)
    await run_until(bot_app, la(2, 11))

    card = (await say(bot_api, OWNER, "/patient 1", expect="Infusions"))["text"]
    marked = (await say(bot_api, OWNER, "/attended 1 1", expect="marked attended"))["text"]
    card_after = (await say(bot_api, OWNER, "/patient 1", expect="Infusions"))["text"]

    assert "1. Wed, Dec 2, 2026, 10:00 AM PST · attended (not marked)" in card
    assert marked == "Infusion 1 of patient #1 marked attended."
    assert "1. Wed, Dec 2, 2026, 10:00 AM PST · attended\n" in card_after


async def test_after_a_resume_on_the_day_there_is_no_tomorrow_and_messages_keep_their_order(bot_app, bot_api):
    await _link(bot_api)
    await say(bot_api, OWNER, "/pause 1", expect="paused")
    await run_until(bot_app, la(2, 7))
    since = len(bot_api.sent_messages(PATIENT))

    resumed = (await say(bot_api, OWNER, "/resume 1", expect="resumed"))["text"]
    await run_until(bot_app, la(2, 9))
    rows = await messages_of(bot_app, 1)

    texts = _texts(bot_api, since)
    assert not any("Tomorrow: infusion 1" in t for t in texts)
    assert any(t.startswith("Today at 10:00 AM: infusion 1 of 5") for t in texts)
    assert rows["reminder-eve-1"].status is MessageStatus.SKIPPED
    assert "skipped because their moment has passed" in resumed
    released = sorted((r for r in rows.values() if r.sent_at and r.sent_at >= la(2, 7)), key=lambda r: r.sent_at)
    assert [r.step_key for r in released] == [r.step_key for r in sorted(released, key=lambda r: r.due_at)]
    assert len(released) >= 2


async def test_the_completion_message_says_what_actually_happened(bot_app, bot_api):
    await _link(bot_api)
    await run_until(bot_app, la(2, 11))
    await say(bot_api, OWNER, "/missed 1 1", expect="marked missed")

    await run_until(bot_app, la(17, 13))
    completion = await bot_api.wait_for_message(PATIENT, contains="Thank you, Pat")
    listing = (await say(bot_api, OWNER, "/patients", expect="Patients"))["text"]

    assert "you received 4 of the 5 infusions planned" in completion["text"]
    assert "infusions are now complete" not in completion["text"]
    assert "Our psychotherapy programme and the whole team at" in completion["text"]
    assert "completed" in listing
