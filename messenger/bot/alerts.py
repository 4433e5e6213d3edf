"""Alerts to staff: rows in the outbox, written in the transaction of what caused them.

An alert goes to the clinic's staff chat, or to every active staff member, through the
dispatcher like any message: retried until it is delivered, never dropped. Its text is
rendered when it goes, so several waiting for the same chat become one digest.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.bot.keyboards import Callback
from messenger.channels.failures import describe_failure
from messenger.content import Button, Content
from messenger.domain.enums import Priority, QuietPolicy, StepKind
from messenger.domain.models import Message, Patient
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

    async def queue(self, session: AsyncSession, *, now: datetime, key: str, patient_id: int, **params: Any) -> int:
        """Add alert ``alerts.<key>`` about a patient for every recipient; returns how many rows."""
        chats = (
            [self.staff_chat_id]
            if self.staff_chat_id is not None
            else [s.telegram_user_id for s in await list_staff(session)]
        )
        for chat_id in chats:
            session.add(
                Message(
                    patient_id=patient_id,
                    step_key=f"alert-{key}",
                    kind=StepKind.ALERT,
                    template=f"{ALERT_PREFIX}{key}",
                    quiet=QuietPolicy.IGNORE,
                    priority=Priority.URGENT,
                    due_at=now,
                    send_at=now,
                    updated_at=now,
                    staff_chat_id=chat_id,
                    params={k: _stored(v) for k, v in params.items()},
                )
            )
        return len(chats)

    def alert(self, message: Message, patient: Patient) -> Content:
        """One alert, with a button that opens the patient's card."""
        text = self.strings.get(message.template, self.locale, **self._params(message, patient))
        return Content(body=text, buttons=((self._open(patient, "buttons.open_patient"),),))

    def digest(self, items: Sequence[tuple[Message, Patient]]) -> Content:
        """Several alerts waiting for one chat: "N patients need attention", a line and a button per patient."""
        what: dict[int, list[str]] = {}
        patients: dict[int, Patient] = {}
        for message, patient in items:
            key = message.template.removeprefix(ALERT_PREFIX)
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
        if "reason" in stored:  # a stored failure code, read as the sentence for it
            stored["reason"] = describe_failure(self.strings, str(stored["reason"]), self.locale)
        return {**stored, "patient_id": patient.pk, "name": patient.name}

    def _open(self, patient: Patient, key: str) -> Button:
        label = self.strings.plain(key, self.locale, name=patient.name, patient_id=patient.pk)
        return Button(label, Callback("o", patient.pk, "card").encode())


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
