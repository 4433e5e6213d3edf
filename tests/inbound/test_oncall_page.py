"""An urgent alert nobody took pages the on-call phone by SMS through the outbox: once, retried, never after it is
taken, never about an erased patient."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from messenger.app import App
from messenger.clock import ManualClock
from messenger.domain.alerts import ONCALL_STEP
from messenger.domain.enums import ChannelName, MessageStatus
from messenger.domain.models import Message, Series
from tests.bot.conftest import press, say
from tests.factories import enrol_patient
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.twilio_api import FakeTwilioApi
from tests.fakes.twilio_api import Message as TwilioMessage
from tests.inbound.support import OWNER, PATIENT_PHONE, SMS_FROM, WAIT, inbound_settings, inbound_url, running_app
from tests.pacing.support import driven

ONCALL = "+15557770000"
RENOTIFY = timedelta(minutes=10)


async def _pages(app: App) -> list[Message]:
    async with app.sessions() as session:
        return list((await session.exec(select(Message).where(Message.step_key == ONCALL_STEP))).all())


def _texted(twilio: FakeTwilioApi) -> list[TwilioMessage]:
    return [m for m in twilio.messages if m.to == ONCALL]


def _tries(twilio: FakeTwilioApi) -> list[int | None]:
    """What Twilio answered to each request to text the on-call phone."""
    return [r.status for r in twilio.requests if r.form.get("To") == ONCALL]


async def _urgent_alert(app: App, twilio: FakeTwilioApi, bot_api: FakeBotApi) -> Series:
    """A patient writes about a medical emergency by SMS; staff get the urgent alert; nothing else is due."""
    series = await enrol_patient(app, contacts=[(ChannelName.SMS, PATIENT_PHONE)])
    await twilio.send_inbound(inbound_url(app), PATIENT_PHONE, "chest pain and I fainted", to=SMS_FROM)
    await bot_api.wait_for_message(OWNER, contains="URGENT", timeout=WAIT)
    await app.alarm.wait_idle()
    await app.dispatcher.run_due()
    return series


async def _renotified(app: App, clock: ManualClock, bot_api: FakeBotApi) -> dict:
    """Let the alert wait past the delay, run the follow-up sweep, and wait for the dispatcher's run."""
    clock.advance(RENOTIFY)
    assert (await app.followups.run()).renotified == 1
    again = await bot_api.wait_for_message(OWNER, contains="still not taken", timeout=WAIT)
    await app.alarm.wait_idle()
    await app.dispatcher.run_due()  # in case the alarm had not woken yet; a row waiting to retry is not due
    return again


async def test_an_untaken_alert_pages_on_call_once_through_the_outbox(database_url, clock, twilio, bot_api):
    settings = inbound_settings(database_url, twilio=twilio, bot_api=bot_api, oncall_phone=ONCALL)
    async with running_app(settings, clock) as app:
        series = await _urgent_alert(app, twilio, bot_api)
        await _renotified(app, clock, bot_api)
        clock.advance(RENOTIFY)
        later = await app.followups.run()
        await app.dispatcher.run_due()
        [page] = await _pages(app)

    [text] = _texted(twilio)
    assert text.body == (
        f"URGENT: an alert for patient #{series.patient_id} has not been taken for 10 minutes. "
        "Please open the staff chat."
    )
    assert text.from_ == SMS_FROM
    assert (page.status, page.channel, page.provider_id, page.attempts) == (
        MessageStatus.SENT,
        ChannelName.SMS,
        text.sid,
        1,
    )
    assert later.renotified == 0, "an alert is sent again, and on-call paged, once"
    assert ONCALL not in page.model_dump_json(), "the row names no number: the settings do"


@pytest.mark.parametrize(
    ("status", "retry_after", "attempts"),
    [(500, None, 1), (429, 30, 0)],
    ids=["a refusal counts as an attempt", "being told to slow down does not"],
)
async def test_a_refused_page_waits_and_arrives_once(
    database_url, clock, twilio, bot_api, status, retry_after, attempts
):
    # The pacers wait on their own manual clock, moved to each wake-up at once: a pause takes no real time.
    pacing = ManualClock(clock.now())
    settings = inbound_settings(database_url, twilio=twilio, bot_api=bot_api, oncall_phone=ONCALL)
    async with driven(pacing), running_app(settings, clock, pacing_clock=pacing) as app:
        await _urgent_alert(app, twilio, bot_api)
        twilio.fail_next(status, retry_after=retry_after)
        await _renotified(app, clock, bot_api)
        [waiting] = await _pages(app)
        texted_early = _texted(twilio)
        clock.set(waiting.send_at)
        pacing.advance(timedelta(seconds=30))  # a pause Twilio asked for ends on the pacers' clock too
        await app.dispatcher.run_due()
        await app.dispatcher.run_due()
        [after] = await _pages(app)

    assert (waiting.status, waiting.attempts) == (MessageStatus.PENDING, attempts), "waiting, not dropped"
    assert waiting.send_at >= waiting.due_at + timedelta(seconds=retry_after or 1)
    assert texted_early == []
    [text] = _texted(twilio)
    assert _tries(twilio) == [status, 201]
    assert (after.status, after.attempts, after.provider_id) == (MessageStatus.SENT, attempts + 1, text.sid)


async def test_a_page_whose_alert_is_taken_meanwhile_is_not_sent(database_url, clock, twilio, bot_api):
    settings = inbound_settings(database_url, twilio=twilio, bot_api=bot_api, oncall_phone=ONCALL)
    async with running_app(settings, clock) as app:
        await _urgent_alert(app, twilio, bot_api)
        twilio.fail_next(500)
        again = await _renotified(app, clock, bot_api)
        await press(bot_api, OWNER, again, "I'm on it")
        await bot_api.wait_for(lambda api: any("Taken by" in m["text"] for m in api.sent_messages(OWNER)))
        [waiting] = await _pages(app)
        clock.set(waiting.send_at)
        await app.dispatcher.run_due()
        [after] = await _pages(app)

    assert waiting.status is MessageStatus.PENDING
    assert _tries(twilio) == [500], "nothing went to on-call after the refused try"
    assert (after.status, after.last_error) == (MessageStatus.SKIPPED, "skip.alert_taken")


async def test_no_page_about_an_erased_patient(database_url, clock, twilio, bot_api):
    settings = inbound_settings(database_url, twilio=twilio, bot_api=bot_api, oncall_phone=ONCALL)
    async with running_app(settings, clock) as app:
        series = await _urgent_alert(app, twilio, bot_api)
        await say(bot_api, OWNER, f"/forget {series.patient_id}", expect="erased")
        clock.advance(RENOTIFY)
        report = await app.followups.run()
        await app.dispatcher.run_due()
        pages = await _pages(app)

    assert report.renotified == 0
    assert (pages, _tries(twilio)) == ([], [])


async def test_without_an_oncall_number_nobody_is_paged(database_url, clock, twilio, bot_api):
    settings = inbound_settings(database_url, twilio=twilio, bot_api=bot_api)
    async with running_app(settings, clock) as app:
        await _urgent_alert(app, twilio, bot_api)
        await _renotified(app, clock, bot_api)
        pages = await _pages(app)

    assert (pages, _tries(twilio)) == ([], [])
