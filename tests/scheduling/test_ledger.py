"""The ledger's order and accounting: priority classes, deferrals keeping their place, throttling."""

from __future__ import annotations

from datetime import timedelta

from messenger.channels.base import RetryLater
from messenger.channels.failures import FailureCode
from messenger.db import transaction
from messenger.domain.enums import MessageStatus, StepKind
from messenger.domain.models import Message
from tests.factories import enrol_patient, messages_of


def _row(series_id: int, key: str, kind: StepKind, due, send=None, **extra: object) -> Message:  # type: ignore[no-untyped-def]
    return Message(
        series_id=series_id,
        patient_id=1,
        step_key=key,
        kind=kind,
        template="education/attention",
        due_at=due,
        send_at=send or due,
        updated_at=due,
        **extra,
    )


async def test_claims_take_urgent_then_appointment_then_education_each_by_due_time(app, clock):
    series = await enrol_patient(app)
    now = clock.now()
    async with transaction(app.sessions) as session:
        await session.exec(  # type: ignore[call-overload]
            Message.__table__.update().where(Message.series_id == series.id).values(status=MessageStatus.CANCELLED)
        )
        rows = [
            _row(series.pk, "edu-early", StepKind.EDUCATION, now - timedelta(hours=3)),
            _row(series.pk, "reminder-late", StepKind.REMINDER, now - timedelta(minutes=1)),
            # Deferred (a retry, a pause): due first, so it keeps its place ahead of reminder-late.
            _row(series.pk, "reminder-deferred", StepKind.REMINDER, now - timedelta(hours=2), now),
            _row(series.pk, "checkin", StepKind.CHECKIN, now - timedelta(minutes=30)),
            _row(None, "alert", StepKind.ALERT, now, staff_chat_id=99),  # type: ignore[arg-type]
            _row(series.pk, "edu-future", StepKind.EDUCATION, now + timedelta(minutes=1)),
        ]
        session.add_all(rows)
    ids = {r.pk: r.step_key for r in rows}

    claimed = [ids[i] for i in await app.dispatcher.claim(10)]

    assert claimed == ["alert", "reminder-deferred", "checkin", "reminder-late", "edu-early"]


async def test_a_throttled_deferral_is_not_an_attempt_and_waits_exactly_the_pause(app, clock, channel):
    series = await enrol_patient(app)
    channel.then(
        RetryLater(FailureCode.TELEGRAM_FLOOD, after=42, throttled=True),
        RetryLater(FailureCode.TELEGRAM_FLOOD, after=42, throttled=True),
    )

    await app.dispatcher.run_due()
    row = (await messages_of(app, series.id))["welcome"]
    assert (row.status, row.attempts, row.send_at) == (MessageStatus.PENDING, 0, clock.now() + timedelta(seconds=42))

    clock.set(row.send_at)
    await app.dispatcher.run_due()
    clock.set((await messages_of(app, series.id))["welcome"].send_at)
    await app.dispatcher.run_due()
    row = (await messages_of(app, series.id))["welcome"]
    assert (row.status, row.attempts) == (MessageStatus.SENT, 1), "two throttles and one send: one attempt"


async def test_a_patients_messages_released_together_go_in_scheduled_order(app, clock, channel):
    series = await enrol_patient(app)
    rows = await messages_of(app, series.id)
    clock.set(max(m.send_at for m in rows.values() if m.kind is StepKind.EDUCATION) + timedelta(seconds=1))
    app.dispatcher.batch_size = 500

    await app.dispatcher.run_due()

    sent = [o.step_key for o in channel.delivered]
    expected = sorted((m for m in rows.values() if m.step_key in sent), key=lambda m: (m.due_at, m.pk))
    assert len(sent) >= 3
    assert sent == [m.step_key for m in expected]
