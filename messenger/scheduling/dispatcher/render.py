"""Turning a claimed row into what a channel sends: the patient's template, a staff alert, or the on-call page."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.channels.base import Button, Channel, Content, Outgoing
from messenger.content import Capabilities, Flavour
from messenger.domain.enums import ChannelName, StepKind
from messenger.domain.models import Contact, Message, Patient
from messenger.rendering.compose import Composer
from messenger.rendering.context import Clinic, message_context
from messenger.rendering.strings import BotStrings
from messenger.scheduling.dispatcher.jobs import Job
from messenger.scheduling.whatsapp import whatsapp_content

# The buttons a message carries on channels that have them (reminders, check-ins).
ButtonFactory = Callable[[Message, str], tuple[tuple[Button, ...], ...]]
# Files a message carries on channels with rich content (an infusion's calendar invitation by e-mail):
# (message, the series' infusion times, the patient's locale) → (file name, bytes, MIME type) tuples.
AttachmentFactory = Callable[[Message, list[datetime], str], tuple[tuple[str, bytes, str], ...]]
# A note's text (a staff reply, a check-in reminder): (message, the patient's locale, the channel's flavour).
DirectFactory = Callable[[Message, str, Flavour], Content]
# The address of a note's own page, for channels that cannot carry the note (message, now) → link or None.
NoteLinkFactory = Callable[[Message, datetime], str | None]
_UTC = ZoneInfo("UTC")


class StaffDesk(Protocol):
    """Staff alerts as the dispatcher needs them: written as rows, rendered when they go."""

    async def queue(self, session: AsyncSession, *, now: datetime, key: str, patient_id: int, **params: Any) -> int:
        """Add alert rows for ``key`` about a patient (in the caller's transaction); returns how many."""
        ...

    def alert(self, message: Message, patient: Patient) -> Content: ...

    def digest(self, items: Sequence[tuple[Message, Patient]]) -> Content: ...

    def files(self, message: Message) -> tuple[tuple[str, bytes, str], ...]: ...


@dataclass(frozen=True, slots=True)
class OncallPhone:
    """Where the on-call page goes, as the settings say when it goes (rows name no number), and the
    staff's language for its text."""

    number: str
    strings: BotStrings
    locale: str


class Renderer:
    def __init__(
        self,
        *,
        composer: Composer,
        clinic: Clinic,
        buttons: ButtonFactory | None = None,
        attachments: AttachmentFactory | None = None,
        staff: StaffDesk | None = None,
        notes: DirectFactory | None = None,
        note_links: NoteLinkFactory | None = None,
        oncall: OncallPhone | None = None,
    ) -> None:
        self.composer = composer
        self.clinic = clinic
        self.buttons = buttons
        self.attachments = attachments
        self.staff = staff
        self.notes = notes
        self.note_links = note_links
        self.oncall = oncall

    def for_staff_pages(self, note_links: NoteLinkFactory | None) -> Renderer:
        """The same rendering for pages staff read, with ``note_links`` (links that show, not open)."""
        return Renderer(composer=self.composer, clinic=self.clinic, notes=self.notes, note_links=note_links)

    def for_patient(self, job: Job, channel: Channel, contact: Contact, now: datetime) -> Outgoing:
        """The series step in the patient's language, for this channel; raises TemplateRenderError."""
        message, patient = job.message, job.patient
        if self._is_note(message):
            return self._outgoing(job, contact, self._note(job, channel.capabilities))
        context = self._context(job, now)
        content = self.composer.compose(
            template=message.template, capabilities=channel.capabilities, locale=patient.locale, context=context
        )
        if contact.channel is ChannelName.WHATSAPP and job.definition is not None:
            locales = self.composer.environment.locales_for(patient.locale)
            content = whatsapp_content(content, job.definition, message, contact, context, locales, now)
        if channel.capabilities.buttons and self.buttons is not None:
            content = replace(content, buttons=self.buttons(message, patient.locale))
        files: tuple[tuple[str, bytes, str], ...] = ()
        if channel.capabilities.html is not None and self.attachments is not None:
            files = self.attachments(message, job.infusion_times, patient.locale)
        return self._outgoing(job, contact, content, files)

    def patient_text(self, job: Job, capabilities: Capabilities, now: datetime) -> Content:
        """What the patient reads of the row on a channel of ``capabilities``, rendered as :meth:`for_patient`
        renders it: the body and the subject, without an HTML part, buttons or files; raises TemplateRenderError."""
        if self._is_note(job.message):
            return self._note(job, capabilities)
        return self.composer.compose(
            template=job.message.template,
            capabilities=replace(capabilities, html=None),
            locale=job.patient.locale,
            context=self._context(job, now),
        )

    def _is_note(self, message: Message) -> bool:
        return message.kind is StepKind.DIRECT and self.notes is not None

    def _note(self, job: Job, capabilities: Capabilities) -> Content:
        if self.notes is None:
            raise TypeError("notes need their writer")
        note = self.notes(job.message, job.patient.locale, capabilities.body)
        return replace(note, body=note.body[: capabilities.max_length])

    def _context(self, job: Job, now: datetime) -> dict[str, Any]:
        message, patient = job.message, job.patient
        if job.definition is None:
            raise TypeError(f"message {message.id} has no series definition to render")
        return message_context(
            patient_name=patient.name,
            zone=ZoneInfo(patient.timezone),
            clinic=self.clinic,
            definition=job.definition,
            infusion_times=job.infusion_times,
            step_key=message.step_key,
            kind=message.kind,
            infusion_number=message.infusion_number,
            language=patient.locale,
            not_held=job.not_held,
            note_link=self.note_links(message, now) if self.note_links else None,
        )

    def _outgoing(
        self, job: Job, contact: Contact, content: Content, files: tuple[tuple[str, bytes, str], ...] = ()
    ) -> Outgoing:
        message, patient = job.message, job.patient
        return Outgoing(
            message_id=message.pk,
            address=contact.address,
            content=content,
            kind=message.kind,
            step_key=message.step_key,
            zone=ZoneInfo(patient.timezone),
            scheduled_for=message.send_at,
            recipient=patient.name,
            contact_id=contact.id,
            attachments=files,
        )

    def for_staff(self, jobs: Sequence[Job], chat_id: int) -> Outgoing:
        """One alert, or one digest of several waiting for the same staff chat."""
        if self.staff is None or not jobs:
            raise TypeError("staff alerts need the staff desk and at least one alert")
        first = jobs[0].message
        files: tuple[tuple[str, bytes, str], ...] = ()
        if len(jobs) == 1:
            content, files = self.staff.alert(first, jobs[0].patient), self.staff.files(first)
        else:
            content = self.staff.digest([(j.message, j.patient) for j in jobs])
        return Outgoing(
            message_id=first.pk,
            address=str(chat_id),
            content=content,
            kind=first.kind,
            step_key=first.step_key,
            zone=_UTC,
            scheduled_for=first.send_at,
            attachments=files,
        )

    def for_oncall(self, job: Job) -> Outgoing:
        """The page to the on-call phone: a bot string about the patient's alert, in the staff's language."""
        if self.oncall is None:
            raise TypeError("an on-call page needs the on-call phone")
        message, oncall = job.message, self.oncall
        body = oncall.strings.plain(
            message.template, oncall.locale, patient_id=message.patient_id, **(message.params or {})
        )
        return Outgoing(
            message_id=message.pk,
            address=oncall.number,
            content=Content(body=body),
            kind=message.kind,
            step_key=message.step_key,
            zone=_UTC,
            scheduled_for=message.send_at,
            recipient="on call",
        )
