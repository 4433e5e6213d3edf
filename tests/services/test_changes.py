"""Rescheduling, pausing, resuming and cancelling a running series."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from sqlmodel import select

from messenger.db import transaction
from messenger.domain.enums import InfusionStatus, MessageStatus, SeriesStatus
from messenger.domain.models import AuditEvent, Infusion
from messenger.services import changes
from messenger.services.errors import ServiceError
from tests.factories import days_later_at, enrol_patient, messages_of, statuses


async def _reschedule(app, series, number, at):
    async with transaction(app.sessions) as session:
        fresh = await changes.load_series(session, series.id)
        return await changes.reschedule_infusion(
            session=session,
            catalog=app.catalog,
            clock=app.clock,
            quiet_hours=app.quiet_hours,
            series=fresh,
            number=number,
            at=at,
            actor="staff:1",
        )


async def _apply(app, series, operation, **kwargs):
    async with transaction(app.sessions) as session:
        fresh = await changes.load_series(session, series.id)
        return await operation(session=session, clock=app.clock, series=fresh, actor="staff:1", **kwargs)


async def test_rescheduling_moves_the_pending_steps_of_that_infusion_only(app, clock):
    series = await enrol_patient(app)
    before = await messages_of(app, series.id)
    new_time = before["reminder-day-3"].not_after + timedelta(days=1, hours=4)  # the next day, 14:00

    result = await _reschedule(app, series, 3, new_time)

    after = await messages_of(app, series.id)
    anchored = {k for k, m in before.items() if m.infusion_number == 3}
    assert anchored == {
        "reminder-eve-3",
        "reminder-day-3",
        "checkin-3",
        "edu-mood-and-pain",
        "edu-nmda-neuroplasticity",
    }
    assert result.moved == len(anchored)
    assert after["reminder-day-3"].not_after == new_time
    assert after["reminder-eve-3"].send_at == days_later_at(new_time, -1, time(18, 0))
    assert after["checkin-3"].send_at == days_later_at(new_time, 1, time(11, 0))
    unchanged = set(before) - anchored
    assert {k: after[k].send_at for k in unchanged} == {k: before[k].send_at for k in unchanged}


async def test_rescheduling_leaves_sent_messages_sent(app, clock):
    series = await enrol_patient(app)
    rows = await messages_of(app, series.id)
    clock.set(rows["reminder-eve-1"].send_at)
    await app.dispatcher.run_due()
    assert (await statuses(app, series.id))["reminder-eve-1"] is MessageStatus.SENT
    sent_at = (await messages_of(app, series.id))["reminder-eve-1"].sent_at

    await _reschedule(app, series, 1, rows["reminder-day-1"].not_after + timedelta(hours=6))

    after = await messages_of(app, series.id)
    assert after["reminder-eve-1"].status is MessageStatus.SENT
    assert after["reminder-eve-1"].sent_at == sent_at
    assert after["reminder-day-1"].status is MessageStatus.PENDING


async def test_a_course_stretched_past_the_window_is_allowed_with_a_warning(app):
    series = await enrol_patient(app)
    rows = await messages_of(app, series.id)

    result = await _reschedule(app, series, 5, rows["reminder-day-5"].not_after + timedelta(days=3))

    assert result.warning is not None
    assert result.warning.key == "course.span" and result.warning.params["max_days"] == 14
    async with app.sessions() as session:
        audit = (await session.exec(select(AuditEvent).where(AuditEvent.action == "reschedule"))).one()
    assert audit.detail["infusion"] == 5


@pytest.mark.parametrize(
    ("number", "shift", "code"),
    [
        pytest.param(6, timedelta(days=1), "unknown_infusion", id="no-such-infusion"),
        pytest.param(2, timedelta(days=-10), "time_in_past", id="in-the-past"),
        pytest.param(2, timedelta(days=4), "infusion_out_of_order", id="after-the-next-one"),
    ],
)
async def test_bad_reschedules_are_refused_and_change_nothing(app, number, shift, code):
    series = await enrol_patient(app)
    before = await messages_of(app, series.id)

    with pytest.raises(ServiceError) as refused:
        await _reschedule(app, series, number, before["reminder-day-2"].not_after + shift)

    assert refused.value.code == code
    assert {k: m.send_at for k, m in (await messages_of(app, series.id)).items()} == {
        k: m.send_at for k, m in before.items()
    }


async def test_pause_holds_and_resume_releases_what_is_still_meaningful(app, clock):
    series = await enrol_patient(app)
    rows = await messages_of(app, series.id)

    held = await _apply(app, series, changes.pause)
    clock.set(rows["reminder-day-1"].not_after + timedelta(hours=1))  # infusion 1 has started
    assert (await app.dispatcher.run_due()).handled == 0
    released, skipped = await _apply(app, series, changes.resume, quiet_hours=app.quiet_hours)

    after = await statuses(app, series.id)
    assert held == len(rows)
    assert after["reminder-eve-1"] is MessageStatus.SKIPPED
    assert after["reminder-day-1"] is MessageStatus.SKIPPED
    assert after["welcome"] is MessageStatus.PENDING
    assert after["reminder-eve-2"] is MessageStatus.PENDING
    assert released + skipped == held
    released_rows = await messages_of(app, series.id)
    assert all(released_rows[k].send_at >= clock.now() for k, s in after.items() if s is MessageStatus.PENDING)


async def test_a_paused_series_sends_nothing_until_resumed(app, clock, channel):
    series = await enrol_patient(app)
    await _apply(app, series, changes.pause)

    clock.advance(timedelta(hours=1))
    await app.dispatcher.run_due()
    assert channel.attempts == []

    await _apply(app, series, changes.resume, quiet_hours=app.quiet_hours)
    await app.dispatcher.run_due()
    assert [o.step_key for o in channel.delivered] == ["welcome"]


async def test_cancel_cancels_everything_not_yet_sent(app, clock, channel):
    series = await enrol_patient(app)
    await app.dispatcher.run_due()  # the welcome goes out

    cancelled = await _apply(app, series, changes.cancel)

    after = await statuses(app, series.id)
    assert after["welcome"] is MessageStatus.SENT
    assert cancelled == len(after) - 1
    assert {s for k, s in after.items() if k != "welcome"} == {MessageStatus.CANCELLED}
    async with app.sessions() as session:
        fresh = await changes.load_series(session, series.id)
        infusions = (await session.exec(select(Infusion).where(Infusion.series_id == series.id))).all()
    assert fresh.status is SeriesStatus.CANCELLED
    assert {i.status for i in infusions} == {InfusionStatus.CANCELLED}
    clock.advance(timedelta(days=30))
    await app.dispatcher.run_due()
    assert [o.step_key for o in channel.delivered] == ["welcome"]


async def test_cancel_keeps_what_took_place_and_cancels_what_had_not_begun(app, clock):
    series = await enrol_patient(app)
    async with transaction(app.sessions) as session:
        infusions = {
            i.number: i for i in (await session.exec(select(Infusion).where(Infusion.series_id == series.id))).all()
        }
        infusions[1].status, infusions[2].status = InfusionStatus.ATTENDED, InfusionStatus.MISSED
        infusions[4].status = InfusionStatus.RESCHEDULE_REQUESTED
        start_of_3 = infusions[3].scheduled_at
    clock.set(start_of_3 + timedelta(hours=1))  # infusion 3 has taken place, unmarked

    await _apply(app, series, changes.cancel)

    async with app.sessions() as session:
        after = {
            i.number: i.status
            for i in (await session.exec(select(Infusion).where(Infusion.series_id == series.id))).all()
        }
    assert after == {
        1: InfusionStatus.ATTENDED,
        2: InfusionStatus.MISSED,
        3: InfusionStatus.SCHEDULED,  # past and unmarked: it counts as attended
        4: InfusionStatus.CANCELLED,  # was waiting for a new time
        5: InfusionStatus.CANCELLED,
    }


async def test_pausing_twice_is_refused(app):
    series = await enrol_patient(app)
    await _apply(app, series, changes.pause)

    with pytest.raises(ServiceError) as refused:
        await _apply(app, series, changes.pause)
    assert refused.value.code == "series_not_active"


async def test_rescheduling_queues_a_notice_of_the_new_time_for_the_patient(app, clock, channel):
    series = await enrol_patient(app)
    await app.dispatcher.run_due()
    new_time = (await messages_of(app, series.id))["reminder-day-2"].not_after + timedelta(hours=4)

    await _reschedule(app, series, 2, new_time)
    await _reschedule(app, series, 2, new_time + timedelta(hours=1))
    await app.dispatcher.run_due()

    rows = await messages_of(app, series.id)
    notices = [rows["moved-2-1"], rows["moved-2-2"]]
    assert [n.template for n in notices] == ["reminder/moved"] * 2
    assert [n.status for n in notices] == [MessageStatus.SENT] * 2
    assert notices[1].not_after == new_time + timedelta(hours=1)
    assert "New time for infusion 2 of 5" in channel.delivered[-1].content.body
