"""The patient's voice reaches a person, on Telegram: triage, after-hours, the inbox, replies, "I'm on it"."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlmodel import col, select

from messenger.app import App, build_app
from messenger.bot.acknowledgement import AlertDesk
from messenger.clock import ManualClock
from messenger.db import transaction
from messenger.domain.enums import MessageStatus, StepKind
from messenger.domain.models import AuditEvent, ConversationEntry, Message
from messenger.domain.triage import Level
from tests.bot.conftest import OWNER, PATIENT, STAFF, bot_settings, buttons, invite_code, press, say
from tests.domain.test_triage import CASES
from tests.fakes.bot_api import FakeBotApi

OTHER_PATIENT = 5006
CLINIC = "Renew Ketamine Infusion"
CLINIC_PHONE = "949-503-1414"


async def _app(bot_api: FakeBotApi, database_url: str, clock: ManualClock, **extra: object) -> App:
    app = build_app(bot_settings(bot_api, database_url, owner_ids=[OWNER, STAFF], **extra), clock=clock)
    await app.start()
    app.alarm.scheduler.pause()  # the test runs follow-ups and the dispatcher itself
    return app


@pytest.fixture
async def app(bot_api: FakeBotApi, database_url: str, clock: ManualClock) -> AsyncIterator[App]:
    app = await _app(bot_api, database_url, clock)
    try:
        yield app
    finally:
        await app.stop()


async def _link(api: FakeBotApi, user: int = PATIENT, name: str = "Pat Doe") -> None:
    command = f'/enroll name="{name}" first="2026-12-02 10:00" tz=America/Los_Angeles'
    code = invite_code((await say(api, OWNER, command, expect="Enrolled"))["text"])
    await say(api, user, f"/start {code}", expect="Your infusions")


async def _alert(api: FakeBotApi, chat: int, contains: str, after: int) -> dict:
    await api.wait_for(lambda a: any(contains in m["text"] for m in a.sent_messages(chat)[after:]))
    return next(m for m in api.sent_messages(chat)[after:] if contains in m["text"])


async def test_every_crisis_phrase_in_the_table_gets_the_crisis_line_and_an_urgent_alert(app, bot_api):
    await _link(bot_api)

    for label, text, level, _negated in CASES:
        if not text:
            continue
        alerts_before = len(bot_api.sent_messages(OWNER))
        answer = (await say(bot_api, PATIENT, text))["text"]
        alert = await _alert(bot_api, OWNER, text.split()[0], alerts_before)
        if level is Level.CRISIS:
            assert "988" in answer and "911" in answer and CLINIC_PHONE in answer, label
            assert alert["text"].startswith("🚨 URGENT"), label
            assert "I'm on it" in buttons(alert), label
        elif level is Level.URGENT:
            assert "911" in answer and CLINIC_PHONE in answer and "988" not in answer, label
            assert alert["text"].startswith("🚨 URGENT"), label
        else:  # routine, negated or not: a person reads it, but it is no emergency
            assert "988" not in answer and "911" not in answer, label
            assert answer.startswith("Thank you, your message is with the"), label
            assert not alert["text"].startswith("🚨"), label
            assert "I'm on it" not in buttons(alert), label

    async with app.sessions() as session:
        levels = [e.level for e in (await session.exec(select(ConversationEntry))).all()]
    assert levels.count("crisis") == sum(1 for c in CASES if c[2] is Level.CRISIS)


async def test_media_is_kept_with_its_file_id_and_reaches_staff(app, bot_api):
    await _link(bot_api)
    before = len(bot_api.sent_messages(PATIENT))

    bot_api.user_sends_media(PATIENT, "voice")
    await bot_api.wait_for(lambda a: len(a.sent_messages(PATIENT)) > before)
    bot_api.user_sends_media(PATIENT, "photo", caption="the rash on my arm")
    alert = await bot_api.wait_for_message(OWNER, contains="sent a photo")

    async with app.sessions() as session:
        entries = (await session.exec(select(ConversationEntry).order_by(col(ConversationEntry.id)))).all()
    assert [(e.media, e.text) for e in entries] == [("voice", None), ("photo", "the rash on my arm")]
    assert entries[0].file_id and entries[1].file_id
    assert "the rash on my arm" in alert["text"]
    assert bot_api.sent_messages(PATIENT)[-1]["text"].startswith("Thank you, your message is with the")


async def test_after_hours_a_routine_message_is_told_when_it_will_be_read(bot_api, database_url, clock):
    # T0 is Monday 12:00 in Los Angeles; the clinic closes at 12:00 today and reopens Tuesday 08:00.
    app = await _app(
        bot_api,
        database_url,
        clock,
        clinic_hours="Mon-Fri 08:00-12:00",
        clinic_timezone="America/Los_Angeles",
        after_hours_phone="949-555-0199",
    )
    try:
        await _link(bot_api)
        routine = (await say(bot_api, PATIENT, "can I take ibuprofen?"))["text"]
        alert = await bot_api.wait_for_message(OWNER, contains="ibuprofen")
        crisis = (await say(bot_api, PATIENT, "I want to end it all", expect="988"))["text"]
    finally:
        await app.stop()

    assert routine == (
        f"Thank you, your message is saved for the {CLINIC} team. The clinic is closed now; they will read it "
        "when it opens (Tuesday, December 1, 8:00 AM). If it cannot wait, call 949-555-0199."
    )
    assert "988" not in routine and "911" not in routine
    assert "wrote" in alert["text"]
    assert "911" in crisis, "a crisis is answered the same at any hour"


async def test_im_on_it_is_taken_once_and_an_untaken_alert_goes_out_again(app, bot_api, clock):
    await _link(bot_api)
    owner_before, staff_before = len(bot_api.sent_messages(OWNER)), len(bot_api.sent_messages(STAFF))
    await say(bot_api, PATIENT, "I can't stop vomiting after the infusion", expect="911")
    first_owner = await _alert(bot_api, OWNER, "URGENT", owner_before)
    first_staff = await _alert(bot_api, STAFF, "URGENT", staff_before)

    clock.advance(timedelta(minutes=9))
    assert (await app.followups.run()).renotified == 0
    clock.advance(timedelta(minutes=2))
    assert (await app.followups.run()).renotified == 1
    again = await _alert(bot_api, OWNER, "still not taken after 11 minutes", owner_before)
    await _alert(bot_api, STAFF, "still not taken", staff_before)
    assert again["text"].startswith("🚨 URGENT") and "vomiting" in again["text"]
    assert (await app.followups.run()).renotified == 0, "sent again once"

    clock.advance(timedelta(minutes=1))
    await press(bot_api, STAFF, first_staff, "I'm on it")
    await bot_api.wait_for(
        lambda a: all(
            "Taken by" in m["text"] for chat in (OWNER, STAFF) for m in a.sent_messages(chat) if "vomiting" in m["text"]
        )
    )
    answered = len(bot_api.calls_to("answerCallbackQuery"))
    bot_api.user_presses(
        OWNER, _button(first_owner, "I'm on it"), message_id=first_owner["message_id"], require_button=False
    )
    await bot_api.wait_for(lambda a: len(a.calls_to("answerCallbackQuery")) > answered)
    stats = await say(bot_api, OWNER, "/stats", expect="acknowledge")

    assert bot_api.calls_to("answerCallbackQuery")[-1].params.get("text", "").startswith("Already taken by")
    taken = [m for m in bot_api.sent_messages(OWNER) if "vomiting" in m["text"]]
    assert len(taken) == 2 and all("I'm on it" not in buttons(m) for m in taken)
    assert "12 min" in stats["text"]
    async with app.sessions() as session:
        actions = [e.action for e in (await session.exec(select(AuditEvent))).all()]
    assert actions.count("alert.acknowledge") == 1


async def test_the_inbox_lists_the_longest_waiting_first_and_empties_on_reply_and_done(app, bot_api, clock):
    await _link(bot_api)
    await _link(bot_api, OTHER_PATIENT, "Sam Roe")
    await say(bot_api, OTHER_PATIENT, "where do I park?")
    clock.advance(timedelta(minutes=5))
    await say(bot_api, PATIENT, "I'm having a panic attack and seeing things", expect="911")

    listing = (await say(bot_api, OWNER, "/inbox", expect="Waiting"))["text"]
    replied = (await say(bot_api, OWNER, "/reply 1 We are calling you now.", expect="is on its way"))["text"]
    received = await bot_api.wait_for_message(PATIENT, contains="We are calling you now.")
    after_reply = (await say(bot_api, OWNER, "/inbox", expect="Waiting"))["text"]
    done = (await say(bot_api, OWNER, "/done 2", expect="handled"))["text"]
    empty = (await say(bot_api, OWNER, "/inbox"))["text"]
    card = (await say(bot_api, OWNER, "/patient 1", expect="Conversation"))["text"]

    assert listing.index("Sam Roe") < listing.index("Pat Doe"), "the longest waiting first"
    assert "🚨 urgent · #1" in listing
    assert replied == "Your reply to Pat Doe (#1) is on its way by telegram."
    assert received["text"] == f"{CLINIC}: We are calling you now."
    assert "Pat Doe" not in after_reply and "Sam Roe" in after_reply
    assert done == "Patient #2: 1 message(s) marked handled."
    assert empty == "No patient is waiting for an answer."
    assert "panic attack" in card and "We are calling you now." in card


async def test_a_telegram_reply_to_an_alert_reaches_the_patient_and_their_answer_comes_back(app, bot_api):
    await _link(bot_api)
    before = len(bot_api.sent_messages(OWNER))
    await say(bot_api, PATIENT, "can I eat before the infusion?")
    alert = await _alert(bot_api, OWNER, "can I eat", before)

    bot_api.user_replies(OWNER, "Nothing after midnight, please.", to_message_id=alert["message_id"])
    answer = await bot_api.wait_for_message(PATIENT, contains="Nothing after midnight")
    confirmation = await bot_api.wait_for_message(OWNER, contains="Your reply to Pat Doe")
    await say(bot_api, PATIENT, "thank you!")
    back = await bot_api.wait_for_message(OWNER, contains="thank you!")

    assert answer["text"] == f"{CLINIC}: Nothing after midnight, please."
    assert "telegram" in confirmation["text"]
    assert "wrote" in back["text"]


async def _alert_back_on_the_wire(app: App, api: FakeBotApi) -> tuple[dict, Message]:
    """A patient's question alerts the owner; the copy's row is then put back as it is while its batch is
    still being sent, with no message id recorded. The alert as the owner sees it, and that row."""
    await _link(api)
    await say(api, PATIENT, "can I eat before the infusion?")
    alert = await _alert(api, OWNER, "can I eat", 0)
    await app.alarm.wait_idle()  # the copy's batch is recorded
    async with transaction(app.sessions) as session:
        copy = (
            await session.exec(
                select(Message).where(
                    Message.kind == StepKind.ALERT,
                    Message.staff_chat_id == alert["chat"]["id"],
                    Message.provider_id == str(alert["message_id"]),
                )
            )
        ).one()
        copy.status, copy.provider_id = MessageStatus.SENDING, None
        return alert, copy


def _desk(app: App) -> AlertDesk:
    assert app.telegram is not None and app.telegram.deps.desk is not None
    return app.telegram.deps.desk


async def test_a_reply_to_an_alert_still_on_the_wire_waits_for_its_batch_to_be_recorded(app, bot_api):
    alert, copy = await _alert_back_on_the_wire(app, bot_api)
    waits = []

    async def batch_recorded_meanwhile(seconds: float) -> None:
        waits.append(seconds)
        async with transaction(app.sessions) as session:
            row = await session.get(Message, copy.id)
            assert row is not None
            row.status, row.provider_id = MessageStatus.SENT, str(alert["message_id"])

    _desk(app).pause = batch_recorded_meanwhile
    bot_api.user_replies(OWNER, "Nothing after midnight, please.", to_message_id=alert["message_id"])

    answer = await bot_api.wait_for_message(PATIENT, contains="Nothing after midnight")
    confirmation = await bot_api.wait_for_message(OWNER, contains="Your reply to Pat Doe")
    assert answer["text"] == f"{CLINIC}: Nothing after midnight, please."
    assert "telegram" in confirmation["text"]
    assert len(waits) == 1


async def test_a_batch_recorded_between_the_two_looks_still_finds_the_patient(app, bot_api):
    """The dispatcher records the copy's batch just after the reply has looked for the copy's id: the
    reply must still reach the patient, not be told the message is no alert."""
    alert, copy = await _alert_back_on_the_wire(app, bot_api)
    desk = _desk(app)
    lookup = desk._patients_of

    async def batch_recorded_right_after(chat_id: int, message_id: int) -> set[int | None]:
        found = await lookup(chat_id, message_id)
        async with transaction(app.sessions) as session:
            row = await session.get(Message, copy.id)
            assert row is not None
            row.status, row.provider_id = MessageStatus.SENT, str(alert["message_id"])
        return found

    desk._patients_of = batch_recorded_right_after  # type: ignore[method-assign]
    bot_api.user_replies(OWNER, "Nothing after midnight, please.", to_message_id=alert["message_id"])

    answer = await bot_api.wait_for_message(PATIENT, contains="Nothing after midnight")
    assert answer["text"] == f"{CLINIC}: Nothing after midnight, please."
    assert not [m for m in bot_api.sent_messages(OWNER) if "not an alert" in m["text"]]


async def test_a_reply_to_an_alert_that_stays_on_the_wire_is_not_sent_and_says_why(app, bot_api):
    alert, _copy = await _alert_back_on_the_wire(app, bot_api)
    waits = []

    async def nothing_recorded(seconds: float) -> None:
        waits.append(seconds)

    _desk(app).pause = nothing_recorded
    to_patient = len(bot_api.sent_messages(PATIENT))
    before = len(bot_api.sent_messages(OWNER))
    bot_api.user_replies(OWNER, "Nothing after midnight, please.", to_message_id=alert["message_id"])

    told = await _alert(bot_api, OWNER, "your reply was not sent", before)
    assert told["text"] == (
        "That alert is still being delivered, so your reply was not sent. Please send it again in a minute, "
        "or use /reply <patient id> <text>."
    )
    assert sum(waits) == pytest.approx(5.0)
    assert len(bot_api.sent_messages(PATIENT)) == to_patient


def _button(message: dict, label: str) -> str:
    return next(
        b["callback_data"] for row in message["reply_markup"]["inline_keyboard"] for b in row if b["text"] == label
    )
