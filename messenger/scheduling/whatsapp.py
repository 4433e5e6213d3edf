"""WhatsApp's 24-hour window: which content goes to a WhatsApp address, free text or the step's template.

WhatsApp takes free text only within 24 hours of the patient's last message on that address; outside
the window only an approved template goes. When Twilio still answers 63016 ("outside the allowed
window") for free text, the template goes instead, once: at once when the refusal comes with the
request (the channel resends), or on the next attempt when it comes by status callback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from messenger.channels.failures import FailureCode, parse_failure
from messenger.content import Content
from messenger.domain.models import Contact, Message
from messenger.domain.series import SeriesDefinition
from messenger.rendering.whatsapp import provider_template, step_templates

__all__ = ["WINDOW", "outside_window", "whatsapp_content"]

WINDOW = timedelta(hours=24)


def outside_window(last_inbound_at: datetime | None, now: datetime) -> bool:
    """Whether free text would be refused: the patient has not written in the last 24 hours."""
    return last_inbound_at is None or now - last_inbound_at >= WINDOW


def whatsapp_content(
    content: Content,
    definition: SeriesDefinition,
    message: Message,
    contact: Contact,
    context: Mapping[str, Any],
    locales: Sequence[str],
    now: datetime,
) -> Content:
    """``content`` for ``contact`` (a WhatsApp address) with the step's template attached, if it has one,
    to go first when free text would be refused (the window is closed, or the last try was refused)."""
    source = f"series {definition.key!r} step {message.step_key!r}"
    template = provider_template(step_templates(definition, message.step_key), locales, context, source=source)
    if template is None:
        return content
    failure = parse_failure(message.last_error)
    refused = failure is not None and failure[0] is FailureCode.TWILIO_OUTSIDE_WINDOW
    return replace(content, template=template, template_first=refused or outside_window(contact.last_inbound_at, now))
