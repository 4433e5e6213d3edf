"""Inline keyboards and their callback data (Telegram allows at most 64 bytes of data per button)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from messenger.content import Button
from messenger.domain import bounds
from messenger.domain.enums import StepKind
from messenger.domain.models import Message
from messenger.rendering.strings import BotStrings

# Callback data: "<kind>:<message or patient id>:<value>". Kinds:
#   r  reminder answer (y = attending, n = needs to reschedule)
#   c  check-in answer (p<0-10>, m<1-5>, c<yes|no>)
#   s  /stop confirmation (y / n)
#   o  staff: open a patient's card
#   a  staff: take an urgent alert ("I'm on it"; the target is the alert's id)
MAX_CALLBACK_BYTES = 64
_QUESTION_CODES = {"p": "pain", "m": "mood", "c": "contact"}


@dataclass(frozen=True, slots=True)
class Callback:
    kind: str
    target: int
    value: str

    def encode(self) -> str:
        data = f"{self.kind}:{self.target}:{self.value}"
        if len(data.encode()) > MAX_CALLBACK_BYTES:
            raise ValueError(f"callback data over {MAX_CALLBACK_BYTES} bytes: {data!r}")
        return data

    @classmethod
    def decode(cls, data: str | None) -> Callback | None:
        """Parse callback data; None for anything malformed (a forged or stale button)."""
        parts = (data or "").split(":")
        if len(parts) != 3 or len((data or "").encode()) > MAX_CALLBACK_BYTES:
            return None
        # "0" is a real target (the enrolment conversation's buttons carry no id).
        target = 0 if parts[1] == "0" else bounds.ascii_int(parts[1])
        return None if target is None else cls(parts[0], target, parts[2])

    @property
    def question(self) -> tuple[str, str] | None:
        """For a check-in answer: (question, value)."""
        if self.kind != "c" or not self.value or self.value[0] not in _QUESTION_CODES:
            return None
        return _QUESTION_CODES[self.value[0]], self.value[1:]


def question_buttons(
    question: str, message_id: int, strings: BotStrings, locale: str
) -> tuple[tuple[Button, ...], ...]:
    def button(label: str, value: str) -> Button:
        return Button(label, Callback("c", message_id, value).encode())

    if question == "pain":
        return (
            tuple(button(str(n), f"p{n}") for n in range(6)),
            tuple(button(str(n), f"p{n}") for n in range(6, 11)),
        )
    if question == "mood":
        return (tuple(button(strings.get(f"buttons.mood_{n}", locale), f"m{n}") for n in range(1, 6)),)
    return ((button(strings.get("buttons.yes", locale), "cyes"), button(strings.get("buttons.no", locale), "cno")),)


def step_buttons(kind: StepKind, message_id: int, strings: BotStrings, locale: str) -> tuple[tuple[Button, ...], ...]:
    """The buttons a step carries on Telegram: reminders are answered, check-ins start with pain."""
    if kind is StepKind.REMINDER:
        return (
            (
                Button(strings.get("buttons.attend", locale), Callback("r", message_id, "y").encode()),
                Button(strings.get("buttons.reschedule", locale), Callback("r", message_id, "n").encode()),
            ),
        )
    if kind is StepKind.CHECKIN:
        return question_buttons("pain", message_id, strings, locale)
    return ()


def message_buttons(strings: BotStrings) -> Callable[[Message, str], tuple[tuple[Button, ...], ...]]:
    """The dispatcher's button factory: a ledger row's step buttons in the patient's locale."""

    def buttons(message: Message, locale: str) -> tuple[tuple[Button, ...], ...]:
        return step_buttons(message.kind, message.pk, strings, locale)

    return buttons


def single(label: str, callback: Callback) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=callback.encode())]])


def choice(*buttons: tuple[str, Callback], per_row: int = 3) -> InlineKeyboardMarkup:
    keys = [InlineKeyboardButton(label, callback_data=cb.encode()) for label, cb in buttons]
    return InlineKeyboardMarkup([keys[i : i + per_row] for i in range(0, len(keys), per_row)])
