"""The patient's side: invites, the compressed series with buttons, check-ins, opt-out, alerts to staff."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from messenger.app import build_app
from messenger.clock import ManualClock, ScaledClock
from messenger.domain.enums import ChannelName, InfusionStatus, MessageStatus
from messenger.domain.models import Answer, Contact, Infusion, Message, Patient
from tests.bot.conftest import (
    OWNER,
    PATIENT,
    STRANGER,
    bot_settings,
    buttons,
    invite_code,
    press,
    say,
)
from tests.conftest import T0
from tests.factories import messages_of, run_until
from tests.fakes.channels import ScriptedChannel
from tests.pacing.support import driven

COMPACT = Path(__file__).parent.parent / "data" / "series"
ENROL = '/enroll name="Pat Doe" first="2026-12-02 10:00" tz=America/Los_Angeles'


async def _enrol_and_link(api, user=PATIENT, command=ENROL) -> str:
    code = invite_code((await say(api, OWNER, command, expect="Enrolled"))["text"])
    await say(api, user, f"/start {code}", expect="Your infusions")
    return code


async def test_the_invite_links_the_chat_and_greets_with_the_schedule(bot_app, bot_api):
    await _enrol_and_link(bot_api)

    texts = [m["text"] for m in bot_api.sent_messages(PATIENT)]
    assert len(texts) == 1, "the welcome carries the schedule: one message, not two"
    assert texts[0].startswith("Hi Pat")
    assert "1 of 5: Wednesday, December 2 at 10:00 AM" in texts[0]
    await bot_api.wait_for_message(OWNER, contains="connected on Telegram")
    await bot_app.alarm.wait_idle()  # the dispatcher sent both; its outcomes are being recorded
    rows = await messages_of(bot_app, 1)
    assert rows["welcome"].status is MessageStatus.SENT
    assert rows["welcome"].channel is ChannelName.TELEGRAM
    again = await say(bot_api, PATIENT, "/start", expect="Your infusions")
    assert again["text"].startswith("Your infusions (America/Los_Angeles)")


@pytest.mark.parametrize("case", ["guessed", "reused", "expired"])
async def test_bad_invite_codes_get_a_kind_sentence_and_link_nothing(bot_app, bot_api, clock, case):
    code = invite_code((await say(bot_api, OWNER, ENROL, expect="Enrolled"))["text"])
    if case == "guessed":
        code = "A" * 32
    elif case == "reused":
        await say(bot_api, PATIENT, f"/start {code}", expect="Your infusions")
    else:
        clock.advance(timedelta(days=8))

    reply = await say(bot_api, STRANGER, f"/start {code}")

    assert reply["text"].startswith("Sorry, that invitation link does not work")
    async with bot_app.sessions() as session:
        linked = (await session.exec(select(Contact).where(Contact.address == str(STRANGER)))).all()
    assert linked == []


async def test_repeated_failures_are_throttled_even_for_a_good_code(bot_app, bot_api):
    code = invite_code((await say(bot_api, OWNER, ENROL, expect="Enrolled"))["text"])
    for n in range(5):
        await say(bot_api, STRANGER, f"/start guess{n}", expect="does not work")

    reply = await say(bot_api, STRANGER, f"/start {code}")

    assert reply["text"].startswith("Too many attempts")


@pytest.mark.slow
async def test_a_compressed_series_arrives_in_order_and_answers_reach_staff(bot_api, database_url):
    # The compact series: infusions at 12:02 and 12:05 story time, at 15x. The story is held just short of each
    # infusion until the patient has pressed that reminder's button: a busy machine delays the story, not the press.
    clock = ScaledClock(T0, speed=15, running=False)
    settings = bot_settings(bot_api, database_url, series_dir=COMPACT, default_series="compact")
    app = build_app(settings, clock=clock)
    await app.start()
    try:
        code = invite_code(
            (
                await say(
                    bot_api,
                    OWNER,
                    '/enroll name="Pat Doe" tz=America/Los_Angeles infusions="2026-11-30 12:02, 2026-11-30 12:05"',
                    expect="Enrolled",
                )
            )["text"]
        )
        await say(bot_api, PATIENT, f"/start {code}", expect="Your infusions")
        clock.run()
        clock.hold_at(T0 + timedelta(minutes=1, seconds=55))
        app.alarm.poke()

        reminder_1 = await bot_api.wait_for_message(PATIENT, contains="Today at 12:02")
        await press(bot_api, PATIENT, reminder_1, "I'll be there")
        clock.hold_at(T0 + timedelta(minutes=4, seconds=55))
        checkin_1 = await bot_api.wait_for_message(PATIENT, contains="feeling after infusion 1")
        await press(bot_api, PATIENT, checkin_1, "9")
        mood = _current(bot_api, checkin_1)
        await press(bot_api, PATIENT, mood, "Low")
        await press(bot_api, PATIENT, _current(bot_api, checkin_1), "Yes")
        reminder_2 = await bot_api.wait_for_message(PATIENT, contains="Today at 12:05")
        await press(bot_api, PATIENT, reminder_2, "I need to reschedule")
        clock.hold_at(None)
        # Infusion 2 waits for a new time: the end of the series says so.
        await bot_api.wait_for_message(PATIENT, contains="you received 1 of the 2 infusions planned", timeout=40)
        await app.alarm.wait_idle()  # the completion is recorded after Telegram accepted it

        async with app.sessions() as session:
            infusions = {i.number: i.status for i in (await session.exec(select(Infusion))).all()}
            answers = {a.question: (a.value, a.escalated) for a in (await session.exec(select(Answer))).all()}
            statuses = {m.step_key: m.status for m in (await session.exec(select(Message))).all()}
    finally:
        await app.stop()

    order = [m["text"].split("\n")[0] for m in bot_api.sent_messages(PATIENT)]
    assert (
        order.index(_first_line(reminder_1))
        < order.index(_first_line(checkin_1))
        < order.index(_first_line(reminder_2))
    )
    assert "Thank you: we'll see you for infusion 1" in _current(bot_api, reminder_1)["text"]
    assert "need a new time for infusion 2" in _current(bot_api, reminder_2)["text"]
    final_checkin = _current(bot_api, checkin_1)["text"]
    assert (
        "Pain: 9/10" in final_checkin
        and "Mood: Low" in final_checkin
        and "has been told about your answers" in final_checkin
    )
    assert infusions == {1: InfusionStatus.CONFIRMED, 2: InfusionStatus.RESCHEDULE_REQUESTED}
    assert answers == {"pain": ("9", True), "mood": ("2", False), "contact": ("yes", True)}
    # Infusion 2's check-in waits for the new time the patient asked for.
    assert {k: v for k, v in statuses.items() if v is not MessageStatus.SENT} == {"checkin-2": MessageStatus.HELD}
    staff_texts = " ".join(m.get("text", "") for m in bot_api.sent_messages(OWNER))
    assert "check-in: pain 9/10" in staff_texts
    assert "check-in: asked to be contacted" in staff_texts
    assert "needs a new time for infusion 2" in staff_texts


def _current(api, message: dict) -> dict:
    """The message as it is now, after the bot's edits."""
    return next(m for m in api.sent_messages(message["chat"]["id"]) if m["message_id"] == message["message_id"])


def _first_line(message: dict) -> str:
    return message["text"].split("\n")[0]


async def test_free_text_is_acknowledged_and_forwarded(bot_app, bot_api):
    await _enrol_and_link(bot_api)

    ack = await say(bot_api, PATIENT, "I feel dizzy <b>today</b>", expect="is with the")

    alert = await bot_api.wait_for_message(OWNER, contains="wrote")
    assert "I feel dizzy <b>today</b>" in alert["text"]  # shown as typed: escaped, not formatted
    assert "Open patient" in buttons(alert)
    assert "call" in ack["text"]


async def test_stop_asks_once_then_nothing_more_is_sent_until_resume(bot_app, bot_api, clock):
    await _enrol_and_link(bot_api)
    question = await say(bot_api, PATIENT, "/stop", expect="Stop all messages")

    await press(bot_api, PATIENT, question, "Yes, stop")

    assert "will not send you any more" in _current(bot_api, question)["text"]
    await bot_api.wait_for_message(OWNER, contains="stopped messages on telegram")
    sent_before = len(bot_api.sent_messages(PATIENT))
    await run_until(bot_app, clock.now() + timedelta(hours=3))
    assert len(bot_api.sent_messages(PATIENT)) == sent_before
    rows = await messages_of(bot_app, 1)
    assert rows["edu-what-is-chronic-pain"].status is MessageStatus.SKIPPED
    resumed = await say(bot_api, PATIENT, "/resume", expect="Welcome back")
    assert resumed


async def test_a_blocked_patient_is_marked_unreachable_and_reached_by_sms(bot_api, database_url, clock):
    sms = ScriptedChannel(ChannelName.SMS)
    app = build_app(bot_settings(bot_api, database_url), clock=clock, channels={ChannelName.SMS: sms})
    await app.start()
    app.alarm.scheduler.pause()  # the test runs the dispatcher with its manual clock
    try:
        code = invite_code((await say(bot_api, OWNER, ENROL + " phone=+15551230000", expect="Enrolled"))["text"])
        await app.dispatcher.run_due()  # the welcome goes by SMS: the patient has not opened the invite yet
        await say(bot_api, PATIENT, f"/start {code}", expect="Your infusions")
        await app.alarm.wait_idle()
        bot_api.block_chat(PATIENT)
        await run_until(app, clock.now() + timedelta(hours=3))
        alert = await bot_api.wait_for_message(OWNER, contains="cannot be reached on telegram")
        async with app.sessions() as session:
            telegram = (await session.exec(select(Contact).where(Contact.channel == ChannelName.TELEGRAM))).one()
        rows = await messages_of(app, 1)
    finally:
        await app.stop()

    assert telegram.reachable is False
    # Staff read why from the templates, not Telegram's English ("Forbidden: bot was blocked by the user").
    assert (
        "cannot be reached on telegram: the patient blocked the bot or closed their Telegram account." in alert["text"]
    )
    # The welcome went by SMS at enrolment, so /start did not repeat it; then Telegram was blocked.
    assert [o.step_key for o in sms.delivered] == ["welcome", "edu-what-is-chronic-pain"]
    assert not [m for m in bot_api.sent_messages(PATIENT) if m["text"].startswith("Hi Pat")]
    assert rows["edu-what-is-chronic-pain"].channel is ChannelName.SMS


async def test_flood_control_is_honoured_for_the_whole_bot(bot_api, database_url, clock):
    # The pacer waits on its own manual clock, moved to each wake-up at once: the 90 s pause takes no real time.
    pacing = ManualClock(clock.now())
    async with driven(pacing):
        app = build_app(bot_settings(bot_api, database_url), clock=clock, pacing_clock=pacing)
        await app.start()
        app.alarm.scheduler.pause()
        try:
            await _enrol_and_link(bot_api)
            await bot_api.wait_for_message(OWNER, contains="connected on Telegram")
            await app.alarm.wait_idle()
            bot_api.fail_next("sendMessage", status=429, retry_after=90)
            due = (await messages_of(app, 1))["edu-what-is-chronic-pain"].send_at

            clock.set(due)
            await app.dispatcher.run_due()
            row = (await messages_of(app, 1))["edu-what-is-chronic-pain"]

            assert row.status is MessageStatus.PENDING
            assert row.send_at >= due + timedelta(seconds=90)
            assert row.last_error == "telegram.flood"
            clock.set(row.send_at)
            pacing.advance(timedelta(seconds=90))  # the pause ends on the pacer's clock too
            await app.dispatcher.run_due()
            assert (await messages_of(app, 1))["edu-what-is-chronic-pain"].status is MessageStatus.SENT
        finally:
            await app.stop()


async def test_a_forged_or_foreign_button_changes_nothing(bot_app, bot_api):
    await _enrol_and_link(bot_api)
    await say(bot_api, STRANGER, "hello")
    target = bot_api.sent_messages(STRANGER)[-1]

    for data in ("c:1:p9", "r:1:y", "s:1:y", "garbage", "o:1:card"):
        answered = len(bot_api.calls_to("answerCallbackQuery"))
        bot_api.user_presses(STRANGER, data, message_id=target["message_id"], require_button=False)
        await bot_api.wait_for(lambda a, n=answered: len(a.calls_to("answerCallbackQuery")) > n)

    async with bot_app.sessions() as session:
        assert (await session.exec(select(Answer))).all() == []
        contact = (await session.exec(select(Contact))).one()
    assert contact.opted_out is False
    answers = [c.params.get("text") for c in bot_api.calls_to("answerCallbackQuery")]
    assert answers == ["This button is no longer active."] * 5


async def test_the_guided_enrolment_conversation(bot_app, bot_api):
    await say(bot_api, OWNER, "/enroll", expect="full name")
    language_question = await say(bot_api, OWNER, "Ana Ruiz", expect="In which language")
    await press(bot_api, OWNER, language_question, "español")
    zone_question = await bot_api.wait_for_message(OWNER, contains="time zone")
    await press(bot_api, OWNER, zone_question, "America/New_York")
    await bot_api.wait_for_message(OWNER, contains="When is the first infusion")
    await say(bot_api, OWNER, "yesterday", expect="not a date")
    await say(bot_api, OWNER, "2020-01-01 10:00", expect="must be in the future")
    spacing = await say(bot_api, OWNER, "2026-12-02 09:30", expect="default spacing")
    await press(bot_api, OWNER, spacing, "I'll give all five")
    await bot_api.wait_for_message(OWNER, contains="Send all 5 times")
    await say(
        bot_api,
        OWNER,
        "2026-12-02 09:30, 2026-12-01 09:30, 2026-12-08 09:30, 2026-12-11 09:30, 2026-12-14 09:30",
        expect="in order",
    )
    phone = await say(
        bot_api,
        OWNER,
        "2026-12-02 09:30, 2026-12-05 09:30, 2026-12-08 09:30, 2026-12-11 09:30, 2026-12-14 09:30",
        expect="mobile number",
    )
    await say(bot_api, OWNER, "12", expect="does not look like a phone number")
    await press(bot_api, OWNER, phone, "Skip")
    await bot_api.wait_for_message(OWNER, contains="e-mail address")
    summary = await say(bot_api, OWNER, "ana@example.org", expect="Please check")
    assert "Infusion 5: Mon, Dec 14, 2026, 9:30 AM EST" in summary["text"]

    await press(bot_api, OWNER, summary, "Enrol")

    enrolled = await bot_api.wait_for_message(OWNER, contains="Enrolled")
    assert "Ana Ruiz" in enrolled["text"] and "America/New_York" in enrolled["text"]
    assert "español" in enrolled["text"]
    async with bot_app.sessions() as session:
        contacts = (await session.exec(select(Contact))).all()
        patient = (await session.exec(select(Patient))).one()
    assert [(c.channel, c.address) for c in contacts] == [(ChannelName.EMAIL, "ana@example.org")]
    assert patient.locale == "es"


async def test_the_conversation_can_be_cancelled_and_saves_nothing(bot_app, bot_api):
    await say(bot_api, OWNER, "/enroll", expect="full name")
    await say(bot_api, OWNER, "Ana Ruiz", expect="In which language")

    reply = await say(bot_api, OWNER, "/cancel", expect="cancelled")

    assert "nothing was saved" in reply["text"]
    listing = await say(bot_api, OWNER, "/patients")
    assert "No patients yet" in listing["text"]


async def test_the_alert_button_opens_the_patient_card_for_staff(bot_app, bot_api):
    await _enrol_and_link(bot_api)
    await say(bot_api, PATIENT, "question about parking", expect="is with the")
    alert = await bot_api.wait_for_message(OWNER, contains="wrote")

    await press(bot_api, OWNER, alert, "Open patient")

    card = await bot_api.wait_for_message(OWNER, contains="Last check-in answers")
    assert "Pat Doe" in card["text"] and "telegram" in card["text"]


async def test_nothing_is_sent_before_the_patient_links(bot_app, bot_api, clock):
    await say(bot_api, OWNER, ENROL, expect="Enrolled")

    await run_until(bot_app, clock.now() + timedelta(hours=3))

    rows = await messages_of(bot_app, 1)
    assert rows["welcome"].status is MessageStatus.PENDING
    assert rows["edu-what-is-chronic-pain"].status is MessageStatus.PENDING
    assert bot_api.sent_messages(PATIENT) == []
    assert not [m for m in bot_api.sent_messages(OWNER) if "could not be delivered" in m.get("text", "")]


@pytest.mark.parametrize("answered", [False, True], ids=["unanswered-goes-by-sms", "answered-stays-quiet"])
async def test_an_unanswered_telegram_reminder_falls_back_to_sms(bot_api, database_url, clock, answered):
    sms = ScriptedChannel(ChannelName.SMS)
    settings = bot_settings(bot_api, database_url, reminder_fallback_minutes=60)
    app = build_app(settings, clock=clock, channels={ChannelName.SMS: sms})
    await app.start()
    app.alarm.scheduler.pause()  # the test runs the dispatcher with its manual clock
    try:
        code = invite_code((await say(bot_api, OWNER, ENROL + " phone=+15551230000", expect="Enrolled"))["text"])
        await say(bot_api, PATIENT, f"/start {code}", expect="Your infusions")
        eve = (await messages_of(app, 1))["reminder-eve-1"]
        await run_until(app, eve.send_at)
        reminder = await bot_api.wait_for_message(PATIENT, contains="Tomorrow")
        if answered:
            await press(bot_api, PATIENT, reminder, "I'll be there")
        await run_until(app, eve.send_at + timedelta(minutes=61))
        rows = await messages_of(app, 1)
    finally:
        await app.stop()

    copy = rows["fallback-reminder-eve-1"]
    assert rows["reminder-eve-1"].channel is ChannelName.TELEGRAM
    if answered:
        assert copy.status is MessageStatus.SKIPPED
        assert "reminder-eve-1" not in [o.step_key for o in sms.delivered]
    else:
        assert (copy.status, copy.channel) == (MessageStatus.SENT, ChannelName.SMS)
        assert [o.step_key for o in sms.delivered if o.step_key.startswith("fallback-")] == ["fallback-reminder-eve-1"]
