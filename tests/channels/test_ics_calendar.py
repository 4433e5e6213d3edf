"""Calendar invitations, parsed back with icalendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from messenger.channels.calendar import PRODID, CalendarEvent, ics_bytes

LA = ZoneInfo("America/Los_Angeles")
NOW = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)


def event(**changes: object) -> CalendarEvent:
    fields: dict[str, object] = {
        "uid": "infusion-42@clinic.example",
        "sequence": 0,
        "start": datetime(2026, 12, 3, 9, 0, tzinfo=LA),
        "duration": timedelta(minutes=90),
        "summary": "Appointment at the clinic",
        "location": "1 Main Street, Irvine",
        "description": "Visit 2 of 6; bring a driver.",
        **changes,
    }
    return CalendarEvent(**fields)  # type: ignore[arg-type]


def parse(data: bytes) -> tuple[Calendar, object]:
    calendar = Calendar.from_ical(data)
    [vevent] = calendar.walk("VEVENT")
    return calendar, vevent


def test_the_calendar_and_event_fields() -> None:
    calendar, vevent = parse(ics_bytes(event(), now=NOW))

    assert str(calendar["PRODID"]) == PRODID
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["METHOD"]) == "REQUEST"
    assert str(vevent["UID"]) == "infusion-42@clinic.example"  # type: ignore[index]
    assert int(vevent["SEQUENCE"]) == 0  # type: ignore[index]
    assert vevent.decoded("DTSTAMP") == NOW  # type: ignore[attr-defined]
    assert vevent.decoded("DTSTART") == datetime(2026, 12, 3, 17, 0, tzinfo=UTC)  # type: ignore[attr-defined]
    assert vevent.decoded("DTEND") == datetime(2026, 12, 3, 18, 30, tzinfo=UTC)  # type: ignore[attr-defined]
    assert str(vevent["SUMMARY"]) == "Appointment at the clinic"  # type: ignore[index]
    assert str(vevent["LOCATION"]) == "1 Main Street, Irvine"  # type: ignore[index]
    assert str(vevent["DESCRIPTION"]) == "Visit 2 of 6; bring a driver."  # type: ignore[index]
    assert str(vevent["STATUS"]) == "CONFIRMED"  # type: ignore[index]
    assert "ORGANIZER" not in vevent and "ATTENDEE" not in vevent  # type: ignore[operator]


def test_times_are_written_in_utc() -> None:
    data = ics_bytes(event(), now=NOW)
    assert b"DTSTART:20261203T170000Z\r\n" in data
    assert b"DTEND:20261203T183000Z\r\n" in data
    assert b"DTSTAMP:20261130T200000Z\r\n" in data


def test_organizer_and_attendee() -> None:
    _, vevent = parse(
        ics_bytes(event(), organizer_email="care@clinic.example", attendee_email="jane@example.org", now=NOW)
    )

    assert str(vevent["ORGANIZER"]) == "mailto:care@clinic.example"  # type: ignore[index]
    assert str(vevent["ATTENDEE"]) == "mailto:jane@example.org"  # type: ignore[index]


def test_a_cancellation() -> None:
    calendar, vevent = parse(ics_bytes(event(sequence=3, cancelled=True), now=NOW))

    assert str(calendar["METHOD"]) == "CANCEL"
    assert str(vevent["STATUS"]) == "CANCELLED"  # type: ignore[index]
    assert int(vevent["SEQUENCE"]) == 3  # type: ignore[index]


def test_optional_fields_are_left_out() -> None:
    _, vevent = parse(ics_bytes(event(location=None, description=None), now=NOW))

    assert "LOCATION" not in vevent and "DESCRIPTION" not in vevent  # type: ignore[operator]


def test_another_method() -> None:
    calendar, _ = parse(ics_bytes(event(method="publish"), now=NOW))
    assert str(calendar["METHOD"]) == "PUBLISH"


@pytest.mark.parametrize(
    "changes",
    [
        {"start": datetime(2026, 12, 3, 9, 0)},
        {"duration": timedelta(0)},
        {"sequence": -1},
        {"uid": ""},
    ],
    ids=["naive start", "no duration", "negative sequence", "no uid"],
)
def test_invalid_events_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        event(**changes)


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="now"):
        ics_bytes(event(), now=datetime(2026, 11, 30, 20, 0))
