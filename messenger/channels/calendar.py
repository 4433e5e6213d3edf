"""Calendar invitations (iCalendar, RFC 5545 / iTIP, RFC 5546) for appointments sent by e-mail.

An appointment keeps one ``uid`` for its whole life. Re-sending it after a reschedule with the
same ``uid`` and a higher ``sequence`` updates the event already in the patient's calendar;
sending it with ``cancelled=True`` (and a higher ``sequence`` again) removes it.

Calendar apps show the summary in their own notifications, so keep it as neutral as an SMS
("Appointment at the clinic"), not the name of the treatment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event, vCalAddress, vText

from messenger.clock import Clock
from messenger.domain.enums import StepKind
from messenger.domain.models import Message
from messenger.rendering.strings import BotStrings

__all__ = ["PRODID", "CalendarEvent", "calendar_attachments", "ics_bytes"]

PRODID = "-//messenger//Appointment reminders//EN"
# (message, the series' infusion times, the patient's locale) → (file name, bytes, MIME type) tuples;
# the dispatcher's attachment factory.
Attachments = Callable[[Message, list[datetime], str], tuple[tuple[str, bytes, str], ...]]


@dataclass(frozen=True)
class CalendarEvent:
    uid: str
    sequence: int
    start: datetime  # timezone-aware
    duration: timedelta
    summary: str
    location: str | None
    description: str | None
    method: str = "REQUEST"
    cancelled: bool = False

    def __post_init__(self) -> None:
        if not self.uid:
            raise ValueError("a calendar event needs a uid")
        if self.sequence < 0:
            raise ValueError("sequence must not be negative")
        if self.start.tzinfo is None or self.start.utcoffset() is None:
            raise ValueError("start must be timezone-aware")
        if self.duration <= timedelta(0):
            raise ValueError("duration must be positive")


def ics_bytes(
    event: CalendarEvent, *, organizer_email: str | None = None, attendee_email: str | None = None, now: datetime
) -> bytes:
    """``event`` as a ``text/calendar`` body: one VCALENDAR holding one VEVENT, times in UTC.

    The calendar's METHOD is ``CANCEL`` for a cancelled event and ``event.method`` otherwise.
    Mail clients offer to add a ``REQUEST`` to the calendar, and apply later versions of it as
    updates, only when it names an ORGANIZER (``organizer_email``, the clinic's address) and an
    ATTENDEE (``attendee_email``, the patient's).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    start = event.start.astimezone(UTC)

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "CANCEL" if event.cancelled else event.method.upper())

    vevent = Event()
    vevent.add("uid", event.uid)
    vevent.add("sequence", event.sequence)
    vevent.add("dtstamp", now.astimezone(UTC))
    vevent.add("dtstart", start)
    vevent.add("dtend", start + event.duration)
    vevent.add("summary", event.summary)
    if event.location:
        vevent.add("location", event.location)
    if event.description:
        vevent.add("description", event.description)
    vevent.add("status", "CANCELLED" if event.cancelled else "CONFIRMED")
    vevent.add("transp", "OPAQUE")
    if organizer_email:
        organizer = vCalAddress(f"mailto:{organizer_email}")
        vevent.add("organizer", organizer, encode=False)
    if attendee_email:
        attendee = vCalAddress(f"mailto:{attendee_email}")
        attendee.params["ROLE"] = vText("REQ-PARTICIPANT")
        attendee.params["RSVP"] = vText("FALSE")
        vevent.add("attendee", attendee, encode=False)
    calendar.add_component(vevent)
    ical: bytes = calendar.to_ical()
    return ical


# Calendar sequence numbers only need to grow: seconds since this instant, at each sending
# (32-bit safe until 2088).
_SEQUENCE_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def calendar_attachments(strings: BotStrings, clock: Clock) -> Attachments:
    """Reminders sent by e-mail carry the infusion as a calendar invitation (same UID when it moves)."""

    def attach(message: Message, infusion_times: list[datetime], locale: str) -> tuple[tuple[str, bytes, str], ...]:
        if message.kind is not StepKind.REMINDER or not message.infusion_number:
            return ()
        number, now = message.infusion_number, clock.now()
        event = CalendarEvent(
            uid=f"infusion-{message.series_id}-{number}@messenger",
            sequence=int((now - _SEQUENCE_EPOCH).total_seconds()),
            start=infusion_times[number - 1],
            duration=timedelta(hours=2),
            summary=strings.plain("sms.calendar_summary", locale, number=number, total=len(infusion_times)),
            location=None,
            description=None,
        )
        return (("appointment.ics", ics_bytes(event, now=now), "text/calendar"),)

    return attach
