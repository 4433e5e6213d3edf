"""Words from the clinic to one patient outside the series: staff replies, check-in reminders, notes.

Every such message goes out through :meth:`PatientLine.send`, the one place that sends them,
on the channel the patient last wrote on if it still works, else on their first usable contact.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from messenger.channels.base import Channel, Content, Failed, Outgoing, SendOutcome, Sent
from messenger.clock import Clock
from messenger.db import SessionFactory
from messenger.domain.enums import ChannelName, StepKind
from messenger.domain.models import Contact, Patient
from messenger.rendering.environment import Flavour
from messenger.rendering.strings import BotStrings
from messenger.services.conversation import last_inbound_channel
from messenger.services.listening import discreet_key

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LineOutcome:
    """Where the message went (None: nowhere to send it) and what the provider said."""

    channel: ChannelName | None
    outcome: SendOutcome
    body: str = ""

    @property
    def sent(self) -> bool:
        return isinstance(self.outcome, Sent)


class PatientLine:
    def __init__(
        self, *, sessions: SessionFactory, channels: Mapping[ChannelName, Channel], strings: BotStrings, clock: Clock
    ) -> None:
        self.sessions = sessions
        self.channels = channels
        self.strings = strings
        self.clock = clock

    async def send(self, *, patient_id: int, key: str, **params: Any) -> LineOutcome:
        """Render ``key`` for the patient's channel and send it; never raises for a provider's answer."""
        async with self.sessions() as session:
            patient = await session.get(Patient, patient_id)
            if patient is None:
                return LineOutcome(None, Failed("no such patient"))
            contacts = (
                await session.exec(
                    select(Contact)
                    .where(Contact.patient_id == patient_id, col(Contact.reachable), col(Contact.opted_out).is_(False))
                    .order_by(col(Contact.priority), col(Contact.id))
                )
            ).all()
            preferred = await last_inbound_channel(session, patient_id)
        usable = [c for c in contacts if c.channel in self.channels]
        usable.sort(key=lambda c: c.channel != preferred)
        if not usable:
            return LineOutcome(None, Failed("no usable contact"))
        contact = usable[0]
        channel = self.channels[contact.channel]
        html = channel.capabilities.body is Flavour.TELEGRAM
        if html:
            body = self.strings.get(key, patient.locale, **params)
        else:
            body = self.strings.plain(discreet_key(key), patient.locale, **params)
        body = body[: channel.capabilities.max_length]
        outgoing = Outgoing(
            message_id=0,
            address=contact.address,
            content=Content(body=body),
            # Not a series step: the kind only labels it in logs and channel displays.
            kind=StepKind.WELCOME,
            step_key=key,
            zone=ZoneInfo(patient.timezone),
            scheduled_for=self.clock.now(),
            recipient=patient.name,
            contact_id=contact.id,
        )
        outcome = await channel.send(outgoing)
        if not isinstance(outcome, Sent):
            log.warning("a direct message to patient %s on %s was not sent: %s", patient_id, contact.channel, outcome)
        return LineOutcome(contact.channel, outcome, body)
