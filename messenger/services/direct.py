"""Words from the clinic to one patient outside the series: staff replies, check-in reminders.

Each is an outbox row (kind ``direct``, no series) written in the transaction of its cause, so the
dispatcher retries it and it is never dropped. It goes on the channel the patient last wrote on
while that still reaches them, else on their first usable contact (chosen when it is queued, so
the conversation records where it went); its text is rendered when it goes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.content import Content, Flavour
from messenger.domain.enums import ChannelName, Priority, QuietPolicy, StepKind
from messenger.domain.models import Contact, Message
from messenger.rendering.strings import BotStrings
from messenger.services import conversation
from messenger.services.conversation import last_inbound_channel
from messenger.services.listening import discreet_key

# Telegram allows 4096 characters; the clinic's name and a prefix come on top of the staff's text.
MAX_REPLY = 3500


@dataclass(frozen=True, slots=True)
class DirectQueued:
    """The row waiting to go, and the channel it will go on."""

    message: Message
    channel: ChannelName


@dataclass(frozen=True, slots=True)
class NoDirectContact:
    """The patient has no contact a note could reach: nothing was queued."""


async def queue_direct(
    session: AsyncSession,
    *,
    now: datetime,
    patient_id: int,
    key: str,
    channels: frozenset[ChannelName] | None = None,
    urgent: bool = False,
    **params: Any,
) -> DirectQueued | NoDirectContact:
    """Add note ``key`` (a bot.toml key) for the patient in ``session``; ``channels`` are the configured ones."""
    contacts = (
        await session.exec(
            select(Contact)
            .where(Contact.patient_id == patient_id, col(Contact.reachable), col(Contact.opted_out).is_(False))
            .order_by(col(Contact.priority), col(Contact.id))
        )
    ).all()
    usable = [c.channel for c in contacts if channels is None or c.channel in channels]
    if not usable:
        return NoDirectContact()
    last = await last_inbound_channel(session, patient_id)
    only = last if last in usable else usable[0]
    message = Message(
        patient_id=patient_id,
        step_key=f"direct-{key}",
        kind=StepKind.DIRECT,
        template=key,
        quiet=QuietPolicy.IGNORE if urgent else QuietPolicy.DEFER,
        priority=Priority.URGENT if urgent else Priority.APPOINTMENT,
        due_at=now,
        send_at=now,
        updated_at=now,
        only_channel=only,
        params=params,
    )
    session.add(message)
    await session.flush()
    return DirectQueued(message, only)


async def queue_staff_reply(
    session: AsyncSession,
    *,
    now: datetime,
    patient_id: int,
    text: str,
    staff_user_id: int,
    clinic: str,
    channels: frozenset[ChannelName] | None,
) -> DirectQueued | NoDirectContact:
    """A staff member's words to a patient, queued with their place in the conversation (and audited)."""
    queued = await queue_direct(
        session,
        now=now,
        patient_id=patient_id,
        key="listening.staff_reply",
        channels=channels,
        urgent=True,
        clinic=clinic,
        text=text,
    )
    if isinstance(queued, DirectQueued):
        await conversation.record_reply(
            session, at=now, patient_id=patient_id, channel=queued.channel, text=text, staff_user_id=staff_user_id
        )
    return queued


class DirectWriter:
    """A note's text for the channel it goes on: HTML on Telegram, discreet plain text elsewhere."""

    def __init__(self, *, strings: BotStrings) -> None:
        self.strings = strings

    def __call__(self, message: Message, locale: str, flavour: Flavour) -> Content:
        params = dict(message.params or {})
        if flavour is Flavour.TELEGRAM:
            return Content(body=self.strings.get(message.template, locale, **params))
        return Content(body=self.strings.plain(discreet_key(message.template), locale, **params))
