"""The patient's voice by SMS: crisis replies, staff replies, check-in answers in words, follow-up."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from messenger.domain.catalog import SHIPPED_SERIES_DIR
from messenger.domain.enums import ChannelName
from messenger.domain.models import Answer, ConversationEntry, StaffAlert
from tests.bot.conftest import buttons, press, say
from tests.factories import enrol_patient, messages_of, run_until
from tests.inbound.support import (
    CLINIC_PHONE,
    OWNER,
    PATIENT_PHONE,
    SMS_FROM,
    WAIT,
    inbound_settings,
    inbound_url,
    running_app,
    twiml_reply,
)


async def test_a_crisis_by_sms_gets_988_and_911_and_staff_an_urgent_alert(database_url, clock, twilio, bot_api):
    settings = inbound_settings(database_url, twilio=twilio, bot_api=bot_api)
    async with running_app(settings, clock) as app:
        await enrol_patient(app, contacts=[(ChannelName.SMS, PATIENT_PHONE)])
        answer = twiml_reply(
            await twilio.send_inbound(inbound_url(app), PATIENT_PHONE, "i want to end it all", to=SMS_FROM)
        )
        alert = await bot_api.wait_for_message(OWNER, contains="URGENT", timeout=WAIT)
        negated = twiml_reply(
            await twilio.send_inbound(inbound_url(app), PATIENT_PHONE, "I'm not suicidal, just sore", to=SMS_FROM)
        )
        async with app.sessions() as session:
            entries = (await session.exec(select(ConversationEntry).order_by(col(ConversationEntry.id)))).all()

    assert answer is not None and "988" in answer and "911" in answer and CLINIC_PHONE in answer
    assert "Ketamine" not in answer, "an SMS shows on a lock screen"
    assert alert["text"].startswith("🚨 URGENT") and "i want to end it all" in alert["text"]
    assert negated is not None and "988" not in negated and "911" not in negated
    assert [(e.channel, e.level) for e in entries] == [(ChannelName.SMS, "crisis"), (ChannelName.SMS, "routine")]


async def test_a_staff_reply_reaches_an_sms_patient_with_the_clinics_name(database_url, clock, twilio, bot_api):
    settings = inbound_settings(database_url, twilio=twilio, bot_api=bot_api, clinic_name="Harbor Pain Clinic")
    async with running_app(settings, clock) as app:
        series = await enrol_patient(app, contacts=[(ChannelName.SMS, PATIENT_PHONE)])
        await twilio.send_inbound(inbound_url(app), PATIENT_PHONE, "what time is my visit?", to=SMS_FROM)
        await bot_api.wait_for_message(OWNER, contains="what time", timeout=WAIT)

        confirmation = await say(
            bot_api, OWNER, f"/reply {series.patient_id} At 10:00, see you then.", expect="is on its way"
        )
        inbox = await say(bot_api, OWNER, "/inbox")

    [reply] = [m for m in twilio.messages if m.to == PATIENT_PHONE and "see you then" in m.body]
    assert reply.body == "Harbor Pain Clinic: At 10:00, see you then."
    assert reply.from_ == SMS_FROM
    assert confirmation["text"] == f"Your reply to Jane Doe (#{series.patient_id}) is on its way by sms."
    assert inbox["text"] == "No patient is waiting for an answer."


async def test_pain_in_words_and_yes_in_context(database_url, clock, twilio, bot_api):
    settings = inbound_settings(database_url, twilio=twilio, bot_api=bot_api)
    async with running_app(settings, clock) as app:
        series = await enrol_patient(app, contacts=[(ChannelName.SMS, PATIENT_PHONE)])
        await run_until(app, (await messages_of(app, series.id))["checkin-1"].send_at)

        async def text(body: str) -> str | None:
            return twiml_reply(await twilio.send_inbound(inbound_url(app), PATIENT_PHONE, body, to=SMS_FROM))

        yes_to_pain = await text("yes")
        pain = await text("8/10")
        async with app.sessions() as session:
            answers = (await session.exec(select(Answer))).all()

    assert yes_to_pain is not None and yes_to_pain.startswith("Sorry, I did not understand.")
    assert "Welcome back" not in yes_to_pain
    assert pain is not None and pain.startswith("Thanks. How is your mood today?")
    assert [(a.question, a.score, a.escalated) for a in answers] == [("pain", 8, True)]


async def test_a_rise_from_the_first_checkin_escalates(database_url, clock, twilio, bot_api):
    settings = inbound_settings(database_url, twilio=twilio, bot_api=bot_api)
    async with running_app(settings, clock) as app:
        series = await enrol_patient(app, contacts=[(ChannelName.SMS, PATIENT_PHONE)])

        async def answer_checkin(key: str, pain: str) -> None:
            await run_until(app, (await messages_of(app, series.id))[key].send_at)
            for body in (pain, "4", "no"):
                await twilio.send_inbound(inbound_url(app), PATIENT_PHONE, body, to=SMS_FROM)

        await answer_checkin("checkin-1", "pain 3")
        await answer_checkin("checkin-2", "5")
        alert = await bot_api.wait_for_message(OWNER, contains="up 2 from 3", timeout=WAIT)
        async with app.sessions() as session:
            pains = (await session.exec(select(Answer).where(Answer.question == "pain").order_by(col(Answer.id)))).all()

    assert [(a.score, a.escalated) for a in pains] == [(3, False), (5, True)]
    assert "pain 5/10, up 2 from 3 at the first check-in" in alert["text"]


async def test_an_unanswered_checkin_gets_one_reminder_then_staff_hear_of_it(database_url, clock, twilio, bot_api):
    settings = inbound_settings(database_url, twilio=twilio, bot_api=bot_api)
    async with running_app(settings, clock) as app:
        series = await enrol_patient(app, contacts=[(ChannelName.SMS, PATIENT_PHONE)])
        await run_until(app, (await messages_of(app, series.id))["checkin-1"].send_at)
        sent_before = len(twilio.messages)

        clock.advance(timedelta(hours=3, minutes=59))
        early = await app.followups.run()
        clock.advance(timedelta(minutes=1))
        reminded = await app.followups.run()
        again = await app.followups.run()
        clock.advance(timedelta(hours=4))
        reported = await app.followups.run()
        alert = await bot_api.wait_for_message(OWNER, contains="has not answered", timeout=WAIT)
        answer = twiml_reply(await twilio.send_inbound(inbound_url(app), PATIENT_PHONE, "7", to=SMS_FROM))

    assert (early.reminded, reminded.reminded, again.reminded, reported.reported) == (0, 1, 0, 1)
    [reminder] = [m for m in twilio.messages[sent_before:] if "reminder" in m.body]
    assert reminder.body.startswith("A gentle reminder from your care team")
    assert "infusion 1" in alert["text"]
    assert answer is not None and answer.startswith("Thanks. How is your mood today?"), "the reminder is answerable"


async def test_the_thanks_for_escalated_answers_promise_only_what_the_series_says(
    database_url, clock, twilio, bot_api, tmp_path
):
    shipped = (SHIPPED_SERIES_DIR / "ketamine-chronic-pain.toml").read_text(encoding="utf-8")
    promised = shipped.replace('# reply_time = "within one working day"', 'reply_time = "within one working day"')
    assert promised != shipped
    (tmp_path / "ketamine-chronic-pain.toml").write_text(promised, encoding="utf-8")
    replies = {}
    for series_dir in (None, tmp_path):
        settings = inbound_settings(database_url, twilio=twilio, bot_api=bot_api, series_dir=series_dir)
        async with running_app(settings, clock) as app:
            series = await enrol_patient(app, contacts=[(ChannelName.SMS, PATIENT_PHONE)])
            await run_until(app, (await messages_of(app, series.id))["checkin-1"].send_at)
            for body in ("9", "4", "no"):
                reply = twiml_reply(await twilio.send_inbound(inbound_url(app), PATIENT_PHONE, body, to=SMS_FROM))
            replies[series_dir] = reply
        clock.advance(timedelta(days=30))

    assert (
        replies[None]
        == f"Thank you. Your care team has been told about your answers. If it is urgent, call {CLINIC_PHONE}."
    )
    assert replies[tmp_path] == (
        "Thank you. Your care team has been told about your answers and will contact you within one working day. "
        f"If it is urgent, call {CLINIC_PHONE}."
    )


async def test_a_spanish_patient_in_crisis_is_answered_in_spanish(database_url, clock, twilio, bot_api):
    settings = inbound_settings(database_url, twilio=twilio, bot_api=bot_api)
    async with running_app(settings, clock) as app:
        await enrol_patient(app, contacts=[(ChannelName.SMS, PATIENT_PHONE)], locale="es")
        answer = twiml_reply(
            await twilio.send_inbound(inbound_url(app), PATIENT_PHONE, "No sé, ya no puedo más", to=SMS_FROM)
        )
        alert = await bot_api.wait_for_message(OWNER, contains="URGENT", timeout=WAIT)

    assert answer is not None and answer.startswith("Usted importa")
    assert "988" in answer and "911" in answer and CLINIC_PHONE in answer
    assert "ya no puedo más" in alert["text"], "staff read the patient's own words"


async def test_an_escalation_is_taken_with_im_on_it_and_never_sent_again(database_url, clock, twilio, bot_api):
    settings = inbound_settings(database_url, twilio=twilio, bot_api=bot_api)
    async with running_app(settings, clock) as app:
        series = await enrol_patient(app, contacts=[(ChannelName.SMS, PATIENT_PHONE)])
        await run_until(app, (await messages_of(app, series.id))["checkin-1"].send_at)
        for body in ("9", "4", "no"):
            await twilio.send_inbound(inbound_url(app), PATIENT_PHONE, body, to=SMS_FROM)
        alert = await bot_api.wait_for_message(OWNER, contains="pain 9/10", timeout=WAIT)
        clock.advance(timedelta(minutes=30))
        not_again = (await app.followups.run()).renotified
        await press(bot_api, OWNER, alert, "I'm on it")
        await bot_api.wait_for(
            lambda api: any("Taken by" in m["text"] for m in api.sent_messages(OWNER) if "pain 9/10" in m["text"])
        )
        async with app.sessions() as session:
            [record] = (await session.exec(select(StaffAlert))).all()

    assert "I'm on it" in buttons(alert)
    assert not_again == 0, "an escalation is not urgent: it is taken, not sent again"
    assert (record.key, record.urgent) == ("escalation", False)
    assert record.acknowledged_at == clock.now() and record.acknowledged_by == OWNER
