"""Database rows (SQLModel tables). All datetimes are aware UTC."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import JSON, BigInteger, Column, Index, SmallInteger, Text, UniqueConstraint, text
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlmodel import Field, SQLModel

from messenger.domain.enums import (
    ChannelName,
    InfusionStatus,
    MessageStatus,
    Priority,
    QuietPolicy,
    SeriesStatus,
    StaffRole,
    StepKind,
)
from messenger.domain.types import StrEnumType, UTCDateTime


class _HasId(Protocol):
    id: int | None


class Persisted:
    """Mixin for table rows: ``pk`` is the id, typed as present, once the row has been flushed."""

    __slots__ = ()

    @property
    def pk(self: _HasId) -> int:
        if self.id is None:
            raise RuntimeError(f"{type(self).__name__} has no id until it is flushed")
        return self.id


# A time that must be present has no default: it comes from the injected clock, so every
# caller passes it. It is spelled ``Field(...)`` at each use (not through a helper) so that
# the type checker sees a required argument and reports a constructor call that forgets it.
def _optional_when() -> Any:
    return Field(default=None, sa_type=UTCDateTime(), nullable=True)


def _enum(enum_class: type, default: Any = ..., *, index: bool = False) -> Any:
    return Field(default=default, sa_type=StrEnumType(enum_class), nullable=False, index=index)


class PatientBase(SQLModel):
    name: str = Field(max_length=200)
    locale: str = Field(default="en", max_length=16)
    timezone: str = Field(max_length=64)


class Patient(PatientBase, Persisted, table=True):
    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    # Set when the patient's personal data was erased (``/forget``): the row stays for the counts.
    erased_at: datetime | None = _optional_when()


class ContactBase(SQLModel):
    channel: ChannelName = _enum(ChannelName)
    address: str = Field(max_length=320)
    # Lower is tried first.
    priority: int = 0


class Contact(ContactBase, Persisted, table=True):
    __table_args__ = (UniqueConstraint("patient_id", "channel", name="uq_contact_patient_channel"),)

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    reachable: bool = True
    opted_out: bool = False
    # Why the contact is unreachable or opted out, as the provider said it.
    status_reason: str | None = Field(default=None, max_length=500)
    updated_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    # When the patient last wrote from this address: WhatsApp takes free text only for 24 hours after.
    # Last, as the migration that added it put it.
    last_inbound_at: datetime | None = _optional_when()


class Staff(SQLModel, Persisted, table=True):
    id: int | None = Field(default=None, primary_key=True)
    telegram_user_id: int = Field(sa_column=Column(BigInteger, unique=True, nullable=False))
    role: StaffRole = _enum(StaffRole, StaffRole.STAFF)
    name: str | None = Field(default=None, max_length=200)
    active: bool = True
    created_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)


class Invite(SQLModel, Persisted, table=True):
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    # Only a hash of the code is stored: a database leak yields no working invite.
    code_hash: str = Field(max_length=64, unique=True)
    expires_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    used_at: datetime | None = _optional_when()
    revoked_at: datetime | None = _optional_when()
    created_by: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)


class Series(SQLModel, Persisted, table=True):
    """A patient's enrolment in one series definition."""

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    definition_key: str = Field(max_length=100)
    status: SeriesStatus = _enum(SeriesStatus, SeriesStatus.ACTIVE, index=True)
    enrolled_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    status_changed_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)


class Infusion(SQLModel, Persisted, table=True):
    __table_args__ = (UniqueConstraint("series_id", "number", name="uq_infusion_series_number"),)

    id: int | None = Field(default=None, primary_key=True)
    series_id: int = Field(foreign_key="series.id", index=True)
    number: int = Field(ge=1)
    scheduled_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    status: InfusionStatus = _enum(InfusionStatus, InfusionStatus.SCHEDULED)
    responded_at: datetime | None = _optional_when()


def _priority_of_row(context: DefaultExecutionContext) -> int:
    """Every writer (one row or a bulk insert) gets the class its kind implies, unless it says otherwise."""
    parameters: dict[str, Any] = context.get_current_parameters()  # type: ignore[no-untyped-call]
    return int(Priority.of(StepKind(parameters["kind"])))


_HAS_ALERT = text("alert_id IS NOT NULL")


class Message(SQLModel, Persisted, table=True):
    """The outbox: everything that leaves. One row per series step, so a step can never be sent twice;
    staff alerts are rows too (no series, a staff chat as recipient, the patient they concern)."""

    __table_args__ = (
        UniqueConstraint("series_id", "step_key", name="uq_message_series_step"),
        Index("ix_message_status_send_at", "status", "send_at"),
        # Claims walk one class at a time in due order.
        Index("ix_message_claim", "status", "priority", "due_at"),
        # Only urgent alerts' copies carry an alert id: a partial index costs bulk enrolment nothing.
        Index("ix_message_alert_id", "alert_id", sqlite_where=_HAS_ALERT, postgresql_where=_HAS_ALERT),
    )

    id: int | None = Field(default=None, primary_key=True)
    # Not indexed alone: uq_message_series_step (series_id first) serves every lookup by series.
    series_id: int | None = Field(default=None, foreign_key="series.id")
    # The patient the row is for, or (a staff alert) about.
    patient_id: int = Field(foreign_key="patient.id", index=True)
    step_key: str = Field(max_length=100)
    kind: StepKind = _enum(StepKind)
    template: str = Field(max_length=200)
    infusion_number: int | None = None
    quiet: QuietPolicy = _enum(QuietPolicy, QuietPolicy.DEFER)
    # When the series says the step is due, and when the dispatcher may send it
    # (later than due_at after quiet hours or a retry).
    due_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    send_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    not_after: datetime | None = _optional_when()
    status: MessageStatus = _enum(MessageStatus, MessageStatus.PENDING)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=Text)
    channel: ChannelName | None = Field(default=None, sa_type=StrEnumType(ChannelName))
    contact_id: int | None = Field(default=None, foreign_key="contact.id")
    provider_id: str | None = Field(default=None, max_length=200)
    sent_at: datetime | None = _optional_when()
    # A claim by a dispatcher: it expires, so a crashed process's rows return to the queue.
    claimed_by: str | None = Field(default=None, max_length=100)
    lease_until: datetime | None = _optional_when()
    updated_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    # Send on this channel only (a fallback copy of a reminder), whatever the patient's order.
    # Last, as migration 0002 added it: both ways of building the schema give the same table.
    only_channel: ChannelName | None = Field(default=None, sa_type=StrEnumType(ChannelName))
    # The provider's latest word after sending (Twilio: queued, sent, delivered, undelivered, failed).
    provider_status: str | None = Field(default=None, max_length=32)
    # Migration 0005: the queue class (Priority; set from the kind when a writer leaves it out),
    # a staff chat as recipient instead of the patient's contacts, and what an alert's text needs.
    priority: int | None = Field(
        default=None, sa_column=Column("priority", SmallInteger, nullable=False, default=_priority_of_row)
    )
    staff_chat_id: int | None = Field(default=None, sa_type=BigInteger)
    params: dict[str, Any] | None = Field(default=None, sa_type=JSON(none_as_null=True))
    # When the patient first opened the note's page through its link: the only true read receipt there is.
    read_at: datetime | None = _optional_when()
    # Migration 0010: the staff alert this row is a copy of; with provider_id and staff_chat_id it says
    # where the copy landed, so "I'm on it" can edit every copy.
    alert_id: int | None = None


class Answer(SQLModel, Persisted, table=True):
    __table_args__ = (UniqueConstraint("message_id", "question", name="uq_answer_message_question"),)

    id: int | None = Field(default=None, primary_key=True)
    series_id: int = Field(foreign_key="series.id", index=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    message_id: int | None = Field(default=None, foreign_key="message.id")
    question: str = Field(max_length=50)
    value: str = Field(max_length=500)
    score: int | None = None
    escalated: bool = False
    answered_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    # The infusion this check-in follows: 0 for the baseline before the first one. Last, as
    # migration 0007 added it: both ways of building the schema give the same table.
    after_infusion: int | None = None


class AuditEvent(SQLModel, Persisted, table=True):
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime(), nullable=False, index=True)
    # "staff:<telegram id>", "patient:<id>" or "system".
    actor: str = Field(max_length=100)
    action: str = Field(max_length=100)
    patient_id: int | None = Field(default=None, index=True)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class ConversationEntry(SQLModel, Persisted, table=True):
    """One message in a patient's conversation with the clinic, either way, on any channel."""

    __tablename__ = "conversation_entry"
    __table_args__ = (Index("ix_conversation_entry_patient_at", "patient_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id")
    at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    # "in" from the patient, "out" a staff reply.
    direction: str = Field(max_length=8)
    channel: ChannelName = _enum(ChannelName)
    text: str | None = Field(default=None, sa_type=Text)
    # Voice, photo, document…: what it was and the provider's file id to fetch it.
    media: str | None = Field(default=None, max_length=32)
    file_id: str | None = Field(default=None, max_length=200)
    # crisis / urgent / routine (inbound only).
    level: str | None = Field(default=None, max_length=16)
    # Who wrote it (a staff reply), or who handled it (an inbound message).
    staff_user_id: int | None = Field(default=None, sa_type=BigInteger)
    handled_at: datetime | None = _optional_when()


class StaffAlert(SQLModel, Persisted, table=True):
    """An alert as staff received it: urgent ones wait for someone to say "I'm on it"."""

    __tablename__ = "staff_alert"

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int | None = Field(default=None, foreign_key="patient.id", index=True)
    key: str = Field(max_length=50)
    urgent: bool = False
    # The rendered text, so the alert can be edited and sent again as it was.
    text: str = Field(sa_type=Text)
    created_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    acknowledged_at: datetime | None = _optional_when()
    acknowledged_by: int | None = Field(default=None, sa_type=BigInteger)
    acknowledged_name: str | None = Field(default=None, max_length=200)
    renotified_at: datetime | None = _optional_when()


class CheckinFollowUp(SQLModel, table=True):
    """What was done about a check-in left unanswered: one reminder, then staff told."""

    __tablename__ = "checkin_followup"

    message_id: int = Field(foreign_key="message.id", primary_key=True)
    reminded_at: datetime | None = _optional_when()
    reported_at: datetime | None = _optional_when()


class DashboardLogin(SQLModel, Persisted, table=True):
    """A one-time sign-in link to the staff dashboard, as the bot gave it: only its hash is kept."""

    __tablename__ = "dashboard_login"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    staff_user_id: int = Field(sa_type=BigInteger)
    created_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    used_at: datetime | None = _optional_when()


class DashboardSession(SQLModel, Persisted, table=True):
    """A signed-in browser: the cookie's hash, so every process agrees and a leak opens nothing."""

    __tablename__ = "dashboard_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    staff_user_id: int = Field(sa_type=BigInteger, index=True)
    created_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    ended_at: datetime | None = _optional_when()
