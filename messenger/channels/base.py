"""The channel contract: deliver one message and say what happened, as a typed outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from messenger.channels.failures import FailureCode, Params, failure_text
from messenger.content import Button, Capabilities, Content
from messenger.domain.enums import ChannelName, StepKind

# The shared vocabulary lives in messenger.content; these names stay importable from here for
# the channel contract's users.
__all__ = [
    "Button",
    "Capabilities",
    "Channel",
    "Content",
    "Failed",
    "FailureCode",
    "Outgoing",
    "RetryLater",
    "SendOutcome",
    "Sent",
]


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
    code: FailureCode
    after: float = 0.0  # seconds the provider asked us to wait, if it said
    params: Params = ()
    # The provider's own words, redacted: for logs only, never shown to a person.
    detail: str = field(default="", compare=False)
    # The provider said "slow down" (Telegram 429, Twilio 429/20429): not a failed attempt.
    throttled: bool = False

    @property
    def reason(self) -> str:
        """The stable code and its parameters, as stored (``"twilio.http status=503"``)."""
        return failure_text(self.code, self.params)


@dataclass(frozen=True, slots=True)
class Failed:
    code: FailureCode
    params: Params = ()
    # The address itself is dead (blocked bot, invalid number): try the next contact.
    unreachable: bool = False
    opted_out: bool = False
    # The provider's own words, redacted: for logs only, never shown to a person.
    detail: str = field(default="", compare=False)

    @property
    def reason(self) -> str:
        """The stable code and its parameters, as stored (``"twilio.21211"``)."""
        return failure_text(self.code, self.params)


SendOutcome = Sent | RetryLater | Failed


class Channel(Protocol):
    name: ChannelName
    capabilities: Capabilities

    async def send(self, outgoing: Outgoing) -> SendOutcome:
        """Deliver ``outgoing``; never raises for a provider's answer."""
        ...
