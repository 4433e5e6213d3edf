"""Every writer of a row's send time keeps quiet hours and not-after: enrolment, reschedule
and its moved notice, resume, rows released when a contact links, SMS fallback copies and
deliveries rerouted to the next contact. The patient lives in Los Angeles; quiet hours are
21:00-08:00 there."""

from __future__ import annotations

from datetime import timedelta

import pytest

from messenger.channels.twilio import twilio_failure
from messenger.db import transaction
from messenger.domain.enums import ChannelName, MessageStatus, QuietPolicy
from messenger.domain.models import Patient
from messenger.domain.timing import PAST_NOT_AFTER
from messenger.scheduling.dispatcher import Delivery
from messenger.scheduling.fallback import ReminderFallback
from messenger.services import changes
from messenger.services.contacts import WAITING_FOR_CONTACT, release_waiting
from messenger.services.inbound import apply_delivery_status
from tests.factories import LA, enrol_patient, local, messages_of, run_until

PHONE = "+15550100001"
NIGHT = local(LA, 2026, 11, 30, 23, 0)  # enrolment (T0) was at 12:00 that day
MORNING = local(LA, 2026, 12, 1, 8, 0)


async def _reschedule(app, series, number, at):
    async with transaction(app.sessions) as session:
        return await changes.reschedule_infusion(
            session=session,
            catalog=app.catalog,
            clock=app.clock,
            quiet_hours=app.quiet_hours,
            series=await changes.load_series(session, series.id),
            number=number,
            at=at,
            actor="staff:1",
        )


async def _patient(app, series) -> Patient:
    async with app.sessions() as session:
        return await session.get(Patient, series.patient_id)


async def _report_undelivered(app, provider_id: str) -> None:
    """Twilio says the number is dead (21211): the step goes back for the next contact."""
    async with transaction(app.sessions) as session:
        await apply_delivery_status(
            session=session,
            clock=app.clock,
            quiet_hours=app.quiet_hours,
            provider_id=provider_id,
            status="undelivered",
            failure=twilio_failure(21211, ""),
        )


def _sent_keys(channel) -> list[str]:
    return [o.step_key for o in channel.delivered]


# ---- enrolment -----------------------------------------------------------------------


async def test_enrolment_late_in_the_evening_keeps_lessons_for_the_morning(app, clock):
    clock.set(local(LA, 2026, 11, 30, 22, 0))
    series = await enrol_patient(app)

    rows = await messages_of(app, series.id)
    assert rows["welcome"].send_at == clock.now()  # policy "ignore": the welcome answers staff's action
    lesson = rows["edu-what-is-chronic-pain"]  # due two hours after enrolment: midnight
    assert (lesson.due_at, lesson.send_at) == (local(LA, 2026, 12, 1, 0, 0), MORNING)


async def test_a_step_that_could_only_go_too_late_is_skipped_at_enrolment_and_revived_by_a_reschedule(app, clock):
    # Infusion 1 at 07:30: its 08:00 same-day reminder could only arrive after it started.
    series = await enrol_patient(app, first=local(LA, 2026, 12, 2, 7, 30))
    reminder = (await messages_of(app, series.id))["reminder-day-1"]
    assert (reminder.status, reminder.last_error) == (MessageStatus.SKIPPED, PAST_NOT_AFTER)

    await _reschedule(app, series, 1, local(LA, 2026, 12, 2, 10, 0))

    reminder = (await messages_of(app, series.id))["reminder-day-1"]
    assert (reminder.status, reminder.send_at, reminder.last_error) == (
        MessageStatus.PENDING,
        local(LA, 2026, 12, 2, 8, 0),
        None,
    )


# ---- reschedule: the moved notice and the moved steps -----------------------------------


async def test_a_reschedule_at_23_defers_the_moved_notice_to_the_morning(app, clock, channel):
    series = await enrol_patient(app)
    await run_until(app, local(LA, 2026, 11, 30, 20, 0))  # the welcome and the first lesson went out
    before = _sent_keys(channel)
    clock.set(NIGHT)
    new_time = local(LA, 2026, 12, 5, 14, 0)

    await _reschedule(app, series, 2, new_time)
    await app.dispatcher.run_due()

    notice = (await messages_of(app, series.id))["moved-2-1"]
    assert (notice.status, notice.due_at, notice.send_at) == (MessageStatus.PENDING, NIGHT, MORNING)
    assert _sent_keys(channel) == before, "nothing goes out at 23:00"
    await run_until(app, MORNING)
    assert _sent_keys(channel) == [*before, "moved-2-1"]


async def test_a_moved_notice_that_could_only_arrive_after_the_new_time_is_skipped(app, clock, channel):
    series = await enrol_patient(app)
    await run_until(app, local(LA, 2026, 12, 1, 20, 0))  # up to the eve reminder of infusion 1
    clock.set(local(LA, 2026, 12, 1, 23, 0))

    await _reschedule(app, series, 1, local(LA, 2026, 12, 2, 7, 0))  # the next morning, before quiet hours end

    rows = await messages_of(app, series.id)
    assert (rows["moved-1-1"].status, rows["moved-1-1"].last_error) == (MessageStatus.SKIPPED, PAST_NOT_AFTER)
    assert (rows["reminder-day-1"].status, rows["reminder-day-1"].last_error) == (
        MessageStatus.SKIPPED,
        PAST_NOT_AFTER,
    )
    assert rows["reminder-eve-1"].status is MessageStatus.SENT


async def test_steps_a_reschedule_moves_into_the_past_wait_for_the_end_of_quiet_hours(app, clock):
    series = await enrol_patient(app)
    clock.set(local(LA, 2026, 12, 3, 23, 0))  # the 18:00 eve reminder of infusion 2 (Dec 5) is not yet due
    rows = await messages_of(app, series.id)
    assert rows["reminder-eve-2"].send_at == local(LA, 2026, 12, 4, 18, 0)

    # Infusion 2 moves to tomorrow 14:00: its eve reminder (today 18:00) is already past, and the end
    # of quiet hours falls on the infusion's own day, where "Tomorrow: …" is wrong: the same-day
    # reminder covers it (issue 11, point 8).
    await _reschedule(app, series, 2, local(LA, 2026, 12, 4, 14, 0))

    rows = await messages_of(app, series.id)
    eve, day = rows["reminder-eve-2"], rows["reminder-day-2"]
    assert (eve.due_at, eve.not_after) == (local(LA, 2026, 12, 3, 18, 0), local(LA, 2026, 12, 4, 0, 0))
    assert eve.status in (MessageStatus.PENDING, MessageStatus.SKIPPED)
    await app.dispatcher.run_due()
    assert (await messages_of(app, series.id))["reminder-eve-2"].status is MessageStatus.SKIPPED
    assert (day.status, day.send_at) == (MessageStatus.PENDING, local(LA, 2026, 12, 4, 8, 0))


# ---- resume -------------------------------------------------------------------------


async def test_rows_released_by_a_resume_at_23_wait_for_the_morning_in_scheduled_order(app, clock, channel):
    series = await enrol_patient(app)
    async with transaction(app.sessions) as session:
        await changes.pause(
            session=session, clock=clock, series=await changes.load_series(session, series.id), actor="s"
        )
    clock.set(NIGHT)

    async with transaction(app.sessions) as session:
        fresh = await changes.load_series(session, series.id)
        await changes.resume(session=session, clock=clock, quiet_hours=app.quiet_hours, series=fresh, actor="s")
    await app.dispatcher.run_due()

    rows = await messages_of(app, series.id)
    assert rows["welcome"].send_at == NIGHT  # policy "ignore"
    assert rows["edu-what-is-chronic-pain"].send_at == MORNING  # was due at 14:00, held since
    assert _sent_keys(channel) == ["welcome"]
    pending = sorted((m for m in rows.values() if m.status is MessageStatus.PENDING), key=lambda m: (m.due_at, m.id))
    assert [m.send_at for m in pending] == sorted(m.send_at for m in pending)
    assert all(m.send_at >= MORNING for m in pending if m.quiet is QuietPolicy.DEFER)


# ---- rows waiting for a contact --------------------------------------------------------


async def test_rows_released_when_a_contact_links_at_23_wait_for_the_morning(app, clock):
    # Only an SMS number, and this app sends no SMS: every due row waits for a contact.
    series = await enrol_patient(app, contacts=[(ChannelName.SMS, PHONE)])
    await app.dispatcher.run_due()
    clock.set(local(LA, 2026, 11, 30, 14, 0))
    await app.dispatcher.run_due()
    waiting = {k: m for k, m in (await messages_of(app, series.id)).items() if m.last_error == WAITING_FOR_CONTACT}
    assert set(waiting) == {"welcome", "edu-what-is-chronic-pain"}
    clock.set(NIGHT)

    async with transaction(app.sessions) as session:
        released = await release_waiting(
            session=session, clock=clock, quiet_hours=app.quiet_hours, patient_id=series.patient_id
        )

    rows = await messages_of(app, series.id)
    assert released == 2
    assert rows["welcome"].send_at == NIGHT
    assert rows["edu-what-is-chronic-pain"].send_at == MORNING


# ---- SMS fallback copies ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("first_infusion", "copy_at"),
    [
        # Deferred to 08:00 on the infusion's own day, a "Tomorrow" copy is stale (issue 11, point 8).
        pytest.param(local(LA, 2026, 12, 2, 10, 0), None, id="deferred-into-the-infusion-day-no-copy"),
        pytest.param(local(LA, 2026, 12, 2, 7, 30), None, id="morning-after-the-infusion-no-copy"),
    ],
)
async def test_a_fallback_copy_falling_due_at_night_waits_for_the_morning(app, first_infusion, copy_at):
    series = await enrol_patient(
        app, first=first_infusion, contacts=[(ChannelName.CONSOLE, "Jane"), (ChannelName.SMS, PHONE)]
    )
    eve = (await messages_of(app, series.id))["reminder-eve-1"]  # 18:00 the day before
    fallback = ReminderFallback(sessions=app.sessions, delay=timedelta(hours=4), quiet_hours=app.quiet_hours)

    await fallback.on_delivery(
        Delivery(
            message=eve,
            patient=await _patient(app, series),
            status=MessageStatus.SENT,
            at=eve.send_at,
            channel=ChannelName.TELEGRAM,
        )
    )

    copy = (await messages_of(app, series.id)).get("fallback-reminder-eve-1")
    if copy_at is None:
        assert copy is None
    else:
        assert (copy.due_at, copy.send_at, copy.only_channel) == (
            eve.send_at + timedelta(hours=4),
            copy_at,
            ChannelName.SMS,
        )


# ---- deliveries rerouted to the next contact ----------------------------------------------


@pytest.mark.parametrize(
    ("step", "requeued_at"),
    [
        pytest.param("edu-what-is-chronic-pain", MORNING, id="lesson-waits-for-the-morning"),
        pytest.param("welcome", NIGHT, id="urgent-goes-at-once"),
    ],
)
async def test_a_delivery_rerouted_at_23_keeps_quiet_hours(app, clock, step, requeued_at):
    series = await enrol_patient(app)
    await run_until(app, local(LA, 2026, 11, 30, 20, 0))
    sent = (await messages_of(app, series.id))[step]
    clock.set(NIGHT)

    await _report_undelivered(app, sent.provider_id)

    row = (await messages_of(app, series.id))[step]
    assert (row.status, row.send_at, row.provider_id) == (MessageStatus.PENDING, requeued_at, None)


async def test_a_delivery_lost_too_late_for_another_contact_is_failed_not_requeued(app, clock):
    series = await enrol_patient(app)
    await run_until(app, local(LA, 2026, 12, 1, 20, 0))
    eve = (await messages_of(app, series.id))["reminder-eve-1"]
    clock.set(local(LA, 2026, 12, 2, 10, 30))  # the report comes after infusion 1 (10:00) has started

    await _report_undelivered(app, eve.provider_id)

    row = (await messages_of(app, series.id))["reminder-eve-1"]
    assert row.status is MessageStatus.FAILED
    assert "21211" in row.last_error and PAST_NOT_AFTER in row.last_error
