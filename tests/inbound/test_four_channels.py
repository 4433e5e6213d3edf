"""One compressed series, four patients, four channels, the real alarm: every step arrives once and in order."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from messenger.clock import ScaledClock
from messenger.domain.enums import ChannelName, MessageStatus
from messenger.domain.models import Message, Patient
from messenger.rendering.discreet import sensitive_words_in
from messenger.rendering.sms import sms_segments
from messenger.scheduling.dispatcher import Delivery
from tests.bot.conftest import invite_code, say
from tests.conftest import T0
from tests.inbound.support import (
    COMPACT,
    OWNER,
    PATIENT_CHAT,
    WAIT,
    DeliveryLog,
    inbound_settings,
    invitation,
    running_app,
    sent_rows,
)

STEPS = ["welcome", "edu", "reminder-1", "checkin-1", "reminder-2", "checkin-2", "completion"]
COURSE = 'tz=America/Los_Angeles infusions="2026-11-30 12:02, 2026-11-30 12:05"'
SMS_NUMBER = "+15551230011"
WHATSAPP_NUMBER = "+15551230022"
EMAIL = "erin@example.org"
PATIENTS = {  # name → what /enroll is told, beyond the course
    "Tom Telegram": "",
    "Sam Sms": f"phone={SMS_NUMBER}",
    "Wes Whatsapp": f"whatsapp={WHATSAPP_NUMBER}",
    "Erin Email": f"email={EMAIL}",
}


def _completed(deliveries: list[Delivery]) -> bool:
    return sum(d.message.step_key == "completion" and d.status.is_final for d in deliveries) == len(PATIENTS)


@pytest.mark.slow
async def test_the_compact_series_on_telegram_sms_whatsapp_and_email(database_url, twilio, smtp, bot_api):
    # Infusions at 12:02 and 12:05 story time; at 20x a story minute lasts three real seconds, and a
    # reminder may be one story minute late before it is skipped.
    clock = ScaledClock(T0, speed=20, running=False)
    deliveries = DeliveryLog()
    settings = inbound_settings(
        database_url,
        twilio=twilio,
        smtp=smtp,
        bot_api=bot_api,
        series_dir=COMPACT,
        default_series="compact",
        sweep_seconds=5,
    )
    async with running_app(settings, clock, manual=False, listeners=[deliveries]) as app:
        invites = {}
        for name, contact in PATIENTS.items():
            reply = await say(bot_api, OWNER, f'/enroll name="{name}" {COURSE} {contact}', expect="Enrolled")
            invites[name] = invite_code(reply["text"])
        await say(bot_api, PATIENT_CHAT, f"/start {invites['Tom Telegram']}", expect="Your infusions")
        clock.run()
        app.alarm.poke()

        await deliveries.wait_for(_completed, timeout=180)
        await app.alarm.wait_idle()
        await smtp.wait_for(len(STEPS), timeout=WAIT)
        async with app.sessions() as session:
            names = {p.id: p.name for p in (await session.exec(select(Patient))).all()}
            rows = (
                await session.exec(
                    select(Message).where(col(Message.staff_chat_id).is_(None)).order_by(col(Message.id))
                )
            ).all()
        by_provider = await sent_rows(app)

    def steps(provider_ids: list[str]) -> list[tuple[str, str]]:
        return [(names[by_provider[i].patient_id], by_provider[i].step_key) for i in provider_ids]

    received = {
        ChannelName.TELEGRAM: steps([str(m["message_id"]) for m in bot_api.sent_messages(PATIENT_CHAT)]),
        ChannelName.SMS: steps([m.sid for m in twilio.messages if m.to == SMS_NUMBER]),
        ChannelName.WHATSAPP: steps([m.sid for m in twilio.messages if m.to == f"whatsapp:{WHATSAPP_NUMBER}"]),
        ChannelName.EMAIL: steps([m["Message-ID"] for m in smtp.messages]),
    }
    expected = {channel: [(name, step) for step in STEPS] for channel, name in zip(received, PATIENTS, strict=True)}
    assert received == expected  # in order, each once, each to its own patient
    assert len(twilio.messages) == 2 * len(STEPS)
    outcome = {(names[r.patient_id], r.step_key): (r.status, r.channel) for r in rows}
    assert outcome == {
        (name, step): (MessageStatus.SENT, channel) for channel, pairs in expected.items() for name, step in pairs
    }

    for message in twilio.messages:
        if message.to == SMS_NUMBER:
            assert sensitive_words_in(message.body) == [], message.body
            assert sms_segments(message.body).segments <= 2, message.body
    for mail in smtp.messages:
        assert sensitive_words_in(mail["Subject"]) == [], mail["Subject"]
    email_series = next(r.series_id for r in rows if names[r.patient_id] == "Erin Email")
    calendars = [invitation(mail) for mail in smtp.messages]
    assert [(c[0], c[2]) for c in calendars if c is not None] == [
        (f"infusion-{email_series}-{n}@messenger", at)
        for n, at in ((1, T0.replace(minute=2)), (2, T0.replace(minute=5)))
    ]
