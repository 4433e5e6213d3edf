"""Staff alerts travel the ledger: they survive failed sends and edits, come once per episode, and in digests."""

from __future__ import annotations

from datetime import timedelta

from messenger.db import transaction
from messenger.domain.enums import ChannelName, MessageStatus
from messenger.domain.models import Message, Patient
from tests.bot.conftest import OWNER, PATIENT, invite_code, press, say
from tests.factories import enrol_patient, messages_of, run_until

ENROL = '/enroll name="Pat Doe" first="2026-12-02 10:00" tz=America/Los_Angeles'


async def _alerts(app) -> list[Message]:  # type: ignore[no-untyped-def]
    async with app.sessions() as session:
        from sqlmodel import col, select

        return list((await session.exec(select(Message).where(col(Message.staff_chat_id).is_not(None)))).all())


async def test_an_escalation_survives_a_failed_edit_and_a_failed_send(bot_app, bot_api, clock):
    code = invite_code((await say(bot_api, OWNER, ENROL, expect="Enrolled"))["text"])
    await say(bot_api, PATIENT, f"/start {code}", expect="Your infusions")
    await bot_api.wait_for_message(OWNER, contains="connected on Telegram")
    await bot_app.alarm.wait_idle()
    checkin_at = (await messages_of(bot_app, 1))["checkin-1"].send_at
    await run_until(bot_app, checkin_at)
    checkin = await bot_api.wait_for_message(PATIENT, contains="feeling after infusion 1")
    bot_api.fail_next("editMessageText", status=400, description="Bad Request: message can't be edited")
    bot_api.fail_next("sendMessage", status=500, description="Internal Server Error")

    await press(bot_api, PATIENT, checkin, "9")
    await bot_app.alarm.wait_idle()
    [alert] = [a for a in await _alerts(bot_app) if a.template == "alerts.escalation"]
    assert (alert.status, alert.attempts) == (MessageStatus.PENDING, 1), "the failed send is retried, not dropped"
    clock.set(alert.send_at)
    await bot_app.dispatcher.run_due()
    await press(bot_api, PATIENT, checkin, "9")  # pressing again changes nothing
    await bot_app.alarm.wait_idle()

    escalations = [m for m in bot_api.sent_messages(OWNER) if "check-in: pain 9/10" in m["text"]]
    assert len(escalations) == 1, "the escalation reaches staff exactly once"
    assert [b["text"] for row in escalations[0]["reply_markup"]["inline_keyboard"] for b in row] == [
        "I'm on it",
        "Open patient",
    ]


async def test_a_burst_of_alerts_for_one_chat_goes_as_one_digest(bot_app, bot_api, clock):
    patients = [await enrol_patient(bot_app, name=f"Patient {n}") for n in range(6)]
    async with transaction(bot_app.sessions) as session:
        for series in patients:
            await bot_app.dispatcher.renderer.staff.queue(  # type: ignore[union-attr]
                session, now=clock.now(), key="escalation", patient_id=series.patient_id, reasons="pain 9/10"
            )
    bot_app.dispatcher.channels.pop(ChannelName.CONSOLE, None)

    await bot_app.dispatcher.run_due()

    [digest] = [m for m in bot_api.sent_messages(OWNER) if "need attention" in m["text"]]
    assert digest["text"].startswith("🚨 6 patients need attention:")
    assert "Patient 3 (#4): check-in needs attention" in digest["text"]
    labels = [b["text"] for row in digest["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == [f"Open Patient {n} (#{n + 1})" for n in range(6)]
    assert {a.status for a in await _alerts(bot_app)} == {MessageStatus.SENT}
    assert not [m for m in bot_api.sent_messages(OWNER) if "check-in: pain" in m["text"]], "one digest, not six"


async def test_a_blocked_chat_is_reported_once_per_episode(bot_app, bot_api, clock):
    code = invite_code((await say(bot_api, OWNER, ENROL, expect="Enrolled"))["text"])
    await say(bot_api, PATIENT, f"/start {code}", expect="Your infusions")
    await bot_app.alarm.wait_idle()
    bot_api.block_chat(PATIENT)
    rows = await messages_of(bot_app, 1)
    bot_app.dispatcher.batch_size = 500
    clock.set(max(m.send_at for m in rows.values()) - timedelta(days=1))  # many messages due at once

    await bot_app.dispatcher.run_due()
    await run_until(bot_app, clock.now() + timedelta(days=2))

    unreachable = [m for m in bot_api.sent_messages(OWNER) if "cannot be reached" in m.get("text", "")]
    undeliverable = [m for m in bot_api.sent_messages(OWNER) if "could not be delivered" in m.get("text", "")]
    assert (len(unreachable), len(undeliverable)) == (1, 0)
    async with bot_app.sessions() as session:
        assert (await session.get(Patient, 1)) is not None
