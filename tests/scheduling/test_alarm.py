"""The alarm: real APScheduler wakes the dispatcher on time, with a handful of jobs whatever the backlog."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from messenger.app import build_app
from messenger.clock import ScaledClock, SystemClock
from messenger.db import create_schema
from messenger.domain.enums import MessageStatus
from messenger.scheduling.dispatcher import Delivery
from tests.factories import enrol_patient, messages_of
from tests.fakes.channels import ScriptedChannel

COMPACT = Path(__file__).parent.parent / "data" / "series"


@pytest.mark.slow
async def test_a_series_in_seconds_is_delivered_in_order_by_the_real_scheduler(settings):
    start = SystemClock().now()  # the real scheduler sleeps in real seconds
    clock = ScaledClock(start, speed=180.0, running=False)  # eight story minutes in under three real seconds
    channel = ScriptedChannel()
    finished = asyncio.Event()
    seen: list[Delivery] = []

    async def listen(delivery: Delivery) -> None:
        seen.append(delivery)
        if len(seen) == expected:
            finished.set()

    compact = settings.model_copy(
        update={"series_dir": COMPACT, "default_series": "compact", "sweep_seconds": 5, "claim_lease_seconds": 3600}
    )  # story time: 20 real seconds
    app = build_app(compact, clock=clock, channels={channel.name: channel}, listeners=[listen])
    await app.start()
    try:
        series = await enrol_patient(app, infusions=[start + timedelta(minutes=m) for m in (3, 6)])
        rows = await messages_of(app, series.id)
        expected = len(rows)
        clock.run()
        app.alarm.poke()
        await asyncio.wait_for(finished.wait(), timeout=20)
    finally:
        await app.stop()

    in_order = [m.step_key for m in sorted(rows.values(), key=lambda m: (m.send_at, m.id))]
    assert in_order == ["welcome", "edu", "reminder-1", "checkin-1", "reminder-2", "checkin-2", "completion"]
    assert [o.step_key for o in channel.delivered] == in_order
    assert {d.status for d in seen} == {MessageStatus.SENT}
    assert all(d.at >= d.message.send_at for d in seen), "nothing is sent before it is due"


async def test_the_scheduler_holds_three_jobs_however_many_messages_are_pending(settings, clock):
    app = build_app(settings, clock=clock, channels={ScriptedChannel().name: ScriptedChannel()})
    await create_schema(app.engine)
    for n in range(25):
        await enrol_patient(app, name=f"Patient {n}")
    await app.start()
    try:
        await asyncio.wait_for(app.alarm.wait_idle(), timeout=10)
        jobs = {job.id for job in app.alarm.scheduler.get_jobs()}
        next_due = app.alarm.next_due
    finally:
        await app.stop()

    assert jobs == {"wake", "sweep", "heartbeat", "follow-up"}
    assert next_due is not None and next_due > clock.now()
