"""STOP, START and HELP by SMS and WhatsApp: the carriers' keywords turn a patient's messages off and on."""

from __future__ import annotations

from datetime import timedelta

import pytest

from messenger.domain.enums import ChannelName, MessageStatus
from tests.conftest import T0
from tests.factories import enrol_patient, messages_of, run_until
from tests.inbound.support import (
    CLINIC_PHONE,
    OWNER,
    PATIENT_PHONE,
    SMS_FROM,
    WAIT,
    WHATSAPP_FROM,
    contact,
    inbound_settings,
    inbound_url,
    running_app,
    sent_rows,
    twiml_reply,
)


async def test_stop_then_start_by_sms(database_url, clock, twilio, bot_api):
    settings = inbound_settings(database_url, twilio=twilio, bot_api=bot_api)
    async with running_app(settings, clock) as app:
        series = await enrol_patient(app, contacts=[(ChannelName.SMS, PATIENT_PHONE)])
        await app.dispatcher.run_due()
        assert [m.to for m in twilio.messages] == [PATIENT_PHONE]  # the welcome

        stopped = twiml_reply(await twilio.send_inbound(inbound_url(app), PATIENT_PHONE, "STOP", to=SMS_FROM))
        after_stop = await contact(app, ChannelName.SMS)
        alert = await bot_api.wait_for_message(OWNER, contains="stopped messages on sms", timeout=WAIT)
        await run_until(app, T0 + timedelta(hours=3))
        while_stopped = await messages_of(app, series.id)
        sent_while_stopped = len(twilio.messages)

        started = twiml_reply(await twilio.send_inbound(inbound_url(app), PATIENT_PHONE, "START", to=SMS_FROM))
        after_start = await contact(app, ChannelName.SMS)
        await bot_api.wait_for_message(OWNER, contains="turned messages back on on sms", timeout=WAIT)
        imaging = while_stopped["edu-imaging"]
        await run_until(app, imaging.send_at)
        rows = await messages_of(app, series.id)
        by_provider = await sent_rows(app)

    assert stopped == ("You will not get any more messages from your care team. Reply START to get them again.")
    assert (after_stop.opted_out, after_stop.status_reason) == (True, "replied STOP")
    assert "Jane Doe" in alert["text"]
    assert while_stopped["edu-what-is-chronic-pain"].status is MessageStatus.SKIPPED
    assert while_stopped["edu-what-is-chronic-pain"].last_error == "skip.opted_out"
    assert sent_while_stopped == 1, "nothing may go to a number that replied STOP"

    assert started == ("Welcome back: your messages are on again. Reply STOP at any time to stop them.")
    assert (after_start.opted_out, after_start.reachable) == (False, True)
    assert (rows["edu-imaging"].status, rows["edu-imaging"].channel) == (MessageStatus.SENT, ChannelName.SMS)
    assert [by_provider[m.sid].step_key for m in twilio.messages] == ["welcome", "edu-imaging"]


async def test_help_is_answered_and_changes_nothing(database_url, clock, twilio):
    settings = inbound_settings(database_url, twilio=twilio)
    async with running_app(settings, clock) as app:
        await enrol_patient(app, contacts=[(ChannelName.SMS, PATIENT_PHONE)])

        replies = [
            twiml_reply(await twilio.send_inbound(inbound_url(app), PATIENT_PHONE, word, to=SMS_FROM))
            for word in ("HELP", "info", " Help! ")
        ]
        sms = await contact(app, ChannelName.SMS)

    assert (
        replies
        == [
            f"Messages from your care team. Reply STOP to stop them, START to get them again. "
            f"Questions? Call {CLINIC_PHONE}."
        ]
        * 3
    )
    assert (sms.opted_out, sms.reachable) == (False, True)


@pytest.mark.parametrize("word", ["stop", "Stop.", "UNSUBSCRIBE", "cancel", "end", "quit", "STOPALL"])
async def test_every_carrier_stop_word_opts_out(database_url, clock, twilio, word):
    settings = inbound_settings(database_url, twilio=twilio)
    async with running_app(settings, clock) as app:
        await enrol_patient(app, contacts=[(ChannelName.SMS, PATIENT_PHONE)])

        reply = twiml_reply(await twilio.send_inbound(inbound_url(app), PATIENT_PHONE, word, to=SMS_FROM))
        sms = await contact(app, ChannelName.SMS)

    assert reply is not None and reply.startswith("You will not get any more messages")
    assert sms.opted_out is True


async def test_stop_on_whatsapp_stops_whatsapp_only(database_url, clock, twilio):
    settings = inbound_settings(database_url, twilio=twilio)
    async with running_app(settings, clock) as app:
        series = await enrol_patient(
            app, contacts=[(ChannelName.WHATSAPP, PATIENT_PHONE), (ChannelName.SMS, PATIENT_PHONE)]
        )
        await app.dispatcher.run_due()

        reply = await twilio.send_inbound(
            inbound_url(app), f"whatsapp:{PATIENT_PHONE}", "STOP", to=f"whatsapp:{WHATSAPP_FROM}"
        )
        whatsapp, sms = await contact(app, ChannelName.WHATSAPP), await contact(app, ChannelName.SMS)
        await run_until(app, T0 + timedelta(hours=3))
        rows = await messages_of(app, series.id)

    assert twiml_reply(reply) is not None
    assert (whatsapp.opted_out, sms.opted_out) == (True, False)
    assert rows["welcome"].channel is ChannelName.WHATSAPP
    # The next step goes to the patient's other number, by SMS.
    assert (rows["edu-what-is-chronic-pain"].status, rows["edu-what-is-chronic-pain"].channel) == (
        MessageStatus.SENT,
        ChannelName.SMS,
    )
    assert [m.to for m in twilio.messages] == [f"whatsapp:{PATIENT_PHONE}", PATIENT_PHONE]
