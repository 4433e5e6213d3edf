"""Reminders sent by e-mail carry their infusion as a calendar invitation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from messenger.channels.calendar import CalendarEvent, ics_bytes
from messenger.clock import Clock
from messenger.domain.enums import StepKind
from messenger.domain.models import Message
from messenger.rendering.strings import BotStrings
from messenger.scheduling.dispatcher import AttachmentFactory

# Calendar sequence numbers only need to grow: seconds since this instant, at each sending
# (32-bit safe until 2088).
_SEQUENCE_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def calendar_attachments(strings: BotStrings, clock: Clock) -> AttachmentFactory:
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
