"""Every channel kind the package ships, by what it can carry (for checks that span channels)."""

from __future__ import annotations

from collections.abc import Mapping

from messenger.channels.console import ConsoleChannel
from messenger.channels.email import EmailChannel
from messenger.channels.telegram import TelegramChannel
from messenger.channels.twilio import TwilioChannel
from messenger.content import Capabilities
from messenger.domain.enums import ChannelName


def capabilities_by_channel() -> Mapping[ChannelName, Capabilities]:
    """What each shipped channel carries, configured or not: a row sent last month on a channel since
    switched off still reads as it went."""
    return {
        ChannelName.TELEGRAM: TelegramChannel.capabilities,
        **TwilioChannel.CAPABILITIES,
        ChannelName.EMAIL: EmailChannel.capabilities,
        ChannelName.CONSOLE: ConsoleChannel.capabilities,
    }


def shipped_capabilities() -> tuple[Capabilities, ...]:
    """The capabilities of every shipped channel, configured or not."""
    return tuple(capabilities_by_channel().values())
