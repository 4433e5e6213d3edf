"""Building blocks shared by the channel tests."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from messenger.channels.base import Outgoing
from messenger.clock import ManualClock
from messenger.content import Content
from messenger.domain.enums import StepKind

LA = ZoneInfo("America/Los_Angeles")
WHEN = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)
# Years from any real today, so a time read from the wall clock instead of the channel's clock shows.
FAR_FROM_TODAY = datetime(2037, 3, 14, 15, 9, 26, tzinfo=UTC)


def far_clock() -> ManualClock:
    return ManualClock(FAR_FROM_TODAY)


def outgoing(
    address: str,
    body: str = "Reminder: your visit is tomorrow at 9:00 AM.",
    *,
    subject: str | None = None,
    html: str | None = None,
    recipient: str = "Jane Doe",
    attachments: tuple[tuple[str, bytes, str], ...] = (),
    message_id: int = 7,
) -> Outgoing:
    return Outgoing(
        message_id=message_id,
        address=address,
        content=Content(body=body, subject=subject, html=html),
        kind=StepKind.REMINDER,
        step_key="reminder-1",
        zone=LA,
        scheduled_for=WHEN,
        recipient=recipient,
        attachments=attachments,
    )
