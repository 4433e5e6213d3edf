"""A patient who blocks the bot is reached by SMS through Twilio, and no step reaches them twice."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from messenger.domain.enums import ChannelName, MessageStatus
from tests.bot.conftest import invite_code, say
from tests.conftest import T0
from tests.factories import messages_of, run_until
from tests.inbound.support import (
    OWNER,
    PATIENT_CHAT,
    PATIENT_PHONE,
    WAIT,
    contact,
    inbound_settings,
    running_app,
    sent_rows,
)

ENROL = f'/enroll name="Pat Doe" first="2026-12-02 10:00" tz=America/Los_Angeles phone={PATIENT_PHONE}'


async def test_a_blocked_patient_gets_every_remaining_step_once_by_sms(database_url, clock, twilio, bot_api):
    settings = inbound_settings(database_url, twilio=twilio, bot_api=bot_api)
    async with running_app(settings, clock) as app:
        code = invite_code((await say(bot_api, OWNER, ENROL, expect="Enrolled"))["text"])
        await app.dispatcher.run_due()  # the invite is not opened yet: the welcome goes by SMS
        await say(bot_api, PATIENT_CHAT, f"/start {code}", expect="Your infusions")
        bot_api.block_chat(PATIENT_CHAT)
        tried = len([c for c in bot_api.calls_to("sendMessage") if c.params.get("chat_id") == PATIENT_CHAT])

        await run_until(app, clock.now() + timedelta(hours=3))
        alert = await bot_api.wait_for_message(OWNER, contains="cannot be reached on telegram", timeout=WAIT)
        telegram = await contact(app, ChannelName.TELEGRAM)
        early = [m.sid for m in twilio.messages]
        await run_until(app, T0 + timedelta(days=30))
        rows = await messages_of(app, 1)
        by_provider = await sent_rows(app)

    assert telegram.reachable is False and telegram.status_reason == "telegram.blocked"
    assert "Pat Doe" in alert["text"]
    assert [by_provider[sid].step_key for sid in early] == ["welcome", "edu-what-is-chronic-pain"]
    attempts = [c for c in bot_api.calls_to("sendMessage") if c.params.get("chat_id") == PATIENT_CHAT]
    assert len(attempts) == tried + 1, "one refused attempt on Telegram, then SMS only"

    # Every step once, across both channels.
    assert {key: row.status for key, row in rows.items()} == dict.fromkeys(rows, MessageStatus.SENT)
    delivered = [by_provider[m.sid].step_key for m in twilio.messages]
    delivered += [
        by_provider[str(m["message_id"])].step_key
        for m in bot_api.sent_messages(PATIENT_CHAT)
        if str(m["message_id"]) in by_provider
    ]
    assert Counter(delivered) == Counter(rows.keys())
    assert {row.channel for row in rows.values()} == {ChannelName.SMS}
    assert [m.to for m in twilio.messages] == [PATIENT_PHONE] * len(rows)
    assert [by_provider[m.sid].step_key for m in twilio.messages] == sorted(
        rows, key=lambda key: (rows[key].sent_at, rows[key].id)
    )
