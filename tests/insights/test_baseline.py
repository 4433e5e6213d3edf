"""The baseline check-in: once before the first infusion, and answers say which infusion they follow."""

from __future__ import annotations

from datetime import time, timedelta

from sqlmodel import select

from messenger.db import transaction
from messenger.domain.enums import MessageStatus
from messenger.domain.models import Answer
from messenger.services.answers import answer_checkin
from tests.factories import LA, days_later_at, enrol_patient, local, messages_of, run_until


async def test_the_baseline_is_due_the_evening_before_the_first_infusion(app):
    first = days_later_at(app.clock.now(), 3, time(10, 0))
    series = await enrol_patient(app, first=first)

    baseline = (await messages_of(app, series.id))["checkin-baseline"]

    assert baseline.status is MessageStatus.PENDING
    assert baseline.due_at == days_later_at(first, -1, time(19, 0))
    assert baseline.not_after == first


async def test_a_patient_enrolled_after_that_evening_gets_it_at_enrolment(app):
    app.clock.set(local(LA, 2026, 12, 1, 20, 30))
    series = await enrol_patient(app, first=local(LA, 2026, 12, 2, 10, 0))

    baseline = (await messages_of(app, series.id))["checkin-baseline"]

    assert baseline.status is MessageStatus.PENDING
    assert baseline.due_at == app.clock.now()


async def test_answers_record_the_infusion_they_follow(app, channel):
    series = await enrol_patient(app)
    messages = await messages_of(app, series.id)
    await run_until(app, messages["checkin-2"].send_at + timedelta(minutes=1))
    messages = await messages_of(app, series.id)

    for key in ("checkin-baseline", "checkin-1", "checkin-2"):
        assert messages[key].status is MessageStatus.SENT, key
        async with transaction(app.sessions) as session:
            await answer_checkin(
                session=session,
                clock=app.clock,
                catalog=app.catalog,
                message_id=messages[key].id,
                patient_id=series.patient_id,
                question="pain",
                value="5",
            )
    async with app.sessions() as session:
        answers = (await session.exec(select(Answer).order_by(Answer.id))).all()
    assert [a.after_infusion for a in answers] == [0, 1, 2]


async def test_the_delivery_that_closes_a_series_says_so(app):
    series = await enrol_patient(app)
    closing = []

    async def listen(delivery):
        closing.append(delivery.series_completed)

    app.dispatcher.listeners.append(listen)
    last = max(m.send_at for m in (await messages_of(app, series.id)).values())
    await run_until(app, last + timedelta(days=1))

    assert closing.count(True) == 1 and closing[-1] is True
