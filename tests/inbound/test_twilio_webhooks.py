"""Twilio's webhooks on the real web app: only requests signed with the account's token change anything."""

from __future__ import annotations

import logging

import pytest

from messenger.domain.enums import ChannelName, MessageStatus
from tests.factories import enrol_patient, messages_of
from tests.inbound.support import (
    CLINIC_PHONE,
    PATIENT_PHONE,
    SMS_FROM,
    audit_actions,
    contact,
    inbound_settings,
    inbound_url,
    post_form,
    running_app,
    signed,
    status_form,
    status_url,
    twiml_reply,
)

PRIVATE_TEXT = "my neighbour Rosalind knows my code zq-8842"


def inbound_form(twilio, body: str, sender: str = PATIENT_PHONE) -> dict[str, str]:
    return {
        "AccountSid": twilio.account_sid,
        "ApiVersion": "2010-04-01",
        "Body": body,
        "From": sender,
        "MessageSid": "SM" + "7" * 32,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "To": SMS_FROM,
    }


def _no_private_data(caplog: pytest.LogCaptureFixture, *texts: str) -> None:
    lines = [record.getMessage() for record in caplog.records]
    digits = PATIENT_PHONE.removeprefix("+")
    for line in lines:
        assert digits not in line and digits[-7:] not in line, line
        for text in texts:
            assert text not in line, line


@pytest.mark.parametrize("public", [False, True], ids=["request-url", "public-url"])
async def test_a_signed_inbound_message_is_answered_with_twiml(database_url, clock, twilio, public):
    settings = inbound_settings(database_url, twilio=twilio, public=public)
    async with running_app(settings, clock) as app:
        await enrol_patient(app, contacts=[(ChannelName.SMS, PATIENT_PHONE)])

        reply = await twilio.send_inbound(inbound_url(app), PATIENT_PHONE, "HELP", to=SMS_FROM)
        stranger = await twilio.send_inbound(inbound_url(app), "+15559870000", "HELP", to=SMS_FROM)

        actions = await audit_actions(app)

    text = twiml_reply(reply)
    assert text is not None and text.startswith("Messages from your care team. Reply STOP to stop them")
    assert CLINIC_PHONE in text
    assert reply.body.startswith('<?xml version="1.0" encoding="UTF-8"?><Response><Message>')
    # A number the clinic does not know gets an empty answer: whoever it is learns nothing.
    assert twiml_reply(stranger) is None
    assert actions.count("inbound") == 1


@pytest.mark.parametrize("forgery", ["missing", "other-token", "changed-body", "other-url"])
async def test_an_inbound_request_without_a_valid_signature_is_refused(database_url, clock, twilio, caplog, forgery):
    settings = inbound_settings(database_url, twilio=twilio)
    async with running_app(settings, clock) as app:
        await enrol_patient(app, contacts=[(ChannelName.SMS, PATIENT_PHONE)])
        url = inbound_url(app)
        before = await audit_actions(app)

        replies = []
        with caplog.at_level(logging.DEBUG):
            for body in ("STOP", PRIVATE_TEXT):
                form = inbound_form(twilio, body)
                signature = {
                    "missing": None,
                    "other-token": signed("not-" + twilio.auth_token, url, form),
                    "changed-body": signed(twilio.auth_token, url, inbound_form(twilio, "HELP")),
                    "other-url": signed(twilio.auth_token, url.replace("/twilio/inbound", "/twilio/status"), form),
                }[forgery]
                replies.append(await post_form(url, form, signature=signature))

        sms = await contact(app, ChannelName.SMS)
        after = await audit_actions(app)

    assert [(r.status_code, r.text) for r in replies] == [(403, "invalid signature")] * 2
    assert sms.opted_out is False and sms.status_reason is None
    assert after == before  # no answer stored, no opt-out, nothing forwarded
    rejected = [r.getMessage() for r in caplog.records if "rejected a Twilio request" in r.getMessage()]
    assert len(rejected) == 2 and all("/twilio/inbound" in line for line in rejected)
    _no_private_data(caplog, "STOP", PRIVATE_TEXT, "zq-8842", "Rosalind")


async def test_a_signed_status_callback_is_accepted(database_url, clock, twilio):
    settings = inbound_settings(database_url, twilio=twilio, public=True)
    async with running_app(settings, clock) as app:
        series = await enrol_patient(app, contacts=[(ChannelName.SMS, PATIENT_PHONE)])
        await app.dispatcher.run_due()
        [sms] = twilio.messages
        callback = status_url(app)

        replies = [await twilio.send_status_callback(sms.sid, status) for status in ("sent", "delivered")]

        welcome = (await messages_of(app, series.id))["welcome"]
        actions = await audit_actions(app)

    assert sms.status_callback == callback
    assert [(r.status, r.body) for r in replies] == [(204, "")] * 2
    assert (welcome.status, welcome.channel, welcome.provider_id) == (MessageStatus.SENT, ChannelName.SMS, sms.sid)
    assert actions.count("delivery_status") == 2


@pytest.mark.parametrize("forgery", ["missing", "other-token", "changed-status"])
async def test_a_status_callback_without_a_valid_signature_changes_nothing(
    database_url, clock, twilio, caplog, forgery
):
    settings = inbound_settings(database_url, twilio=twilio, public=True)
    async with running_app(settings, clock) as app:
        series = await enrol_patient(app, contacts=[(ChannelName.SMS, PATIENT_PHONE)])
        await app.dispatcher.run_due()
        [sms] = twilio.messages
        url = status_url(app)
        # "Unsubscribed recipient": if believed, this would opt the patient out and resend the step.
        form = status_form(twilio, sms, "undelivered", error_code=21610)
        signature = {
            "missing": None,
            "other-token": signed("not-" + twilio.auth_token, url, form),
            "changed-status": signed(twilio.auth_token, url, status_form(twilio, sms, "delivered")),
        }[forgery]
        before = await audit_actions(app)

        with caplog.at_level(logging.DEBUG):
            reply = await post_form(url, form, signature=signature)
        await app.dispatcher.run_due()

        welcome = (await messages_of(app, series.id))["welcome"]
        sms_contact = await contact(app, ChannelName.SMS)
        after = await audit_actions(app)

    assert (reply.status_code, reply.text) == (403, "invalid signature")
    assert (welcome.status, welcome.provider_id) == (MessageStatus.SENT, sms.sid)
    assert sms_contact.opted_out is False and sms_contact.reachable is True
    assert after == before
    assert len(twilio.messages) == 1
    rejected = [r.getMessage() for r in caplog.records if "rejected a Twilio request" in r.getMessage()]
    assert rejected and all("/twilio/status" in line for line in rejected)
    _no_private_data(caplog, sms.sid)
