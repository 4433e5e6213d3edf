"""Heartbeats: a dead process's claims return to the queue within the ttl; live processes share a budget."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import col, select

from messenger.app import App, build_app
from messenger.clock import ManualClock
from messenger.config import Settings
from messenger.domain.enums import MessageStatus
from messenger.domain.models import Message
from messenger.pacing.pacer import Pacer
from messenger.pacing.shared import SharedBudget
from messenger.scheduling.heartbeat import Heartbeat
from tests.factories import enrol_patient
from tests.fakes.channels import ScriptedChannel

TTL = timedelta(seconds=15)


async def rows(app: App) -> list[Message]:
    async with app.sessions() as session:
        return list((await session.exec(select(Message).order_by(col(Message.id)))).all())


async def test_claims_of_a_process_that_stopped_beating_return_and_are_sent(
    app: App, settings: Settings, clock: ManualClock, channel: ScriptedChannel
) -> None:
    for n in range(3):
        await enrol_patient(app, name=f"Patient {n}")
    doomed = build_app(settings, clock=clock, channels={channel.name: channel})
    await doomed.heartbeat.beat()
    claimed = await doomed.dispatcher.claim(10)  # then the process is killed: nothing is recorded
    await doomed.engine.dispose()
    assert claimed

    alive = await app.heartbeat.beat()
    clock.advance(TTL - timedelta(seconds=1))
    still_alive = await app.heartbeat.beat()
    clock.advance(timedelta(seconds=2))
    dead = await app.heartbeat.beat()

    assert alive.released == still_alive.released == 0 and still_alive.live_processes == 2
    assert dead.dead_processes == (doomed.dispatcher.name,) and dead.released == len(claimed)
    assert dead.live_processes == 1
    back = {m.id: m for m in await rows(app)}
    assert all(back[i].status is MessageStatus.PENDING and back[i].claimed_by is None for i in claimed)
    assert all(back[i].attempts == 1 for i in claimed), "the dead process may have sent it: the attempt counts"

    report = await app.dispatcher.run_due()

    assert report.counts["sent"] >= len(claimed)
    assert {o.message_id for o in channel.delivered} >= set(claimed)
    assert len({o.message_id for o in channel.delivered}) == len(channel.delivered), "each message once"


async def test_a_live_process_keeps_its_claims(app: App, clock: ManualClock) -> None:
    await enrol_patient(app)
    claimed = await app.dispatcher.claim(10)
    for _ in range(5):
        clock.advance(timedelta(seconds=10))
        beat = await app.heartbeat.beat()
        assert beat.released == 0

    assert all(m.status is MessageStatus.SENDING for m in await rows(app) if m.id in claimed)


async def test_live_processes_divide_the_rate_between_them(app: App, clock: ManualClock) -> None:
    pacers = [Pacer(account="telegram:1", clock=clock, rate=29) for _ in range(3)]
    beats = [
        Heartbeat(
            sessions=app.sessions, clock=clock, name=f"p{n}", budget=SharedBudget(sessions=app.sessions, pacers=[p])
        )
        for n, p in enumerate(pacers)
    ]
    for beat in beats:
        await beat.beat()
    for beat in beats:  # each learns of the others on its next beat
        await beat.beat()

    # The app's own process has no row until it beats: three live processes.
    assert [p.rate for p in pacers] == pytest.approx([29 / 3] * 3, rel=1e-4)

    await beats[2].stop()
    await beats[0].beat()
    assert pacers[0].rate == pytest.approx(29 / 2, rel=1e-4)


async def test_a_pause_one_process_hears_every_process_honours(app: App, clock: ManualClock) -> None:
    here, there = (Pacer(account="telegram:1", clock=clock, rate=29) for _ in range(2))
    other_account = Pacer(account="telegram:2", clock=clock, rate=29)
    budget_here = SharedBudget(sessions=app.sessions, pacers=[here])
    beat_there = Heartbeat(
        sessions=app.sessions,
        clock=clock,
        name="there",
        budget=SharedBudget(sessions=app.sessions, pacers=[there, other_account]),
    )

    here.pause(12)  # a 429 with retry_after=12 in this process
    await budget_here.drain()
    here.pause(3)  # a shorter one later does not shorten what was shared
    await budget_here.drain()
    await beat_there.beat()

    assert there.paused_until() == clock.now() + timedelta(seconds=12)
    assert other_account.paused_until() is None
    clock.advance(timedelta(seconds=12))
    assert there.paused_until() is None
