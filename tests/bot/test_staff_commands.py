"""Staff administer patients by commands; everyone else is refused and nothing changes."""

from __future__ import annotations

import logging

import pytest
from sqlmodel import func, select

from messenger.domain.enums import MessageStatus, SeriesStatus
from messenger.domain.models import AuditEvent, Message, Patient, Series
from tests.bot.conftest import OWNER, STAFF, STRANGER, invite_code, say

ENROL = '/enroll name="Jane O\'Hara" first="2026-12-02 10:00" tz=America/Los_Angeles phone=+15551230000'


async def _count(app, model) -> int:
    async with app.sessions() as session:
        return (await session.exec(select(func.count()).select_from(model))).one()


async def test_an_owner_enrols_a_patient_in_one_line(bot_app, bot_api):
    reply = await say(bot_api, OWNER, ENROL, expect="Enrolled")

    text = reply["text"]
    assert "Jane O'Hara" in text and "#1" in text
    for day in (
        "Wednesday, December 2",
        "Saturday, December 5",
        "Tuesday, December 8",
        "Friday, December 11",
        "Monday, December 14",
    ):
        assert f"{day} at 10:00 AM" in text
    assert len(invite_code(text)) >= 32
    async with bot_app.sessions() as session:
        series = (await session.exec(select(Series))).one()
        audit = (await session.exec(select(AuditEvent).where(AuditEvent.action == "enrol"))).one()
    assert series.status is SeriesStatus.ACTIVE
    assert audit.actor == f"staff:{OWNER}"


async def test_staff_list_patients_and_open_a_card(bot_app, bot_api):
    await say(bot_api, OWNER, ENROL, expect="Enrolled")

    listing = await say(bot_api, OWNER, "/patients", expect="Patients")
    card = await say(bot_api, OWNER, "/patient 1", expect="Infusions")

    assert "Jane O'Hara" in listing["text"] and "active" in listing["text"]
    assert "sms" in card["text"] and "Next messages" in card["text"]
    assert "welcome" in card["text"] or "edu-what-is-chronic-pain" in card["text"]


async def test_reschedule_moves_the_infusion_and_warns_outside_the_window(bot_app, bot_api):
    await say(bot_api, OWNER, ENROL, expect="Enrolled")

    moved = await say(bot_api, OWNER, "/reschedule 1 2 2026-12-06 14:30", expect="moved")
    stretched = await say(bot_api, OWNER, "/reschedule 1 5 2026-12-20 10:00", expect="moved")

    assert "Sun, Dec 6, 2026, 2:30 PM PST" in moved["text"]
    assert "no longer fits" not in moved["text"]
    assert "no longer fits" in stretched["text"] and "14" in stretched["text"]


async def test_pause_resume_cancel_and_stats(bot_app, bot_api):
    await say(bot_api, OWNER, ENROL, expect="Enrolled")

    paused = await say(bot_api, OWNER, "/pause 1", expect="paused")
    resumed = await say(bot_api, OWNER, "/resume 1", expect="resumed")
    cancelled = await say(bot_api, OWNER, "/cancel 1", expect="cancelled")
    stats = await say(bot_api, OWNER, "/stats", expect="Patients by status")

    assert "on hold" in paused["text"]
    assert "released" in resumed["text"]
    assert "will not be sent" in cancelled["text"]
    assert "cancelled: 1" in stats["text"]
    async with bot_app.sessions() as session:
        statuses = set((await session.exec(select(Message.status))).all())
    assert MessageStatus.PENDING not in statuses


async def test_a_fresh_invite_replaces_the_old_one(bot_app, bot_api):
    first = invite_code((await say(bot_api, OWNER, ENROL, expect="Enrolled"))["text"])

    second = invite_code((await say(bot_api, OWNER, "/invite 1", expect="New invite"))["text"])

    assert first != second
    refused = await say(bot_api, 7007, f"/start {first}")
    assert "does not work" in refused["text"]


async def test_preview_renders_a_step_for_staff(bot_app, bot_api):
    reply = await say(bot_api, OWNER, "/preview reminder-eve-2", expect="Preview")

    assert "infusion 2 of 5" in reply["text"].lower()
    assert "Friday, December 4" in reply["text"]  # the sample course: infusion 2 three days after 1 December


async def test_owners_manage_staff_and_staff_cannot(bot_app, bot_api):
    added = await say(bot_api, OWNER, f"/staff add {STAFF}", expect="now")
    listing = await say(bot_api, STAFF, "/staff list", expect="Staff")
    refused = await say(bot_api, STAFF, f"/staff remove {OWNER}")
    removed = await say(bot_api, OWNER, f"/staff remove {STAFF}", expect="no longer")
    after = await say(bot_api, STAFF, "/patients")

    assert f"{STAFF} is now staff" in added["text"]
    assert str(OWNER) in listing["text"] and str(STAFF) in listing["text"]
    assert "Only owners" in refused["text"]
    assert str(STAFF) in removed["text"]
    assert "only for clinic staff" in after["text"]


ADMIN_COMMANDS = [
    pytest.param(ENROL, id="enroll-one-line"),
    pytest.param("/enroll", id="enroll-conversation"),
    pytest.param("/patients", id="patients"),
    pytest.param("/patient 1", id="patient"),
    pytest.param("/reschedule 1 2 2026-12-06 14:30", id="reschedule"),
    pytest.param("/pause 1", id="pause"),
    pytest.param("/resume 1", id="resume"),
    pytest.param("/cancel 1", id="cancel"),
    pytest.param("/invite 1", id="invite"),
    pytest.param("/preview welcome", id="preview"),
    pytest.param("/stats", id="stats"),
    pytest.param("/staff list", id="staff-list"),
    pytest.param(f"/staff add {STRANGER} owner", id="staff-add"),
]


@pytest.mark.parametrize("command", ADMIN_COMMANDS)
async def test_every_admin_command_refuses_non_staff_and_changes_nothing(bot_app, bot_api, command):
    await say(bot_api, OWNER, ENROL, expect="Enrolled")
    counts = {m: await _count(bot_app, m) for m in (Patient, Series, Message)}
    async with bot_app.sessions() as session:
        before = [(s.status, s.id) for s in (await session.exec(select(Series))).all()]

    reply = await say(bot_api, STRANGER, command)

    assert reply["text"] == "Sorry, this command is only for clinic staff."
    assert {m: await _count(bot_app, m) for m in counts} == counts
    async with bot_app.sessions() as session:
        assert [(s.status, s.id) for s in (await session.exec(select(Series))).all()] == before
        refused = (await session.exec(select(AuditEvent).where(AuditEvent.action == "refused"))).all()
    assert [e.actor for e in refused] == [f"telegram:{STRANGER}"]


MALFORMED = [
    pytest.param('/enroll name="Jane first=2026-12-02', "double quotes", id="unbalanced-quote"),
    pytest.param('/enroll name=Jane nickname=JJ tz=UTC first="2026-12-02 10:00"', "Unknown field", id="unknown-key"),
    pytest.param('/enroll name=Jane tz=UTC first="2026-13-45 10:00"', "not a date", id="bad-date"),
    pytest.param('/enroll name=Jane tz=Mars/Olympus first="2026-12-02 10:00"', "not a time zone", id="bad-zone"),
    pytest.param('/enroll name=Jane tz=UTC first="2025-01-01 10:00"', "must be in the future", id="first-in-past"),
    pytest.param(
        '/enroll name=Jane tz=UTC infusions="2026-12-05 10:00, 2026-12-02 10:00, 2026-12-08 10:00, '
        '2026-12-10 10:00, 2026-12-12 10:00"',
        "in order",
        id="infusions-out-of-order",
    ),
    pytest.param(
        '/enroll name=Jane tz=UTC infusions="2026-12-02 10:00, 2026-12-03 10:00, 2026-12-04 10:00, '
        '2026-12-05 10:00, 2026-12-06 10:00, 2026-12-07 10:00"',
        "6 were given",
        id="six-infusions",
    ),
    pytest.param(
        '/enroll name=Jane tz=UTC infusions="2026-12-02 10:00, 2026-12-05 10:00, 2026-12-08 10:00, '
        '2026-12-11 10:00, 2026-12-20 10:00"',
        "at most 14",
        id="course-too-long",
    ),
    pytest.param('/enroll tz=UTC first="2026-12-02 10:00"', "Please give name.", id="missing-name"),
    pytest.param(
        '/enroll name=Jane tz=UTC first="2026-12-02 10:00" phone=12345', "does not look like a phone", id="bad-phone"
    ),
    pytest.param(
        '/enroll name=Jane tz=UTC first="2026-12-02 10:00" email=jane@', "not look like a valid e-mail", id="bad-email"
    ),
    pytest.param('/enroll name=Jane tz=UTC first="2026-12-02 10:00" lang=fr', "Patients can read", id="unknown-lang"),
    pytest.param('/enroll name=Jane tz=UTC first="2026-12-02 10:00" series=nope', "no series", id="unknown-series"),
    pytest.param("/patient", "Usage", id="patient-without-id"),
    pytest.param("/patient abc", "not a number", id="patient-bad-id"),
    pytest.param("/patient 999", "no patient #999", id="unknown-patient"),
    pytest.param("/reschedule 1 2", "Usage", id="reschedule-missing-time"),
    pytest.param("/reschedule 1 9 2026-12-06 14:30", "no infusion 9", id="reschedule-no-such-infusion"),
    pytest.param("/reschedule 1 2 tomorrow", "not a date", id="reschedule-bad-date"),
    pytest.param("/reschedule 1 2 2026-12-20 10:00", "must stay after", id="reschedule-out-of-order"),
    pytest.param("/resume 1", "not paused", id="resume-not-paused"),
    pytest.param("/preview nope", "no step", id="preview-unknown-step"),
    pytest.param("/staff fire 12", "Usage", id="staff-bad-action"),
    pytest.param("/staff add 12 boss", "Usage", id="staff-bad-role"),
]


@pytest.mark.parametrize(("command", "sentence"), MALFORMED)
async def test_malformed_commands_get_one_specific_sentence(bot_app, bot_api, caplog, command, sentence):
    await say(bot_api, OWNER, ENROL, expect="Enrolled")
    caplog.set_level(logging.INFO)

    reply = await say(bot_api, OWNER, command)

    assert sentence in reply["text"]
    assert all("Traceback" not in (m.get("text") or "") for m in bot_api.sent_messages())
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert await _count(bot_app, Patient) == 1
