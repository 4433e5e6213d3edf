"""The end-of-course summary PDF, sent to staff when a series completes or is cancelled.

It goes straight to the Bot API rather than through the outbox: a document is not an
outbox row yet. A send that fails is logged, and ``/summary <id>`` makes it again.
"""

from __future__ import annotations

import logging

from telegram import Bot, InputFile
from telegram.constants import ParseMode
from telegram.error import TelegramError

from messenger.db import SessionFactory
from messenger.insights.documents import Insights
from messenger.scheduling.dispatcher import Delivery
from messenger.services.staff import list_staff

log = logging.getLogger(__name__)


class CourseSummaries:
    def __init__(self, *, bot: Bot, sessions: SessionFactory, insights: Insights, staff_chat_id: int | None) -> None:
        self.bot = bot
        self.sessions = sessions
        self.insights = insights
        self.staff_chat_id = staff_chat_id

    async def recipients(self) -> list[int]:
        """The staff chat when the clinic has one, else every active staff member's private chat."""
        if self.staff_chat_id is not None:
            return [self.staff_chat_id]
        async with self.sessions() as session:
            return [s.telegram_user_id for s in await list_staff(session)]

    async def send(self, patient_id: int) -> int:
        """Send patient ``patient_id``'s summary to every recipient; returns how many got it."""
        rendered = await self.insights.summary(patient_id)
        delivered = 0
        for chat_id in await self.recipients():
            try:
                await self.bot.send_document(
                    chat_id=chat_id,
                    document=InputFile(rendered.content, filename=rendered.filename),
                    caption=rendered.caption,
                    parse_mode=ParseMode.HTML,
                )
                delivered += 1
            except TelegramError as exc:
                log.warning("summary for patient %s not delivered to a staff chat: %s", patient_id, exc)
        return delivered

    async def on_delivery(self, delivery: Delivery) -> None:
        """Dispatcher listener: a series just completed."""
        if delivery.series_completed and delivery.patient.id is not None:
            await self.send(delivery.patient.id)
