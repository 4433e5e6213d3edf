"""A check-in answered by SMS, one number at a time, and free text forwarded to staff."""

from __future__ import annotations

from sqlmodel import col, select

from messenger.domain.enums import ChannelName, MessageStatus
from messenger.domain.models import Answer
from tests.factories import enrol_patient, messages_of, run_until
from tests.inbound.support import (
    CLINIC_PHONE,
    OWNER,
    PATIENT_PHONE,
    SMS_FROM,
    WAIT,
    contact,
    inbound_settings,
    inbound_url,
    running_app,
    twiml_reply,
)


async def test_a_checkin_answered_by_sms_reaches_staff(database_url, clock, twilio, bot_api):
    settings = inbound_settings(database_url, twilio=twilio, bot_api=bot_api)
    async with running_app(settings, clock) as app:
        series = await enrol_patient(app, contacts=[(ChannelName.SMS, PATIENT_PHONE)])
        checkin = (await messages_of(app, series.id))["checkin-1"]
        await run_until(app, checkin.send_at)
        checkin = (await messages_of(app, series.id))["checkin-1"]
        question = next(m for m in twilio.messages if m.sid == checkin.provider_id)

        async def reply(body: str) -> str | None:
            return twiml_reply(await twilio.send_inbound(inbound_url(app), PATIENT_PHONE, body, to=SMS_FROM))

        pain = await reply("9")
        pain_alert = await bot_api.wait_for_message(OWNER, contains="check-in: pain 9/10", timeout=WAIT)
        mood = await reply("2")
        contact_question = await reply(" yes ")
        contact_alert = await bot_api.wait_for_message(OWNER, contains="check-in: asked to be contacted", timeout=WAIT)
        alerts_after_checkin = len(bot_api.sent_messages(OWNER))
        free_text = await reply("Is it fine to take <b>ibuprofen</b> tonight?")
        forwarded = await bot_api.wait_for_message(OWNER, contains="wrote", timeout=WAIT)
        async with app.sessions() as session:
            answers = (await session.exec(select(Answer).order_by(col(Answer.id)))).all()
        sms = await contact(app, ChannelName.SMS)

    assert (checkin.status, checkin.channel) == (MessageStatus.SENT, ChannelName.SMS)
    assert question.body.startswith("Checking in after your visit 1 of 5.")
    assert pain == "Thanks. How is your mood today? Reply 1 (very low), 2, 3, 4 or 5 (very good)."
    assert mood == "Would you like someone from your care team to contact you? Reply YES or NO."
    assert contact_question == (
        f"Thank you. Your care team has been told about your answers. If it is urgent, call {CLINIC_PHONE}."
    )
    assert [(a.question, a.value, a.score, a.escalated, a.message_id) for a in answers] == [
        ("pain", "9", 9, True, checkin.id),
        ("mood", "2", 2, False, checkin.id),
        ("contact", "yes", None, True, checkin.id),
    ]
    assert "Jane Doe" in pain_alert["text"] and "Jane Doe" in contact_alert["text"]
    assert not any("mood" in m["text"] for m in bot_api.sent_messages(OWNER)), "mood 2 is no emergency"
    # "yes" answered the question: it is not START, and changed nothing about the contact.
    assert (sms.opted_out, sms.status_reason) == (False, None)

    assert free_text == (
        "Thank you, your message is with your care team and someone will read it. "
        f"If it is urgent, call {CLINIC_PHONE}."
    )
    assert len(bot_api.sent_messages(OWNER)) == alerts_after_checkin + 1
    assert "Is it fine to take <b>ibuprofen</b> tonight?" in forwarded["text"]  # as typed, not formatted


async def test_numbers_without_an_open_checkin_are_free_text(database_url, clock, twilio, bot_api):
    settings = inbound_settings(database_url, twilio=twilio, bot_api=bot_api)
    async with running_app(settings, clock) as app:
        await enrol_patient(app, contacts=[(ChannelName.SMS, PATIENT_PHONE)])
        await app.dispatcher.run_due()  # the welcome: no check-in has been sent yet

        reply = twiml_reply(await twilio.send_inbound(inbound_url(app), PATIENT_PHONE, "9", to=SMS_FROM))
        forwarded = await bot_api.wait_for_message(OWNER, contains="wrote", timeout=WAIT)
        async with app.sessions() as session:
            answers = (await session.exec(select(Answer))).all()

    assert reply is not None and reply.startswith("Thank you, your message is with your care team")
    assert "9" in forwarded["text"]
    assert answers == []
