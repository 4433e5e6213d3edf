"""A reminder sent on Telegram and not answered in time also goes by SMS (off unless configured)."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

from messenger.db import SessionFactory, transaction
from messenger.domain.enums import ChannelName, MessageStatus, StepKind
from messenger.domain.models import Contact, Message
from messenger.domain.timing import QuietHours, send_time
from messenger.scheduling.dispatcher import Delivery

FALLBACK_PREFIX = "fallback-"


class ReminderFallback:
    """Dispatcher listener: queue an SMS copy of each Telegram reminder, due ``delay`` later.

    The copy is skipped if the patient answers the reminder first, and it has the
    reminder's own not-after time, so it never arrives after the infusion has started.
    It keeps the reminder's quiet-hours policy: a copy that would fall due at night waits
    for the morning, or is not queued if the morning is too late.
    """

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        delay: timedelta,
        quiet_hours: QuietHours,
        channel: ChannelName = ChannelName.SMS,
    ) -> None:
        self.sessions = sessions
        self.delay = delay
        self.quiet_hours = quiet_hours
        self.channel = channel

    async def on_delivery(self, delivery: Delivery) -> None:
        message = delivery.message
        if (
            delivery.status is not MessageStatus.SENT
            or delivery.channel is not ChannelName.TELEGRAM
            or message.kind is not StepKind.REMINDER
            or message.only_channel is not None
        ):
            return
        due = delivery.at + self.delay
        send_at = send_time(
            due=due,
            policy=message.quiet,
            zone=ZoneInfo(delivery.patient.timezone),
            quiet=self.quiet_hours,
            not_after=message.not_after,
        )
        if send_at is None:
            return
        key = f"{FALLBACK_PREFIX}{message.step_key}"
        async with transaction(self.sessions) as session:
            has_contact = (
                await session.exec(
                    select(Contact.id).where(Contact.patient_id == message.patient_id, Contact.channel == self.channel)
                )
            ).first()
            already = (
                await session.exec(
                    select(Message.id).where(Message.series_id == message.series_id, Message.step_key == key)
                )
            ).first()
            if has_contact is None or already is not None:
                return
            session.add(
                Message(
                    series_id=message.series_id,
                    patient_id=message.patient_id,
                    step_key=key,
                    kind=message.kind,
                    template=message.template,
                    infusion_number=message.infusion_number,
                    quiet=message.quiet,
                    due_at=due,
                    send_at=send_at,
                    not_after=message.not_after,
                    only_channel=self.channel,
                    updated_at=delivery.at,
                )
            )
