"""Twilio's webhooks against replays, repeated parameters, oversized and malformed bodies, on the real web app."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import pytest
from sqlmodel import func, select

from messenger.channels.signing import twilio_signature
from messenger.domain.bookkeeping import WebhookReceipt
from messenger.domain.enums import ChannelName
from tests.factories import enrol_patient
from tests.inbound.support import (
    OWNER,
    PATIENT_PHONE,
    SMS_FROM,
    WAIT,
    audit_actions,
    contact,
    inbound_settings,
    inbound_url,
    post_form,
    running_app,
    status_url,
)

SID = "SM" + "a" * 32


def _form(twilio, body: str, *, sid: str = SID, sender: str = PATIENT_PHONE) -> dict[str, str]:
    return {
        "AccountSid": twilio.account_sid,
        "Body": body,
        "From": sender,
        "MessageSid": sid,
        "SmsStatus": "received",
        "To": SMS_FROM,
    }


async def _post_signed(twilio, url: str, form: dict[str, str]) -> httpx.Response:
    return await post_form(url, form, signature=twilio_signature(twilio.auth_token, url, form))


async def test_a_replayed_stop_changes_nothing_after_start(database_url, clock, twilio):
    async with running_app(inbound_settings(database_url, twilio=twilio), clock) as app:
        await enrol_patient(app, contacts=[(ChannelName.SMS, PATIENT_PHONE)])
        stop = _form(twilio, "STOP", sid="SM" + "1" * 32)
        await _post_signed(twilio, inbound_url(app), stop)
        await _post_signed(twilio, inbound_url(app), _form(twilio, "START", sid="SM" + "2" * 32))

        replay = await _post_signed(twilio, inbound_url(app), stop)
        after = await contact(app, ChannelName.SMS)
        actions = await audit_actions(app)

    assert replay.status_code == 200 and "<Message>" not in replay.text
    assert after.opted_out is False
    assert actions.count("inbound") == 2


async def test_five_replays_of_one_text_give_one_staff_alert(database_url, clock, twilio, bot_api):
    settings = inbound_settings(database_url, twilio=twilio, bot_api=bot_api)
    async with running_app(settings, clock) as app:
        await enrol_patient(app, contacts=[(ChannelName.SMS, PATIENT_PHONE)])
        form = _form(twilio, "my knee hurts since tuesday")
        replies = [await _post_signed(twilio, inbound_url(app), form) for _ in range(5)]
        await bot_api.wait_for_message(OWNER, contains="my knee hurts", timeout=WAIT)
        # One more message from the patient proves alerts still flow, and comes after any stray copy.
        await _post_signed(twilio, inbound_url(app), _form(twilio, "and my hip", sid="SM" + "b" * 32))
        await bot_api.wait_for_message(OWNER, contains="and my hip", timeout=WAIT)
        async with app.sessions() as session:
            receipts = (await session.exec(select(func.count()).select_from(WebhookReceipt))).one()

    assert [r.status_code for r in replies] == [200] * 5
    assert sum("my knee hurts" in (m.get("text") or "") for m in bot_api.sent_messages(OWNER)) == 1
    assert receipts == 2


async def test_a_status_callback_replayed_or_with_a_unicode_error_code_is_harmless(database_url, clock, twilio):
    async with running_app(inbound_settings(database_url, twilio=twilio, public=True), clock) as app:
        await enrol_patient(app, contacts=[(ChannelName.SMS, PATIENT_PHONE)])
        await app.dispatcher.run_due()
        [message] = twilio.messages
        form = {"MessageSid": message.sid, "MessageStatus": "undelivered", "ErrorCode": "²", "To": message.to}

        first = await _post_signed(twilio, status_url(app), form)
        again = await _post_signed(twilio, status_url(app), form)
        actions = await audit_actions(app)

    assert (first.status_code, again.status_code) == (204, 204)
    assert actions.count("delivery_status") == 1


async def test_repeated_parameters_are_signed_as_sent(database_url, clock, twilio):
    async with running_app(inbound_settings(database_url, twilio=twilio), clock) as app:
        await enrol_patient(app, contacts=[(ChannelName.SMS, PATIENT_PHONE)])
        url = inbound_url(app)
        pairs = [
            *_form(twilio, "HELP").items(),
            ("MediaUrl", "https://a.example/1"),
            ("MediaUrl", "https://a.example/0"),
        ]
        signature = twilio_signature(twilio.auth_token, url, pairs)
        async with httpx.AsyncClient(timeout=WAIT) as http:
            response = await http.post(
                url,
                content=urlencode(pairs),
                headers={"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
            )

    assert response.status_code == 200
    assert "care team" in response.text


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param("x" * 70_000, 413, id="oversized"),
        pytest.param("NUL\x00here", 400, id="nul-in-body"),
    ],
)
async def test_oversized_or_control_character_forms_are_refused(database_url, clock, twilio, body, status):
    async with running_app(inbound_settings(database_url, twilio=twilio), clock) as app:
        await enrol_patient(app, contacts=[(ChannelName.SMS, PATIENT_PHONE)])
        response = await _post_signed(twilio, inbound_url(app), _form(twilio, body))
        actions = await audit_actions(app)

    assert response.status_code == status
    assert "inbound" not in actions


async def test_a_nul_in_the_sender_of_a_signed_request_is_a_400_not_a_500(database_url, clock, twilio):
    async with running_app(inbound_settings(database_url, twilio=twilio), clock) as app:
        response = await _post_signed(twilio, inbound_url(app), _form(twilio, "hi", sender="+1555\x00"))
        plain = await _post_signed(twilio, inbound_url(app), _form(twilio, "HELP", sid="SM" + "c" * 32))

    assert response.status_code == 400
    assert plain.status_code == 200


async def test_a_signed_status_too_long_to_be_twilios_is_a_400_not_a_500(database_url, clock, twilio):
    # Found by the fuzz test on PostgreSQL: the receipt's key (SID, status, code) overflowed its column.
    async with running_app(inbound_settings(database_url, twilio=twilio), clock) as app:
        url = status_url(app)
        long_status = await _post_signed(twilio, url, {"MessageSid": "SM" + "d" * 32, "MessageStatus": "A/" * 150})
        plain = await _post_signed(twilio, url, {"MessageSid": "SM" + "d" * 32, "MessageStatus": "delivered"})

    assert long_status.status_code == 400
    assert plain.status_code < 500
