"""The scaled clock's hold: story time waits at a ceiling and resumes from where it stood."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from messenger.clock import ScaledClock

T0 = datetime(2039, 3, 1, 17, 0, tzinfo=UTC)


class Ticks:
    """Real seconds that pass only when a test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_story_time_waits_at_the_ceiling_and_resumes_from_it() -> None:
    ticks = Ticks()
    clock = ScaledClock(T0, speed=60, ticks=ticks)
    clock.hold_at(T0 + timedelta(minutes=1))

    ticks.now = 0.5
    assert clock.now() == T0 + timedelta(seconds=30)
    ticks.now = 5.0  # five real seconds would be five story minutes: held at one
    assert clock.now() == T0 + timedelta(minutes=1)

    clock.hold_at(T0 + timedelta(hours=1))
    assert clock.now() == T0 + timedelta(minutes=1)  # not the four minutes the hold kept back
    assert clock.waited == timedelta(seconds=4)
    ticks.now = 6.0
    assert clock.now() == T0 + timedelta(minutes=2)


def test_without_a_ceiling_it_runs_freely_and_never_runs_back() -> None:
    ticks = Ticks()
    clock = ScaledClock(T0, speed=10, ticks=ticks)
    ticks.now = 3.0
    clock.hold_at(T0)  # a ceiling already passed holds time where it is
    ticks.now = 4.0
    assert clock.now() == T0 + timedelta(seconds=30)

    clock.hold_at(None)
    ticks.now = 5.0
    assert clock.now() == T0 + timedelta(seconds=40)


def test_a_clock_not_yet_running_stands_at_its_start() -> None:
    ticks = Ticks()
    clock = ScaledClock(T0, speed=10, running=False, ticks=ticks)
    ticks.now = 100.0
    assert clock.now() == T0
    clock.run()
    ticks.now = 101.0
    assert clock.now() == T0 + timedelta(seconds=10)
