"""The channel contract: deliver one message and say what happened, as a typed outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from messenger.domain.enums import ChannelName, StepKind
from messenger.rendering.environment import Flavour


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a channel can carry, declared as data."""

    body: Flavour
    max_length: int
    subject: Flavour | None = None
    html: Flavour | None = None
    buttons: bool = False
    # Lock-screen previews must not reveal anything medical.
    discreet: bool = False


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    data: str


@dataclass(frozen=True, slots=True)
class Content:
    body: str
    subject: str | None = None
    html: str | None = None
    buttons: tuple[tuple[Button, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message on its way: the address, the content, and what it is (for logs and display)."""

    message_id: int
    address: str
    content: Content
    kind: StepKind
    step_key: str
    zone: ZoneInfo
    # When the series meant the patient to receive it (after quiet hours).
    scheduled_for: datetime
    recipient: str = ""
    # The contact row this goes to (for unsubscribe links); None outside the outbox.
    contact_id: int | None = None
    # (file name, bytes, MIME type), e.g. an infusion's calendar invitation for e-mail.
    attachments: tuple[tuple[str, bytes, str], ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Sent:
    provider_id: str | None = None


@dataclass(frozen=True, slots=True)
class RetryLater:
    reason: str
    after: float = 0.0  # seconds the provider asked us to wait, if it said
    # The provider said "slow down" (Telegram 429, Twilio 429/20429): not a failed attempt.
    throttled: bool = False


@dataclass(frozen=True, slots=True)
class Failed:
    reason: str
    # The address itself is dead (blocked bot, invalid number): try the next contact.
    unreachable: bool = False
    opted_out: bool = False


SendOutcome = Sent | RetryLater | Failed


class Channel(Protocol):
    name: ChannelName
    capabilities: Capabilities

    async def send(self, outgoing: Outgoing) -> SendOutcome:
        """Deliver ``outgoing``; never raises for a provider's answer."""
        ...
