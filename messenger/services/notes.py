"""Notes by link: a channel that cannot carry a note (SMS) sends a signed, expiring link to its own page.

The link names nothing but the outbox row (``/n/<token>``, the token holding ``n<message id>``, an
expiry and a MAC): no name, no topic, no phone number. A message row belongs to one patient and one
step, so the link is that patient's and that note's. Opening the page records when the note was
first read, and every opening is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.channels.signing import SHORT_MAC, read_token, sign_token
from messenger.clock import Clock
from messenger.config import Settings
from messenger.domain.enums import StepKind
from messenger.domain.models import Infusion, Message, Patient, Series
from messenger.services import audit

__all__ = ["NOTE_PATH", "NoteLinks", "OpenedNote", "open_note"]

NOTE_PATH = "/n/"
_PREFIX = "n"


@dataclass(frozen=True, slots=True)
class NoteLinks:
    """Makes and reads links to notes; built only when there is a public address and a signing secret."""

    base_url: str
    secret: bytes
    validity: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> NoteLinks | None:
        if not settings.public_url or settings.signing_secret is None:
            return None
        return cls(
            base_url=settings.public_url,
            secret=settings.signing_secret.get_secret_value().encode(),
            validity=timedelta(days=settings.note_link_days),
        )

    def link(self, *, message_id: int, now: datetime) -> str:
        # The short MAC keeps an education text with its link inside one or two SMS segments.
        token = sign_token(self.secret, f"{_PREFIX}{message_id}", now + self.validity, mac_bytes=SHORT_MAC)
        return f"{self.base_url}{NOTE_PATH}{token}"

    def for_message(self, message: Message, now: datetime) -> str | None:
        """The link for an education message (other kinds carry what they say themselves)."""
        if message.kind is not StepKind.EDUCATION or message.id is None:
            return None
        return self.link(message_id=message.id, now=now)

    def shown(self, message: Message, _now: datetime) -> str | None:
        """The link as staff see it in a message's text: the note's address without its token, which
        would open the note and record a read the patient never made."""
        if message.kind is not StepKind.EDUCATION:
            return None
        return f"{self.base_url}{NOTE_PATH}…"

    def message_id(self, token: str, *, now: datetime) -> int | None:
        """The outbox row a token points to, or None if it is forged, altered or expired."""
        payload = read_token(self.secret, token, now, mac_bytes=SHORT_MAC)
        if payload is None or not payload.startswith(_PREFIX) or not payload[1:].isdigit():
            return None
        return int(payload[1:])


@dataclass(frozen=True, slots=True)
class OpenedNote:
    message: Message
    patient: Patient
    series: Series
    infusion_times: list[datetime]
    # This opening is the first: the note was unread until now.
    first_read: bool


async def open_note(*, session: AsyncSession, clock: Clock, message_id: int, record: bool) -> OpenedNote | None:
    """The note of outbox row ``message_id``; with ``record``, the opening is recorded and audited."""
    message = await session.get(Message, message_id)
    if message is None or message.kind is not StepKind.EDUCATION:
        return None
    patient = await session.get(Patient, message.patient_id)
    series = await session.get(Series, message.series_id)
    if patient is None or series is None:
        return None
    infusions = (
        await session.exec(select(Infusion).where(Infusion.series_id == series.id).order_by(col(Infusion.number)))
    ).all()
    now, first_read = clock.now(), message.read_at is None
    if record:
        if first_read:
            message.read_at = now
        audit.record(
            session,
            at=now,
            actor=audit.patient_actor(patient.pk),
            patient_id=patient.pk,
            action="note_opened",
            message=message.pk,
            first=first_read,
        )
    return OpenedNote(message, patient, series, [i.scheduled_at for i in infusions], first_read and record)
