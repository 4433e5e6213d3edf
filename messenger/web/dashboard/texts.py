"""What each message on a patient's page says: rendered as the dispatcher renders it, in the patient's
language, for the channel it went on or, not sent yet, the one it would go on now."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import unescape

from jinja2 import TemplateError

from messenger.channels.catalogue import capabilities_by_channel
from messenger.content import Capabilities, Flavour
from messenger.domain.enums import ChannelName, StepKind
from messenger.rendering.environment import TemplateRenderError
from messenger.scheduling.dispatcher.decision import first_usable
from messenger.scheduling.dispatcher.jobs import Job
from messenger.scheduling.dispatcher.render import Renderer

__all__ = ["Shown", "shown_texts"]

# A patient with no contact yet was invited to open a chat with the bot: that is where they will read it.
_INVITED = ChannelName.TELEGRAM
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True, slots=True)
class Shown:
    """A message's text as the patient reads it on ``channel``; ``broken`` when its template does not render."""

    channel: ChannelName
    body: str | None = None
    subject: str | None = None
    broken: bool = False


def shown_texts(
    renderer: Renderer, jobs: Sequence[Job], *, channels: Collection[ChannelName], now: datetime
) -> dict[int, Shown]:
    """Each row's text by message id; a row with nothing to show (an erased patient, a note whose words
    were purged) is left out."""
    capabilities = capabilities_by_channel()
    shown: dict[int, Shown] = {}
    for job in jobs:
        message = job.message
        if job.patient.erased_at is not None or (message.kind is StepKind.DIRECT and not message.params):
            continue
        contact = first_usable(message, job.contacts, channels)
        channel = message.channel or message.only_channel or (contact.channel if contact else _INVITED)
        shown[message.pk] = _render(renderer, job, channel, capabilities[channel], now)
    return shown


def _render(renderer: Renderer, job: Job, channel: ChannelName, capabilities: Capabilities, now: datetime) -> Shown:
    if job.definition is None and job.message.kind is not StepKind.DIRECT:
        return Shown(channel, broken=True)  # its series definition is no longer installed
    try:
        content = renderer.patient_text(job, capabilities, now)
    except (TemplateRenderError, TemplateError, KeyError):
        # The dispatcher records the error when it sends; the page says it in a sentence.
        return Shown(channel, broken=True)
    body = content.body
    if capabilities.body is Flavour.TELEGRAM:  # Telegram's few tags, read as the chat shows them
        body = unescape(_TAG.sub("", body))
    return Shown(channel, body, content.subject)
