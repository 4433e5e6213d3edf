"""Every channel kind the package ships, by what it can carry (for checks that span channels)."""

from __future__ import annotations

from messenger.channels.console import ConsoleChannel
from messenger.channels.email import EmailChannel
from messenger.channels.telegram import TelegramChannel
from messenger.channels.twilio import TwilioChannel
from messenger.content import Capabilities


def shipped_capabilities() -> tuple[Capabilities, ...]:
    """The capabilities of every shipped channel, configured or not."""
    return (
        TelegramChannel.capabilities,
        *TwilioChannel.CAPABILITIES.values(),
        EmailChannel.capabilities,
        ConsoleChannel.capabilities,
    )
