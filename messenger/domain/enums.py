"""Enumerations stored in the database (as their string values, or a small number where order matters)."""

from enum import IntEnum, StrEnum


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
    # A message to staff about a patient (escalation, forwarded text, lost contact…), not a series step.
    ALERT = "alert"
    # Words from the clinic to one patient outside the series (a staff reply, a check-in reminder).
    DIRECT = "direct"


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
    # Marked by staff once the infusion's time has come; unmarked past infusions count as attended.
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


class Priority(IntEnum):
    """A row's class in the queue: lower is claimed first, then by due time within the class."""

    URGENT = 0  # staff alerts and escalations
    APPOINTMENT = 1  # reminders, moved notices, check-ins, the welcome
    EDUCATION = 2  # education and the closing message

    @classmethod
    def of(cls, kind: StepKind) -> "Priority":
        if kind is StepKind.ALERT:
            return cls.URGENT
        if kind in (StepKind.EDUCATION, StepKind.COMPLETION):
            return cls.EDUCATION
        return cls.APPOINTMENT
