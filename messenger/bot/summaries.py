"""The end-of-course summary PDF, sent to staff when a series completes or is cancelled."""

from __future__ import annotations

import logging

from telegram import Bot, InputFile
from telegram.constants import ParseMode
from telegram.error import TelegramError

from messenger.bot.alerts import StaffAlerts
from messenger.insights.documents import Insights
from messenger.scheduling.dispatcher import Delivery

log = logging.getLogger(__name__)


class CourseSummaries:
    def __init__(self, *, bot: Bot, alerts: StaffAlerts, insights: Insights) -> None:
        self.bot = bot
        self.alerts = alerts
        self.insights = insights

    async def send(self, patient_id: int) -> int:
        """Send patient ``patient_id``'s summary to the staff chat or every staff member; returns how many got it."""
        rendered = await self.insights.summary(patient_id)
        delivered = 0
        for chat_id in await self.alerts.recipients():
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
