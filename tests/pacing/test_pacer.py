"""The pacer on a manual clock: smooth spacing, per-key spacing in order, pauses every sender honours."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import pytest

from messenger.clock import ManualClock
from messenger.pacing.pacer import Pacer
from messenger.pacing.telegram import GROUP_CHAT_INTERVAL, PRIVATE_CHAT_INTERVAL, chat_interval
from tests.pacing.support import driven, settle, wake_late

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


def released_at(clock: ManualClock, log: list[tuple[str, float]]):  # type: ignore[no-untyped-def]
    async def request(pacer: Pacer, label: str, key: str | None = None) -> None:
        await pacer.acquire(key)
        log.append((label, (clock.now() - T0).total_seconds()))

    return request


async def test_requests_leave_smoothly_at_the_rate_never_in_a_burst(clock: ManualClock) -> None:
    pacer = Pacer(account="test", clock=clock, rate=10)
    log: list[tuple[str, float]] = []
    request = released_at(clock, log)
    async with driven(clock):
        await asyncio.gather(*(request(pacer, f"r{n}") for n in range(25)))

    times = [t for _, t in log]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert times[0] == 0.0
    assert min(gaps) == pytest.approx(0.1)
    assert max(gaps) == pytest.approx(0.1)
    # Never more than the rate in any one-second window: a strict window sees no burst.
    assert max(sum(1 for t in times if start <= t < start + 1) for start in times) == 10


async def test_a_late_wake_up_does_not_turn_into_a_catch_up_burst(clock: ManualClock) -> None:
    pacer = Pacer(account="test", clock=clock, rate=10)
    log: list[tuple[str, float]] = []
    request = released_at(clock, log)
    first = asyncio.create_task(request(pacer, "a"))
    await settle()
    waiting = [asyncio.create_task(request(pacer, f"w{n}")) for n in range(3)]
    await settle()
    clock.advance(5)  # the process was busy for five seconds
    await settle()
    await first

    assert len(log) == 2, "after a stall one request leaves at once, the others keep their spacing"
    async with driven(clock):
        await asyncio.gather(*waiting)
    assert [t for _, t in log] == pytest.approx([0.0, 5.0, 5.1, 5.2])


async def test_a_wake_up_a_little_late_keeps_the_cadence_without_breaking_the_window(clock: ManualClock) -> None:
    pacer = Pacer(account="test", clock=clock, rate=10)
    log: list[tuple[str, float]] = []
    request = released_at(clock, log)
    tasks = [asyncio.create_task(request(pacer, f"r{n}")) for n in range(21)]
    await settle()
    await wake_late(clock, [2] * 20)  # every wake-up 2 ms late, as the event loop often is
    await asyncio.gather(*tasks)

    times = [t for _, t in log]
    # On the cadence (0.1, 0.2, …), a few ms late: twenty intervals take about 2 s, not 20 × 0.102 s.
    assert times[-1] < 2.01
    # And never more than the rate in any one-second window.
    assert max(sum(1 for t in times if start <= t < start + 1) for start in times) == 10
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.075


async def test_one_late_request_and_the_cadence_never_put_more_than_the_rate_in_a_second(clock: ManualClock) -> None:
    pacer = Pacer(account="test", clock=clock, rate=10)
    log: list[tuple[str, float]] = []
    request = released_at(clock, log)
    tasks = [asyncio.create_task(request(pacer, f"r{n}")) for n in range(12)]
    await settle()
    await wake_late(clock, [3] + [0] * 10)  # the second request 3 ms late; the cadence brings the rest back on time
    await asyncio.gather(*tasks)

    times = [t for _, t in log]
    assert times[1] == pytest.approx(0.103) and times[10] == pytest.approx(1.0)
    assert max(sum(1 for t in times if start <= t < start + 1) for start in times) == 10


async def test_a_process_sharing_the_rate_spaces_from_when_the_last_request_left(clock: ManualClock) -> None:
    pacer = Pacer(account="test", clock=clock, rate=10)
    pacer.set_rate(5)  # one of two live processes
    log: list[tuple[str, float]] = []
    request = released_at(clock, log)
    tasks = [asyncio.create_task(request(pacer, f"r{n}")) for n in range(6)]
    await settle()
    await wake_late(clock, [2] * 5)
    await asyncio.gather(*tasks)

    # No cadence to keep: the other process's requests are not on it.
    assert min(b - a for a, b in itertools.pairwise(t for _, t in log)) >= 0.2


async def test_one_chat_gets_one_message_a_second_while_other_chats_flow(clock: ManualClock) -> None:
    pacer = Pacer(account="test", clock=clock, rate=20, key_interval=chat_interval)
    log: list[tuple[str, float]] = []
    request = released_at(clock, log)
    async with driven(clock):
        await asyncio.gather(
            *(request(pacer, f"staff-{n}", "1001") for n in range(4)),
            *(request(pacer, f"patient-{n}", str(5000 + n)) for n in range(10)),
        )

    staff = [(label, t) for label, t in log if label.startswith("staff")]
    assert [label for label, _ in staff] == ["staff-0", "staff-1", "staff-2", "staff-3"], "one chat keeps its order"
    gaps = [b - a for (_, a), (_, b) in itertools.pairwise(staff)]
    assert min(gaps) >= PRIVATE_CHAT_INTERVAL - 1e-9
    patients_done = max(t for label, t in log if label.startswith("patient"))
    assert patients_done < 1.0, "other chats are not held up behind the staff chat"


async def test_a_group_gets_twenty_messages_a_minute(clock: ManualClock) -> None:
    pacer = Pacer(account="test", clock=clock, rate=29, key_interval=chat_interval)
    log: list[tuple[str, float]] = []
    request = released_at(clock, log)
    async with driven(clock):
        await asyncio.gather(*(request(pacer, f"g{n}", "-100123") for n in range(25)))

    times = [t for _, t in log]
    assert min(b - a for a, b in itertools.pairwise(times)) >= GROUP_CHAT_INTERVAL - 1e-9
    assert max(sum(1 for t in times if start <= t < start + 60) for start in times) <= 20


async def test_a_pause_holds_every_sender_until_it_ends(clock: ManualClock) -> None:
    pacer = Pacer(account="test", clock=clock, rate=10, key_interval=chat_interval)
    log: list[tuple[str, float]] = []
    request = released_at(clock, log)
    await request(pacer, "before")
    pacer.pause(7)
    assert pacer.paused_until() == T0 + timedelta(seconds=7)

    async with driven(clock) as driver:
        driver.hold = T0 + timedelta(seconds=7)
        waiting = [
            asyncio.create_task(request(pacer, "reply", "5001")),
            asyncio.create_task(request(pacer, "edit")),
            asyncio.create_task(request(pacer, "send", "5002")),
        ]
        await settle()
        assert [label for label, _ in log] == ["before"], "nothing leaves inside the pause"
        driver.release()
        await asyncio.gather(*waiting)

    assert all(t >= 7.0 for label, t in log if label != "before")
    assert pacer.paused_until() is None


async def test_a_pause_that_begins_while_a_request_waits_for_its_slot_delays_it(clock: ManualClock) -> None:
    pacer = Pacer(account="test", clock=clock, rate=1)
    log: list[tuple[str, float]] = []
    request = released_at(clock, log)
    await request(pacer, "first")
    second = asyncio.create_task(request(pacer, "second"))  # due at 1.0
    await settle()
    pacer.pause(30)
    async with driven(clock):
        await second

    assert log[-1] == ("second", 30.0)


async def test_a_shorter_pause_does_not_shorten_a_longer_one(clock: ManualClock) -> None:
    pacer = Pacer(account="test", clock=clock, rate=1)
    announced: list[datetime] = []
    pacer.on_pause(announced.append)
    pacer.pause(30)
    pacer.pause(5)

    assert pacer.paused_until() == T0 + timedelta(seconds=30)
    assert announced == [T0 + timedelta(seconds=30)]


async def test_rate_share_changes_the_spacing(clock: ManualClock) -> None:
    pacer = Pacer(account="test", clock=clock, rate=30)
    pacer.set_rate(pacer.full_rate / 3)
    log: list[tuple[str, float]] = []
    request = released_at(clock, log)
    async with driven(clock):
        await asyncio.gather(*(request(pacer, f"r{n}") for n in range(3)))

    assert [t for _, t in log] == pytest.approx([0.0, 0.1, 0.2])
