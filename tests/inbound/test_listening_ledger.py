"""What the clinic says to one patient travels the ledger: a staff reply that fails is retried, never lost."""

from __future__ import annotations

from sqlmodel import select

from messenger.domain.enums import ChannelName, MessageStatus, StepKind
from messenger.domain.models import Message
from tests.bot.conftest import say
from tests.factories import enrol_patient
from tests.inbound.support import OWNER, PATIENT_PHONE, SMS_FROM, WAIT, inbound_settings, inbound_url, running_app


async def _direct_rows(app) -> list[Message]:  # type: ignore[no-untyped-def]
    async with app.sessions() as session:
        return list((await session.exec(select(Message).where(Message.kind == StepKind.DIRECT))).all())


async def test_a_staff_reply_whose_send_fails_is_retried_and_arrives_once(database_url, clock, twilio, bot_api):
    settings = inbound_settings(database_url, twilio=twilio, bot_api=bot_api, clinic_name="Harbor Pain Clinic")
    async with running_app(settings, clock) as app:
        series = await enrol_patient(app, contacts=[(ChannelName.SMS, PATIENT_PHONE)])
        await twilio.send_inbound(inbound_url(app), PATIENT_PHONE, "what time is my visit?", to=SMS_FROM)
        await bot_api.wait_for_message(OWNER, contains="what time", timeout=WAIT)
        await app.alarm.wait_idle()
        twilio.fail_next(500)

        await say(bot_api, OWNER, f"/reply {series.patient_id} At 10:00, see you then.", expect="is on its way")
        await app.alarm.wait_idle()
        await app.dispatcher.run_due()  # in case the alarm had not woken yet; a row waiting to retry is not due
        [waiting] = await _direct_rows(app)
        delivered_early = [m for m in twilio.messages if "see you then" in m.body]
        clock.set(waiting.send_at)
        await app.dispatcher.run_due()
        [after] = await _direct_rows(app)

    assert (waiting.status, waiting.attempts, waiting.only_channel) == (MessageStatus.PENDING, 1, ChannelName.SMS)
    assert delivered_early == [], "the provider refused the first try"
    [reply] = [m for m in twilio.messages if m.to == PATIENT_PHONE and "see you then" in m.body]
    assert reply.body == "Harbor Pain Clinic: At 10:00, see you then."
    assert (after.status, after.attempts, after.channel) == (MessageStatus.SENT, 2, ChannelName.SMS)
