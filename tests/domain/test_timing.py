"""Offsets, local wall-clock arithmetic and quiet hours in a patient's own zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from messenger.domain.enums import QuietPolicy
from messenger.domain.timing import Offset, QuietHours, apply_offset, from_wall, local_wall, send_time

LA = ZoneInfo("America/Los_Angeles")  # DST 2026: spring forward 03-08, fall back 11-01
KOLKATA = ZoneInfo("Asia/Kolkata")  # +05:30, no DST
AUCKLAND = ZoneInfo("Pacific/Auckland")  # DST 2026: ends 04-05, starts 09-27


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(zone: ZoneInfo, *args: int) -> datetime:
    """An aware local time; only used for times that exist exactly once in ``zone``."""
    return datetime(*args, tzinfo=zone)


# ---- Offset.parse ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "days", "seconds"),
    [
        pytest.param("30s", 0, 30, id="seconds"),
        pytest.param("15m", 0, 15 * 60, id="minutes"),
        pytest.param("2h", 0, 2 * 3600, id="hours"),
        pytest.param("-1d", -1, 0, id="negative-day"),
        pytest.param("1d2h", 1, 2 * 3600, id="day-and-hours"),
        pytest.param("-90m", 0, -90 * 60, id="negative-minutes"),
        pytest.param("0s", 0, 0, id="zero"),
        pytest.param("0d", 0, 0, id="zero-days"),
        pytest.param("+3d", 3, 0, id="explicit-plus"),
        pytest.param(" 2h 30m ", 0, 2 * 3600 + 30 * 60, id="spaces-ignored"),
        pytest.param("-1d2h30m15s", -1, -(2 * 3600 + 30 * 60 + 15), id="sign-applies-to-every-part"),
    ],
)
def test_offset_parse(text: str, days: int, seconds: int) -> None:
    assert Offset.parse(text) == Offset(days=days, seconds=seconds)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("-", id="sign-only"),
        pytest.param("1x", id="unknown-unit"),
        pytest.param("d", id="unit-without-number"),
        pytest.param("12", id="number-without-unit"),
        pytest.param("1.5h", id="fraction"),
        pytest.param("1d-2h", id="sign-inside"),
        pytest.param("soon", id="words"),
        pytest.param("--1d", id="double-minus"),
        pytest.param("+-1d", id="plus-minus"),
    ],
)
def test_offset_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="bad offset") as caught:
        Offset.parse(text)
    assert repr(text) in str(caught.value)
    assert "e.g." in str(caught.value)  # the message shows what a good offset looks like


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        pytest.param("30s", "30s", id="seconds"),
        pytest.param("15m", "15m", id="minutes"),
        pytest.param("-1d", "-1d", id="negative-day"),
        pytest.param("1d2h", "1d2h", id="day-and-hours"),
        pytest.param("90m", "1h30m", id="minutes-carry-into-hours"),
        pytest.param("-90m", "-1h30m", id="negative-carry"),
        pytest.param("3661s", "1h1m1s", id="seconds-carry"),
        pytest.param("0d", "0s", id="zero"),
        pytest.param("+2h", "2h", id="plus-dropped"),
    ],
)
def test_offset_str_round_trip(text: str, canonical: str) -> None:
    offset = Offset.parse(text)
    assert str(offset) == canonical
    assert Offset.parse(str(offset)) == offset


def test_offset_approximate_counts_a_day_as_24_hours() -> None:
    assert Offset.parse("-1d2h").approximate == -timedelta(hours=26)


# ---- local_wall / from_wall -------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "zone", "wall"),
    [
        pytest.param(utc(2026, 3, 8, 9, 59), LA, datetime(2026, 3, 8, 1, 59), id="la-before-spring-forward"),
        pytest.param(utc(2026, 3, 8, 10, 0), LA, datetime(2026, 3, 8, 3, 0), id="la-after-spring-forward"),
        pytest.param(utc(2026, 11, 1, 8, 30), LA, datetime(2026, 11, 1, 1, 30), id="la-first-0130"),
        pytest.param(utc(2026, 11, 1, 9, 30), LA, datetime(2026, 11, 1, 1, 30), id="la-second-0130"),
        pytest.param(utc(2026, 3, 8, 20, 0), KOLKATA, datetime(2026, 3, 9, 1, 30), id="kolkata-next-day"),
    ],
)
def test_local_wall(instant: datetime, zone: ZoneInfo, wall: datetime) -> None:
    result = local_wall(instant, zone)
    assert result == wall
    assert result.tzinfo is None


@pytest.mark.parametrize(
    ("wall", "zone", "instant"),
    [
        pytest.param(datetime(2026, 12, 1, 10, 0), LA, utc(2026, 12, 1, 18, 0), id="la-winter"),
        pytest.param(datetime(2026, 7, 1, 10, 0), LA, utc(2026, 7, 1, 17, 0), id="la-summer"),
        # 02:30 does not exist on 2026-03-08: it is read with the PST offset, i.e. 03:30 PDT.
        pytest.param(datetime(2026, 3, 8, 2, 30), LA, utc(2026, 3, 8, 10, 30), id="la-nonexistent-0230"),
        # 01:30 happens twice on 2026-11-01: the first (PDT) one is meant.
        pytest.param(datetime(2026, 11, 1, 1, 30), LA, utc(2026, 11, 1, 8, 30), id="la-ambiguous-0130"),
        pytest.param(datetime(2026, 3, 9, 1, 30), KOLKATA, utc(2026, 3, 8, 20, 0), id="kolkata-previous-utc-day"),
    ],
)
def test_from_wall(wall: datetime, zone: ZoneInfo, instant: datetime) -> None:
    result = from_wall(wall, zone)
    assert result == instant
    assert result.tzinfo is UTC


def test_nonexistent_wall_time_reads_as_the_hour_after() -> None:
    assert local_wall(from_wall(datetime(2026, 3, 8, 2, 30), LA), LA) == datetime(2026, 3, 8, 3, 30)


# ---- apply_offset ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("anchor", "offset", "expected"),
    [
        pytest.param(utc(2026, 12, 1, 18, 0), "30s", utc(2026, 12, 1, 18, 0, 30), id="seconds"),
        pytest.param(utc(2026, 12, 1, 18, 0), "-90m", utc(2026, 12, 1, 16, 30), id="negative-minutes"),
        pytest.param(utc(2026, 12, 1, 18, 0), "0s", utc(2026, 12, 1, 18, 0), id="zero"),
        # 01:00 PST + 2h is 04:00 PDT: hours are exact durations, not wall-clock hours.
        pytest.param(utc(2026, 3, 8, 9, 0), "2h", utc(2026, 3, 8, 11, 0), id="hours-across-spring-forward"),
        pytest.param(utc(2026, 11, 1, 8, 0), "2h", utc(2026, 11, 1, 10, 0), id="hours-across-fall-back"),
    ],
)
def test_apply_offset_smaller_units_are_exact(anchor: datetime, offset: str, expected: datetime) -> None:
    assert apply_offset(anchor, Offset.parse(offset), LA) == expected


@pytest.mark.parametrize(
    ("anchor", "offset", "expected", "elapsed"),
    [
        pytest.param(
            local(LA, 2026, 3, 7, 10),
            "1d",
            local(LA, 2026, 3, 8, 10),
            timedelta(hours=23),
            id="spring-forward",
        ),
        pytest.param(
            local(LA, 2026, 10, 31, 10),
            "1d",
            local(LA, 2026, 11, 1, 10),
            timedelta(hours=25),
            id="fall-back",
        ),
        pytest.param(
            local(LA, 2026, 3, 8, 10),
            "-1d",
            local(LA, 2026, 3, 7, 10),
            -timedelta(hours=23),
            id="back-over-spring-forward",
        ),
        pytest.param(
            local(LA, 2026, 3, 9, 10),
            "-1d",
            local(LA, 2026, 3, 8, 10),
            -timedelta(hours=24),
            id="no-change-in-between",
        ),
        pytest.param(
            local(LA, 2026, 10, 25, 10),
            "14d",
            local(LA, 2026, 11, 8, 10),
            timedelta(days=14, hours=1),
            id="two-weeks-over-fall-back",
        ),
        # Local days first, then the exact part: Sun 10:00 PDT + 2 h.
        pytest.param(
            local(LA, 2026, 3, 7, 10),
            "1d2h",
            local(LA, 2026, 3, 8, 12),
            timedelta(hours=25),
            id="days-then-hours",
        ),
        pytest.param(
            local(AUCKLAND, 2026, 4, 4, 10),
            "1d",
            local(AUCKLAND, 2026, 4, 5, 10),
            timedelta(hours=25),
            id="auckland-april",
        ),
        pytest.param(
            local(AUCKLAND, 2026, 9, 26, 10),
            "1d",
            local(AUCKLAND, 2026, 9, 27, 10),
            timedelta(hours=23),
            id="auckland-september",
        ),
    ],
)
def test_apply_offset_days_keep_local_time(
    anchor: datetime, offset: str, expected: datetime, elapsed: timedelta
) -> None:
    result = apply_offset(anchor, Offset.parse(offset), anchor.tzinfo)  # type: ignore[arg-type]
    assert result == expected
    assert result - anchor == elapsed


def test_apply_offset_day_into_nonexistent_time_moves_an_hour_later() -> None:
    # Sat 02:30 PST + 1 local day is Sun 02:30, which is skipped: 03:30 PDT.
    result = apply_offset(local(LA, 2026, 3, 7, 2, 30), Offset.parse("1d"), LA)
    assert result == utc(2026, 3, 8, 10, 30)


@pytest.mark.parametrize(
    ("anchor", "offset", "at", "expected"),
    [
        pytest.param(
            local(LA, 2026, 3, 9, 10),
            "-1d",
            time(18, 0),
            utc(2026, 3, 9, 1, 0),  # 03-08 18:00 PDT
            id="eve-after-spring-forward",
        ),
        pytest.param(
            local(LA, 2026, 11, 2, 10),
            "-1d",
            time(18, 0),
            utc(2026, 11, 2, 2, 0),  # 11-01 18:00 PST
            id="eve-after-fall-back",
        ),
        pytest.param(
            local(LA, 2026, 11, 1, 10),
            "0d",
            time(8, 0),
            utc(2026, 11, 1, 16, 0),  # 11-01 08:00 PST
            id="same-day-morning",
        ),
        # 20:00 PST is already the next day in UTC; the local date is the one that counts.
        pytest.param(
            local(LA, 2026, 12, 1, 20),
            "0d",
            time(8, 0),
            utc(2026, 12, 1, 16, 0),
            id="local-date-not-utc-date",
        ),
        pytest.param(
            local(LA, 2026, 3, 9, 10),
            "-1d",
            time(2, 30),
            utc(2026, 3, 8, 10, 30),  # 03:30 PDT
            id="at-nonexistent-time",
        ),
        pytest.param(
            local(LA, 2026, 11, 2, 10),
            "-1d",
            time(1, 30),
            utc(2026, 11, 1, 8, 30),  # first 01:30
            id="at-ambiguous-time",
        ),
        pytest.param(
            local(KOLKATA, 2026, 3, 9, 10),
            "-1d",
            time(18, 0),
            utc(2026, 3, 8, 12, 30),
            id="kolkata",
        ),
        pytest.param(
            local(AUCKLAND, 2026, 9, 28, 10),
            "-1d",
            time(18, 0),
            utc(2026, 9, 27, 5, 0),  # NZDT
            id="auckland-after-dst-start",
        ),
    ],
)
def test_apply_offset_at_time_of_day(anchor: datetime, offset: str, at: time, expected: datetime) -> None:
    assert apply_offset(anchor, Offset.parse(offset), anchor.tzinfo, at) == expected  # type: ignore[arg-type]


def test_apply_offset_uses_the_zone_it_is_given() -> None:
    # One instant, one rule, three patients: "the day before at 18:00" is their own 18:00.
    anchor = utc(2026, 3, 9, 4, 30)  # 03-09 10:00 in Kolkata, 03-08 21:30 in LA, 03-09 17:30 in Auckland
    rule = Offset.parse("-1d")
    assert apply_offset(anchor, rule, KOLKATA, time(18)) == utc(2026, 3, 8, 12, 30)  # 03-08 18:00 IST
    assert apply_offset(anchor, rule, LA, time(18)) == utc(2026, 3, 8, 2, 0)  # 03-07 18:00 PST
    assert apply_offset(anchor, rule, AUCKLAND, time(18)) == utc(2026, 3, 8, 5, 0)  # 03-08 18:00 NZDT


@pytest.mark.parametrize(
    ("offset", "at"),
    [
        pytest.param("0s", None, id="zero"),
        pytest.param("2h", None, id="exact"),
        pytest.param("1d", None, id="days"),
        pytest.param("-1d", time(18, 0), id="at"),
    ],
)
@pytest.mark.parametrize("zone", [LA, KOLKATA, AUCKLAND], ids=str)
def test_apply_offset_returns_aware_utc(offset: str, at: time | None, zone: ZoneInfo) -> None:
    anchor = local(zone, 2026, 6, 15, 10)
    result = apply_offset(anchor, Offset.parse(offset), zone, at)
    assert result.tzinfo is UTC


# ---- QuietHours ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wall", "quiet"),
    [
        pytest.param(time(21, 0), True, id="start"),
        pytest.param(time(23, 59), True, id="late-evening"),
        pytest.param(time(0, 0), True, id="midnight"),
        pytest.param(time(7, 59), True, id="just-before-end"),
        pytest.param(time(8, 0), False, id="end"),
        pytest.param(time(12, 0), False, id="noon"),
        pytest.param(time(20, 59), False, id="just-before-start"),
    ],
)
def test_default_quiet_hours_are_overnight(wall: time, quiet: bool) -> None:
    assert QuietHours().contains(wall) is quiet


@pytest.mark.parametrize(
    ("wall", "quiet"),
    [
        pytest.param(time(11, 59), False, id="before"),
        pytest.param(time(12, 0), True, id="start"),
        pytest.param(time(12, 30), True, id="inside"),
        pytest.param(time(13, 0), False, id="end"),
        pytest.param(time(23, 0), False, id="night"),
        pytest.param(time(3, 0), False, id="early-morning"),
    ],
)
def test_daytime_quiet_hours(wall: time, quiet: bool) -> None:
    assert QuietHours(time(12, 0), time(13, 0)).contains(wall) is quiet


@pytest.mark.parametrize("wall", [time(0, 0), time(9, 0), time(9, 30), time(21, 0)], ids=str)
def test_equal_start_and_end_means_no_quiet_hours(wall: time) -> None:
    quiet = QuietHours(time(9, 0), time(9, 0))
    assert not quiet.contains(wall)
    instant = from_wall(datetime.combine(date(2026, 12, 1), wall), LA)
    assert quiet.defer(instant, LA) == instant


@pytest.mark.parametrize(
    ("quiet", "wall", "sent"),
    [
        pytest.param(QuietHours(), datetime(2026, 12, 1, 22, 30), datetime(2026, 12, 2, 8, 0), id="evening"),
        pytest.param(QuietHours(), datetime(2026, 12, 1, 21, 0), datetime(2026, 12, 2, 8, 0), id="at-start"),
        pytest.param(QuietHours(), datetime(2026, 12, 1, 0, 0), datetime(2026, 12, 1, 8, 0), id="midnight"),
        pytest.param(QuietHours(), datetime(2026, 12, 1, 6, 0), datetime(2026, 12, 1, 8, 0), id="early-morning"),
        pytest.param(QuietHours(), datetime(2026, 12, 1, 8, 0), datetime(2026, 12, 1, 8, 0), id="at-end"),
        pytest.param(QuietHours(), datetime(2026, 12, 1, 12, 0), datetime(2026, 12, 1, 12, 0), id="daytime"),
        pytest.param(QuietHours(), datetime(2026, 12, 1, 20, 59), datetime(2026, 12, 1, 20, 59), id="before-start"),
        pytest.param(
            QuietHours(time(12), time(13)),
            datetime(2026, 12, 1, 12, 30),
            datetime(2026, 12, 1, 13, 0),
            id="daytime-window",
        ),
        pytest.param(
            QuietHours(time(12), time(13)),
            datetime(2026, 12, 1, 22, 30),
            datetime(2026, 12, 1, 22, 30),
            id="daytime-window-leaves-night-alone",
        ),
        pytest.param(
            QuietHours(time(22), time(7)),
            datetime(2026, 12, 1, 21, 30),
            datetime(2026, 12, 1, 21, 30),
            id="custom-window-before-start",
        ),
        pytest.param(
            QuietHours(time(22), time(7)),
            datetime(2026, 12, 1, 23, 0),
            datetime(2026, 12, 2, 7, 0),
            id="custom-window",
        ),
    ],
)
def test_defer(quiet: QuietHours, wall: datetime, sent: datetime) -> None:
    assert quiet.defer(from_wall(wall, LA), LA) == from_wall(sent, LA)


@pytest.mark.parametrize(
    ("instant", "sent", "waited"),
    [
        # Sat 23:00 PST → Sun 08:00 PDT: the night is an hour short.
        pytest.param(utc(2026, 3, 8, 7, 0), utc(2026, 3, 8, 15, 0), timedelta(hours=8), id="spring-forward"),
        # Sat 23:00 PDT → Sun 08:00 PST: the night is an hour long.
        pytest.param(utc(2026, 11, 1, 6, 0), utc(2026, 11, 1, 16, 0), timedelta(hours=10), id="fall-back"),
    ],
)
def test_defer_across_a_dst_night(instant: datetime, sent: datetime, waited: timedelta) -> None:
    result = QuietHours().defer(instant, LA)
    assert result == sent
    next_day = local_wall(instant, LA).date() + timedelta(days=1)
    assert local_wall(result, LA) == datetime.combine(next_day, time(8))
    assert result - instant == waited


def test_defer_uses_the_patients_zone() -> None:
    instant = utc(2026, 12, 2, 5, 0)  # 21:00 PST in LA; 10:30 IST in Kolkata
    assert QuietHours().defer(instant, KOLKATA) == instant
    assert QuietHours().defer(instant, LA) == utc(2026, 12, 2, 16, 0)  # 08:00 PST


# ---- send_time: the one rule for every writer of a row's send time ------------------------

DEFER, IGNORE = QuietPolicy.DEFER, QuietPolicy.IGNORE
DAY = date(2026, 12, 1)  # a Tuesday, standard time in LA


def la(hour: int, minute: int = 0, day: int = 0) -> datetime:
    return from_wall(datetime.combine(DAY + timedelta(days=day), time(hour, minute)), LA)


@pytest.mark.parametrize(
    ("due", "policy", "not_before", "not_after", "sent"),
    [
        pytest.param(la(12), DEFER, None, None, la(12), id="daytime-goes-when-due"),
        pytest.param(la(23), DEFER, None, None, la(8, day=1), id="night-waits-for-the-morning"),
        pytest.param(la(23), IGNORE, None, None, la(23), id="urgent-ignores-quiet-hours"),
        pytest.param(la(6), DEFER, None, None, la(8), id="early-morning-waits-until-08"),
        pytest.param(la(10), DEFER, la(12), None, la(12), id="not-before-a-later-now"),
        pytest.param(la(12), DEFER, la(10), None, la(12), id="future-due-keeps-its-time"),
        pytest.param(la(19), DEFER, la(23), None, la(8, day=1), id="released-at-23-waits-for-the-morning"),
        pytest.param(la(19), IGNORE, la(23), None, la(23), id="urgent-released-at-23-goes-at-once"),
        pytest.param(la(23), DEFER, None, la(9, day=1), la(8, day=1), id="deferred-still-before-not-after"),
        pytest.param(la(23), DEFER, None, la(7, day=1), None, id="deferred-past-not-after-is-skipped"),
        pytest.param(la(23), IGNORE, None, la(7, day=1), la(23), id="urgent-before-not-after"),
        pytest.param(la(12), DEFER, la(14), la(13), None, id="not-before-past-not-after-is-skipped"),
        pytest.param(la(12), DEFER, None, la(12), la(12), id="exactly-at-not-after-still-goes"),
        pytest.param(la(21), DEFER, None, None, la(8, day=1), id="quiet-start-is-quiet"),
        pytest.param(la(8), DEFER, None, None, la(8), id="quiet-end-is-not-quiet"),
    ],
)
def test_send_time(
    due: datetime, policy: QuietPolicy, not_before: datetime | None, not_after: datetime | None, sent: datetime | None
) -> None:
    result = send_time(due=due, policy=policy, zone=LA, quiet=QuietHours(), not_after=not_after, not_before=not_before)
    assert result == sent


def test_send_time_reads_quiet_hours_in_the_patients_zone() -> None:
    instant = utc(2026, 12, 2, 7, 0)  # 23:00 PST in LA; 12:30 IST in Kolkata
    common = {"due": instant, "policy": DEFER, "quiet": QuietHours(), "not_after": None}
    assert send_time(zone=KOLKATA, **common) == instant
    assert send_time(zone=LA, **common) == utc(2026, 12, 2, 16, 0)  # 08:00 PST


def test_send_time_applies_not_before_before_quiet_hours() -> None:
    # Deferring first and then taking the later of the two would send at 23:00.
    result = send_time(due=la(6), policy=DEFER, zone=LA, quiet=QuietHours(), not_after=None, not_before=la(23))
    assert result == la(8, day=1)
