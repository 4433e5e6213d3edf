"""Erasing a patient (by an owner in the bot, or on the server's command line) and purging old free text."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import col, select

from messenger.app import build_app
from messenger.db import transaction
from messenger.domain.enums import ChannelName, MessageStatus
from messenger.domain.models import AuditEvent, Contact, Message, Patient, Series
from tests.bot.conftest import OWNER, STAFF, say
from tests.cli_run import messenger
from tests.factories import enrol_patient

ENROL = '/enroll name="Jane Doe" first="2026-12-02 10:00" tz=America/Los_Angeles phone=+15551230000'
PHONE = "+15551230000"


async def _state(app, patient_id: int = 1) -> tuple[Patient, list[Contact], list[Message], list[AuditEvent]]:
    async with app.sessions() as session:
        patient = await session.get(Patient, patient_id)
        contacts = list((await session.exec(select(Contact))).all())
        messages = list((await session.exec(select(Message).where(Message.patient_id == patient_id))).all())
        events = list((await session.exec(select(AuditEvent).order_by(col(AuditEvent.id)))).all())
    assert patient is not None
    return patient, contacts, messages, events


async def test_an_owner_forgets_a_patient_and_the_counts_stay(bot_app, bot_api):
    await say(bot_api, OWNER, ENROL, expect="Enrolled")
    _, _, before, _ = await _state(bot_app)

    answer = await say(bot_api, OWNER, "/forget 1", expect="erased")
    card = await say(bot_api, OWNER, "/patient 1", expect="Infusions")
    patient, contacts, after, events = await _state(bot_app)

    assert "Patient #1's personal data is erased" in answer["text"]
    assert patient.name == "#1" and patient.erased_at is not None
    assert contacts == []
    assert len(after) == len(before)
    assert not any(m.status in (MessageStatus.PENDING, MessageStatus.HELD) for m in after)
    assert "Jane" not in card["text"] and PHONE not in card["text"]
    [forget] = [e for e in events if e.action == "forget"]
    assert forget.actor == f"staff:{OWNER}" and forget.patient_id == 1
    assert "Jane" not in str(forget.detail)


async def test_staff_who_are_not_owners_cannot_forget(bot_app, bot_api):
    await say(bot_api, OWNER, ENROL, expect="Enrolled")
    await say(bot_api, OWNER, f"/staff add {STAFF}", expect="now")

    refused = await say(bot_api, STAFF, "/forget 1")
    patient, contacts, _, _ = await _state(bot_app)

    assert "Only owners can erase" in refused["text"]
    assert patient.name == "Jane Doe" and len(contacts) == 1


@pytest.mark.slow  # the real command, three times over
async def test_messenger_forget_on_the_command_line(settings, clock, database_url, tmp_path):
    app = build_app(settings, clock=clock)
    await app.start(migrate=True)
    app.alarm.scheduler.pause()
    try:
        series = await enrol_patient(app, name="Jane Doe", contacts=[(ChannelName.SMS, PHONE)])
    finally:
        await app.stop()

    db = {"MESSENGER_DATABASE_URL": database_url}
    erased = await messenger(tmp_path, "forget", str(series.patient_id), **db)
    bad = await messenger(tmp_path, "forget", "²", **db)
    missing = await messenger(tmp_path, "forget", "999", **db)

    check = build_app(settings, clock=clock)
    try:
        patient, contacts, _, events = await _state(check, series.patient_id)
    finally:
        await check.engine.dispose()
    assert erased.code == 0
    assert erased.lines == [
        f"Patient #{series.patient_id}'s personal data is erased: name, 1 contact(s), provider ids and free text. "
        "Their counts stay; nothing more will be sent to them. This cannot be undone."
    ]
    assert patient.name == f"#{series.patient_id}" and contacts == []
    assert [e.actor.split(":")[0] for e in events if e.action == "forget"] == ["cli"]
    assert (bad.code, bad.lines) == (2, ["² is not a patient id (a number such as 12)."])
    assert (missing.code, missing.lines) == (1, ["There is no patient #999."])


async def test_retention_purges_old_free_text_and_keeps_recent(settings, clock):
    app = build_app(settings.model_copy(update={"retention_days": 30}), clock=clock)
    await app.start()
    app.alarm.scheduler.pause()
    try:
        series = await enrol_patient(app, contacts=[(ChannelName.SMS, PHONE)])
        async with transaction(app.sessions) as session:
            rows = (await session.exec(select(Message).where(Message.series_id == series.id))).all()
            old, recent = rows[0], rows[1]
            old.params = {"text": "what the patient wrote"}
            old.status, old.last_error, old.updated_at = (
                MessageStatus.FAILED,
                f"21610: {PHONE} unsubscribed",
                clock.now() - timedelta(days=31),
            )
            recent.status, recent.last_error, recent.updated_at = (
                MessageStatus.FAILED,
                "kept",
                clock.now() - timedelta(days=29),
            )
        purged = await app.purge()
        async with app.sessions() as session:
            rows_after = (await session.exec(select(Message))).all()
            errors = {m.id: m.last_error for m in rows_after}
            quoted = {m.id: m.params for m in rows_after}
            kept = await session.get(Series, series.id)
    finally:
        await app.stop()

    assert purged is not None and purged.messages == 1
    assert errors[old.id] is None and errors[recent.id] == "kept"
    assert quoted[old.id] is None
    assert kept is not None
