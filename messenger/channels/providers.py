"""The provider channels the settings configure: SMS and WhatsApp through Twilio, e-mail through SMTP."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from messenger.channels.base import Channel, Outgoing
from messenger.channels.email import EmailChannel
from messenger.channels.twilio import TwilioChannel
from messenger.clock import Clock
from messenger.config import Settings
from messenger.domain.enums import ChannelName
from messenger.pacing.pacer import Pacer


def twilio_account(name: ChannelName, sender: str) -> str:
    """A Twilio sender as named in the shared pause table: a digest, so no number is stored there."""
    return f"twilio:{name.value}:{hashlib.sha256(sender.encode()).hexdigest()[:16]}"


def provider_channels(
    settings: Settings,
    clock: Clock,
    pacing_clock: Clock,
    *,
    unsubscribe_url: Callable[[Outgoing], str | None] | None = None,
) -> dict[ChannelName, Channel]:
    """SMS and WhatsApp (Twilio) and e-mail (SMTP), where the settings configure them."""
    channels: dict[ChannelName, Channel] = {}
    public = settings.public_url
    sid, token = settings.twilio_account_sid, settings.twilio_auth_token
    if settings.twilio_configured and sid and token is not None:
        callback = f"{public}/twilio/status" if public else None
        for name, sender in (
            (ChannelName.SMS, settings.twilio_sms_from),
            (ChannelName.WHATSAPP, settings.twilio_whatsapp_from),
        ):
            if sender:
                channels[name] = TwilioChannel(
                    name=name,
                    account_sid=sid,
                    auth_token=token,
                    from_number=sender,
                    clock=clock,
                    base_url=settings.twilio_base_url,
                    status_callback_url=callback,
                    pacer=Pacer(
                        account=twilio_account(name, sender), clock=pacing_clock, rate=settings.twilio_max_rate
                    ),
                )
    host, sender = settings.smtp_host, settings.email_from
    if host and sender:  # what Settings.email_configured checks, spelled out for the types
        channels[ChannelName.EMAIL] = EmailChannel(
            host=host,
            port=settings.smtp_port,
            from_address=sender,
            clock=clock,
            username=settings.smtp_username,
            password=settings.smtp_password,
            use_tls=settings.smtp_use_tls,
            unsubscribe_url=unsubscribe_url,
        )
    return channels
