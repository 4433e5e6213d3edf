"""Enumerations stored in the database (as their string values)."""

from enum import StrEnum


class ChannelName(StrEnum):
    TELEGRAM = "telegram"
    SMS = "sms"
    WHATSAPP = "whatsapp"
    EMAIL = "email"
    CONSOLE = "console"


class StepKind(StrEnum):
    WELCOME = "welcome"
    EDUCATION = "education"
    REMINDER = "reminder"
    CHECKIN = "checkin"
    COMPLETION = "completion"


class SeriesStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class InfusionStatus(StrEnum):
    SCHEDULED = "scheduled"
    CONFIRMED = "confirmed"
    RESCHEDULE_REQUESTED = "reschedule_requested"
    CANCELLED = "cancelled"
    ATTENDED = "attended"
    MISSED = "missed"

    @property
    def did_not_happen(self) -> bool:
        """Missed, cancelled, or waiting for a new time: not counted as an infusion received."""
        return self in {self.MISSED, self.CANCELLED, self.RESCHEDULE_REQUESTED}


class MessageStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"
    HELD = "held"  # the series is paused
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in {self.SENT, self.SKIPPED, self.FAILED, self.CANCELLED}


class QuietPolicy(StrEnum):
    DEFER = "defer"  # moved to the end of quiet hours
    IGNORE = "ignore"  # urgent: sent whatever the hour


class StaffRole(StrEnum):
    OWNER = "owner"
    STAFF = "staff"
