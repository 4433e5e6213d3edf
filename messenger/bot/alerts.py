"""Alerts to staff: rows in the outbox, written in the transaction of what caused them.

An alert goes to the clinic's staff chat, or to every active staff member, through the
dispatcher like any message: retried until it is delivered, never dropped. Its text is
rendered when it goes, so several waiting for the same chat become one digest. An alert someone
should take (an urgent one, or a check-in's escalation) is also a :class:`StaffAlert` (who took
it, when, whether it was sent again) and carries an "I'm on it" button; which alerts always go
on their own rather than in a digest is :func:`messenger.domain.alerts.goes_alone`'s rule.
Nothing is queued about an erased patient.
"""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.bot.keyboards import Callback
from messenger.channels.failures import describe_failure
from messenger.content import Button, Content
from messenger.domain.alerts import TAKEN_KEYS
from messenger.domain.enums import Priority, QuietPolicy, StepKind
from messenger.domain.models import Message, Patient, StaffAlert
from messenger.domain.wording import Phrase
from messenger.rendering.strings import BotStrings
from messenger.services.staff import list_staff

ALERT_PREFIX = "alerts."
# Telegram allows 4096 characters per message and 100 buttons per keyboard.
_DIGEST_LIMIT = 4000
_DIGEST_BUTTONS = 50


class StaffAlerts:
    def __init__(self, *, strings: BotStrings, locale: str, staff_chat_id: int | None = None) -> None:
        self.strings = strings
        self.locale = locale
        self.staff_chat_id = staff_chat_id

    async def queue(
        self, session: AsyncSession, *, now: datetime, key: str, patient_id: int, urgent: bool = False, **params: Any
    ) -> int:
        """Add alert ``key`` (``alerts.<key>``, or a dotted key naming its own section) about a patient
        for every recipient; returns how many rows. An urgent one, or a check-in's escalation, is recorded
        to be taken ("I'm on it"); only an urgent one is sent again while nobody takes it."""
        patient = await session.get(Patient, patient_id)
        if _erased(patient):
            return 0
        alert_id = None
        if urgent or key in TAKEN_KEYS:
            text = self.strings.get(
                _template(key), self.locale, **_readable(params, self, patient_id, patient.name if patient else "")
            )
            record = StaffAlert(patient_id=patient_id, key=key, urgent=urgent, text=text, created_at=now)
            session.add(record)
            await session.flush()
            alert_id = record.pk
        return await self._rows(session, now=now, key=key, patient_id=patient_id, alert_id=alert_id, params=params)

    async def queue_again(self, session: AsyncSession, *, now: datetime, alert: StaffAlert) -> int:
        """An urgent alert nobody took, to every recipient once more, saying how long it has waited."""
        minutes = round((now - alert.created_at).total_seconds() / 60)
        return await self._rows(
            session,
            now=now,
            key=alert.key,
            patient_id=alert.patient_id or 0,
            alert_id=alert.pk,
            params={_AGAIN: minutes, _FIRST_TEXT: alert.text},
        )

    async def _rows(
        self, session: AsyncSession, *, now: datetime, key: str, patient_id: int, alert_id: int | None, params: Any
    ) -> int:
        if _erased(await session.get(Patient, patient_id)):
            return 0
        chats = await self.recipients(session)
        for chat_id in chats:
            session.add(
                Message(
                    patient_id=patient_id,
                    step_key=f"alert-{key}",  # see messenger.domain.alerts
                    kind=StepKind.ALERT,
                    template=_template(key),
                    quiet=QuietPolicy.IGNORE,
                    priority=Priority.URGENT,
                    due_at=now,
                    send_at=now,
                    updated_at=now,
                    staff_chat_id=chat_id,
                    alert_id=alert_id,
                    params={k: _stored(v) for k, v in params.items()},
                )
            )
        return len(chats)

    async def recipients(self, session: AsyncSession) -> list[int]:
        """The staff chat, or every active staff member's chat when none is configured."""
        if self.staff_chat_id is not None:
            return [self.staff_chat_id]
        return [s.telegram_user_id for s in await list_staff(session)]

    def alert(self, message: Message, patient: Patient) -> Content:
        """One alert, with a button that opens the patient's card (and "I'm on it" when it is to be taken)."""
        params = self._params(message, patient)
        open_card = (self._open(patient, "buttons.open_patient"),)
        if _DOCUMENT in params:  # the caption was rendered from the strings when the file was made
            return Content(body=str(params[_CAPTION]), buttons=(open_card,))
        if message.alert_id is None:
            return Content(body=self.strings.get(message.template, self.locale, **params), buttons=(open_card,))
        take = Button(
            self.strings.plain("inbox.take_button", self.locale), Callback("a", message.alert_id, "take").encode()
        )
        if _AGAIN in params:  # a re-notification repeats the alert as it was first written
            again = self.strings.get("inbox.renotify_prefix", self.locale, minutes=params[_AGAIN])
            body = again + "\n" + str(params[_FIRST_TEXT])
        else:
            body = self.strings.get(message.template, self.locale, **params)
        return Content(body=body, buttons=((take, *open_card),))

    def files(self, message: Message) -> tuple[tuple[str, bytes, str], ...]:
        """The file an alert carries (the end-of-course summary PDF), as queued with it."""
        params = message.params or {}
        if _DOCUMENT not in params:
            return ()
        return ((str(params[_FILENAME]), base64.b64decode(params[_DOCUMENT]), str(params[_MIME])),)

    async def queue_document(
        self, session: AsyncSession, *, now: datetime, key: str, patient_id: int, document: Document
    ) -> int:
        """A file for every recipient (``key`` names its caption's section), in the caller's transaction."""
        params = {
            _CAPTION: document.caption,
            _FILENAME: document.filename,
            _MIME: mimetypes.guess_type(document.filename)[0] or "application/octet-stream",
            _DOCUMENT: base64.b64encode(document.content).decode("ascii"),
        }
        return await self._rows(session, now=now, key=key, patient_id=patient_id, alert_id=None, params=params)

    def digest(self, items: Sequence[tuple[Message, Patient]]) -> Content:
        """Several alerts waiting for one chat: "N patients need attention", a line and a button per patient."""
        what: dict[int, list[str]] = {}
        patients: dict[int, Patient] = {}
        for message, patient in items:
            key = message.template.removeprefix(ALERT_PREFIX).replace(".", "_")
            label = self.strings.get(f"alert_digest.{key}", self.locale)
            what.setdefault(patient.pk, [])
            if label not in what[patient.pk]:
                what[patient.pk].append(label)
            patients[patient.pk] = patient
        lines = [self.strings.get("alert_digest.header", self.locale, count=len(patients))]
        shown = 0
        for patient_id, labels in what.items():
            line = self.strings.get(
                "alert_digest.line",
                self.locale,
                name=patients[patient_id].name,
                patient_id=patient_id,
                what=", ".join(labels),
            )
            if sum(len(x) + 1 for x in lines) + len(line) > _DIGEST_LIMIT or shown >= _DIGEST_BUTTONS:
                lines.append(self.strings.get("alert_digest.more", self.locale, count=len(what) - shown))
                break
            lines.append(line)
            shown += 1
        buttons = tuple((self._open(patients[p], "alert_digest.open"),) for p in list(what)[:shown])
        return Content(body="\n".join(lines), buttons=buttons)

    def _params(self, message: Message, patient: Patient) -> dict[str, Any]:
        stored = {k: _loaded(v) for k, v in (message.params or {}).items()}
        return _readable(stored, self, patient.pk, patient.name)

    def _open(self, patient: Patient, key: str) -> Button:
        label = self.strings.plain(key, self.locale, name=patient.name, patient_id=patient.pk)
        return Button(label, Callback("o", patient.pk, "card").encode())


_AGAIN = "again_minutes"
_FIRST_TEXT = "first_text"
_CAPTION, _FILENAME, _MIME, _DOCUMENT = "caption", "filename", "mime", "document"


class Document(Protocol):
    """A file for staff: its bytes, its name and its caption (Telegram HTML)."""

    @property
    def content(self) -> bytes: ...
    @property
    def filename(self) -> str: ...
    @property
    def caption(self) -> str: ...


def _erased(patient: Patient | None) -> bool:
    """Erased: a send in flight when it happened, or an alert waiting to be sent again, has nobody to tell of."""
    return patient is not None and patient.erased_at is not None


def _template(key: str) -> str:
    return key if "." in key else f"{ALERT_PREFIX}{key}"


def _readable(params: dict[str, Any], alerts: StaffAlerts, patient_id: int, name: str) -> dict[str, Any]:
    readable = dict(params)
    if "reason" in readable:  # a stored failure code, read as the sentence for it
        readable["reason"] = describe_failure(alerts.strings, str(readable["reason"]), alerts.locale)
    return {**readable, "patient_id": patient_id, "name": name}


def _stored(value: Any) -> Any:
    """An alert's parameter as JSON: phrases (the reasons for an escalation) keep their key and facts."""
    if isinstance(value, Phrase):
        return {"phrase": value.key, "params": {k: _stored(v) for k, v in value.params.items()}}
    if isinstance(value, list | tuple):
        return [_stored(item) for item in value]
    return value if isinstance(value, int | float | bool | str) or value is None else str(value)


def _loaded(value: Any) -> Any:
    if isinstance(value, dict) and "phrase" in value:
        return Phrase(value["phrase"], {k: _loaded(v) for k, v in value.get("params", {}).items()})
    if isinstance(value, list):
        return [_loaded(item) for item in value]
    return value
