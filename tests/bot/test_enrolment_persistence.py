"""The /enroll conversation is kept in the database: a restart mid-way loses nothing, and a
conversation left unanswered ends with a sentence to the staff member."""

from __future__ import annotations

from sqlmodel import select

from messenger.app import App, build_app
from messenger.clock import ManualClock
from messenger.db import create_engine, session_factory
from messenger.domain.bookkeeping import BotState
from messenger.domain.models import Patient
from tests.bot.conftest import OWNER, bot_settings, press, say
from tests.fakes.bot_api import FakeBotApi


async def rows(database_url: str) -> list[BotState]:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            return list((await session.exec(select(BotState))).all())
    finally:
        await engine.dispose()


async def started(api: FakeBotApi, database_url: str, clock: ManualClock, **extra: object) -> App:
    app = build_app(bot_settings(api, database_url, **extra), clock=clock)
    await app.start()
    app.alarm.scheduler.pause()  # the tests run the dispatcher themselves
    return app


async def test_a_restart_in_the_middle_of_enrolment_loses_nothing(
    bot_api: FakeBotApi, database_url: str, clock: ManualClock
) -> None:
    first = await started(bot_api, database_url, clock)
    try:
        await say(bot_api, OWNER, "/enroll", expect="full name")
        language = await say(bot_api, OWNER, "Ana Ruiz", expect="In which language")
        await press(bot_api, OWNER, language, "español")
        await bot_api.wait_for_message(OWNER, contains="time zone")
    finally:
        await first.stop()

    second = await started(bot_api, database_url, clock)
    try:
        async with second.sessions() as session:
            kept = {row.namespace for row in (await session.exec(select(BotState))).all()}
        await say(bot_api, OWNER, "America/Los_Angeles", expect="When is the first infusion")
        spacing = await say(bot_api, OWNER, "2026-12-02 09:30", expect="default spacing")
        await press(bot_api, OWNER, spacing, "Default spacing")
        phone = await bot_api.wait_for_message(OWNER, contains="mobile number")
        await press(bot_api, OWNER, phone, "Skip")
        email = await bot_api.wait_for_message(OWNER, contains="e-mail address")
        await press(bot_api, OWNER, email, "Skip")
        summary = await bot_api.wait_for_message(OWNER, contains="Please check")
        await press(bot_api, OWNER, summary, "Enrol")
        await bot_api.wait_for_message(OWNER, contains="Enrolled")
        async with second.sessions() as session:
            patients = (await session.exec(select(Patient))).all()
    finally:
        await second.stop()  # hands the last changes to the persistence
    left = await rows(database_url)

    assert kept == {"conversation:enrolment", "user_data"}
    assert left == []  # a finished conversation leaves nothing behind
    # Named, and her language chosen, before the restart.
    assert summary["text"].startswith("Please check:\nAna Ruiz, America/Los_Angeles, español\n")
    assert [(p.name, p.timezone, p.locale) for p in patients] == [("Ana Ruiz", "America/Los_Angeles", "es")]


async def test_an_unanswered_enrolment_ends_and_the_staff_member_is_told(
    bot_api: FakeBotApi, database_url: str, clock: ManualClock
) -> None:
    app = await started(bot_api, database_url, clock, enrolment_timeout_minutes=0.02)
    try:
        await say(bot_api, OWNER, "/enroll", expect="full name")
        await say(bot_api, OWNER, "Ana Ruiz", expect="In which language")
        expired = await bot_api.wait_for_message(OWNER, contains="got no answer")
        # A new /enroll starts afresh: the expired conversation no longer holds the chat.
        again = await say(bot_api, OWNER, "/enroll", expect="full name")
        await say(bot_api, OWNER, "/cancel", expect="cancelled")
    finally:
        await app.stop()

    assert expired["text"] == (
        "This enrolment got no answer for 1 minutes, so it has ended and nothing was saved. "
        "Send /enroll to start again."
    )
    assert again["text"].startswith("Let's enrol a patient.")
