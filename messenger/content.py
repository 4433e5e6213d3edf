"""The words rendering and channels share: template flavours, what a channel carries, and content.

Rendering produces :class:`Content` for a channel's :class:`Capabilities`; channels deliver it.
Both packages import this module and neither imports the other, so it imports nothing of ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Button", "Capabilities", "Content", "Flavour", "ProviderTemplate"]


class Flavour(StrEnum):
    """The form a template is written in; the file name ends in ``.<flavour>.j2``."""

    TELEGRAM = "telegram.html"
    TEXT = "text"
    SMS = "sms"
    EMAIL_SUBJECT = "email-subject"
    EMAIL_TEXT = "email.text"
    EMAIL_HTML = "email.html"


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a channel can carry, declared as data."""

    body: Flavour
    max_length: int
    subject: Flavour | None = None
    html: Flavour | None = None
    buttons: bool = False
    # Lock-screen previews must not reveal anything medical: what a locked phone shows of a
    # message on this channel (its subject, or else its body) is checked for sensitive words.
    discreet: bool = False

    @property
    def lock_screen(self) -> Flavour:
        """The flavour a lock-screen notification shows: the subject where there is one."""
        return self.subject or self.body


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    data: str


@dataclass(frozen=True, slots=True)
class ProviderTemplate:
    """A message template the provider approved beforehand (a WhatsApp Content SID) and its variables."""

    sid: str
    variables: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Content:
    body: str
    subject: str | None = None
    html: str | None = None
    buttons: tuple[tuple[Button, ...], ...] = ()
    # What a channel that needs approved templates (WhatsApp outside its 24-hour window) sends instead.
    template: ProviderTemplate | None = None
    # Send ``template`` rather than the body: the body would be refused (the window is closed).
    template_first: bool = False
