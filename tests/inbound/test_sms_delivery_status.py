"""Twilio's later word on a sent SMS: a dead or unsubscribed number sends the step to the patient's next contact."""

from __future__ import annotations

from datetime import timedelta

import pytest

from messenger.domain.enums import ChannelName, MessageStatus
from tests.conftest import T0
from tests.factories import enrol_patient, messages_of, run_until
from tests.inbound.support import (
    OWNER,
    PATIENT_EMAIL,
    PATIENT_PHONE,
    SMS_FROM,
    WAIT,
    contact,
    inbound_settings,
    inbound_url,
    running_app,
    sent_rows,
    twiml_reply,
)

# (Twilio error code in the callback, what it says about the number, the alert staff get)
LOSSES = [
    (
        30006,
        "unreachable",
        "cannot be reached on sms: the number is a landline or its carrier cannot be reached (Twilio 30006)",
    ),
    (21211, "unreachable", "cannot be reached on sms: the phone number is not valid (Twilio 21211)"),
    (21610, "opted out", "stopped messages on sms"),
]


@pytest.mark.parametrize(("code", "loss", "alert"), LOSSES, ids=[str(case[0]) for case in LOSSES])
async def test_an_undelivered_sms_goes_to_the_next_contact_once(
    database_url, clock, twilio, smtp, bot_api, code, loss, alert
):
    settings = inbound_settings(database_url, twilio=twilio, smtp=smtp, bot_api=bot_api, public=True)
    async with running_app(settings, clock) as app:
        series = await enrol_patient(
            app, contacts=[(ChannelName.SMS, PATIENT_PHONE), (ChannelName.EMAIL, PATIENT_EMAIL)]
        )
        await app.dispatcher.run_due()
        [sms] = twilio.messages

        reply = await twilio.send_status_callback(sms.sid, "undelivered", error_code=code)
        assert reply.status == 204, reply
        requeued = (await messages_of(app, series.id))["welcome"]
        lost = await contact(app, ChannelName.SMS)
        staff = await bot_api.wait_for_message(OWNER, contains=alert, timeout=WAIT)
        await app.dispatcher.run_due()
        [welcome_mail] = await smtp.wait_for(1, timeout=WAIT)
        # Twilio retries a webhook it thinks failed: the same word again changes nothing.
        again = await twilio.send_status_callback(sms.sid, "undelivered", error_code=code)
        await run_until(app, T0 + timedelta(hours=3))
        mails = await smtp.wait_for(2, timeout=WAIT)
        rows = await messages_of(app, series.id)
        by_provider = await sent_rows(app)

    assert (reply.status, again.status) == (204, 204)
    # Back in the queue with the report (the alarm, woken by the webhook, may already be sending it on).
    assert requeued.status in (MessageStatus.PENDING, MessageStatus.SENDING, MessageStatus.SENT)
    assert requeued.provider_id != sms.sid
    assert str(code) in (requeued.last_error or "")
    assert (lost.reachable, lost.opted_out) == ((False, False) if loss == "unreachable" else (True, True))
    assert PATIENT_PHONE not in (lost.status_reason or "") and PATIENT_PHONE not in staff["text"]
    assert (rows["welcome"].status, rows["welcome"].channel) == (MessageStatus.SENT, ChannelName.EMAIL)
    assert rows["welcome"].provider_id == welcome_mail["Message-ID"]
    assert (rows["edu-what-is-chronic-pain"].channel, rows["edu-what-is-chronic-pain"].status) == (
        ChannelName.EMAIL,
        MessageStatus.SENT,
    )
    # Each step arrived once: the welcome by SMS (lost), then by e-mail; nothing more by SMS.
    assert len(twilio.messages) == 1
    assert [by_provider[m["Message-ID"]].step_key for m in mails] == ["welcome", "edu-what-is-chronic-pain"]
    assert len(smtp.messages) == 2


async def test_a_delivered_status_changes_nothing(database_url, clock, twilio, smtp):
    settings = inbound_settings(database_url, twilio=twilio, smtp=smtp, public=True)
    async with running_app(settings, clock) as app:
        series = await enrol_patient(
            app, contacts=[(ChannelName.SMS, PATIENT_PHONE), (ChannelName.EMAIL, PATIENT_EMAIL)]
        )
        await app.dispatcher.run_due()
        [sms] = twilio.messages

        for status in ("queued", "sent", "delivered"):
            assert (await twilio.send_status_callback(sms.sid, status)).status == 204
        await app.dispatcher.run_due()
        welcome = (await messages_of(app, series.id))["welcome"]
        sms_contact = await contact(app, ChannelName.SMS)

    assert (welcome.status, welcome.channel, welcome.provider_id) == (MessageStatus.SENT, ChannelName.SMS, sms.sid)
    assert (sms_contact.reachable, sms_contact.opted_out) == (True, False)
    assert smtp.messages == []


async def test_an_sms_that_never_arrived_is_reported_to_staff(database_url, clock, twilio, bot_api):
    settings = inbound_settings(database_url, twilio=twilio, bot_api=bot_api, public=True)
    async with running_app(settings, clock) as app:
        series = await enrol_patient(app, contacts=[(ChannelName.SMS, PATIENT_PHONE)])
        await app.dispatcher.run_due()
        [sms] = twilio.messages

        # 30003: "Unreachable destination handset" (switched off, out of coverage for days).
        reply = await twilio.send_status_callback(sms.sid, "undelivered", error_code=30003)
        welcome = (await messages_of(app, series.id))["welcome"]
        # The alert was written with the report, before the webhook answered; the dispatcher sends it.
        await bot_api.wait_for_message(OWNER, contains="could not be delivered", timeout=WAIT)
        alerts = [m["text"] for m in bot_api.sent_messages(OWNER) if "could not be delivered" in m["text"]]

    assert reply.status == 204
    assert (welcome.status, welcome.last_error) == (MessageStatus.FAILED, "twilio.30003")
    assert alerts, "the welcome never reached the patient and nobody at the clinic was told"
    assert "on any channel: the carrier could not deliver it (Twilio 30003)." in alerts[0]


async def test_a_step_resent_by_email_does_not_keep_the_lost_sms_report(database_url, clock, twilio, smtp):
    settings = inbound_settings(database_url, twilio=twilio, smtp=smtp, public=True)
    async with running_app(settings, clock) as app:
        series = await enrol_patient(
            app, contacts=[(ChannelName.SMS, PATIENT_PHONE), (ChannelName.EMAIL, PATIENT_EMAIL)]
        )
        await app.dispatcher.run_due()
        [sms] = twilio.messages
        assert (await twilio.send_status_callback(sms.sid, "undelivered", error_code=30006)).status == 204
        await app.dispatcher.run_due()
        [mail] = await smtp.wait_for(1, timeout=WAIT)
        await app.alarm.wait_idle()  # the webhook woke the alarm too: whichever sent it, it is recorded
        welcome = (await messages_of(app, series.id))["welcome"]

    assert (welcome.status, welcome.channel, welcome.provider_id) == (
        MessageStatus.SENT,
        ChannelName.EMAIL,
        mail["Message-ID"],
    )
    assert welcome.provider_status != "undelivered", "the e-mail was not reported undelivered"


async def test_start_from_a_number_marked_unreachable_turns_its_messages_back_on(database_url, clock, twilio):
    settings = inbound_settings(database_url, twilio=twilio, public=True)
    async with running_app(settings, clock) as app:
        series = await enrol_patient(app, contacts=[(ChannelName.SMS, PATIENT_PHONE)])
        await app.dispatcher.run_due()
        [sms] = twilio.messages
        assert (await twilio.send_status_callback(sms.sid, "undelivered", error_code=30006)).status == 204
        await app.dispatcher.run_due()  # nowhere else to send the welcome

        reply = twiml_reply(await twilio.send_inbound(inbound_url(app), PATIENT_PHONE, "START", to=SMS_FROM))
        number = await contact(app, ChannelName.SMS)
        await run_until(app, T0 + timedelta(hours=3))
        rows = await messages_of(app, series.id)

    assert reply == "Welcome back: your messages are on again. Reply STOP at any time to stop them."
    assert number.reachable is True, "the patient just texted from this number"
    assert (rows["edu-what-is-chronic-pain"].status, rows["edu-what-is-chronic-pain"].channel) == (
        MessageStatus.SENT,
        ChannelName.SMS,
    )
