"""Alerts to staff: who and what, with a button to open the patient where that is natural."""

from __future__ import annotations

import logging
from typing import Any

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import TelegramError

from messenger.bot.keyboards import Callback, single
from messenger.channels.failures import describe_failure
from messenger.db import SessionFactory
from messenger.domain.enums import MessageStatus
from messenger.rendering.strings import BotStrings
from messenger.scheduling.dispatcher import Delivery
from messenger.services.staff import list_staff

log = logging.getLogger(__name__)


class StaffAlerts:
    def __init__(
        self, *, bot: Bot, sessions: SessionFactory, strings: BotStrings, locale: str, staff_chat_id: int | None = None
    ) -> None:
        self.bot = bot
        self.sessions = sessions
        self.strings = strings
        self.locale = locale
        self.staff_chat_id = staff_chat_id

    async def send(self, key: str, *, patient_id: int, name: str, **params: Any) -> int:
        """Send alert ``alerts.<key>`` to the staff chat or every active staff member; returns how many got it."""
        if "reason" in params:  # a stored failure code, read as the sentence for it
            params["reason"] = describe_failure(self.strings, str(params["reason"]), self.locale)
        text = self.strings.get(f"alerts.{key}", self.locale, patient_id=patient_id, name=name, **params)
        button = single(self.strings.get("buttons.open_patient", self.locale), Callback("o", patient_id, "card"))
        delivered = 0
        for chat_id in await self._recipients():
            try:
                await self.bot.send_message(chat_id=chat_id, text=text, parse_mode=ParseMode.HTML, reply_markup=button)
                delivered += 1
            except TelegramError as exc:
                log.warning("alert %s for patient %s not delivered to a staff chat: %s", key, patient_id, exc)
        return delivered

    async def on_delivery(self, delivery: Delivery) -> None:
        """Dispatcher listener: tell staff about lost contacts and undeliverable messages."""
        patient = delivery.patient
        for contact in delivery.lost_contacts:
            key = "opted_out" if contact.opted_out else "unreachable"
            await self.send(
                key,
                patient_id=patient.id,
                name=patient.name,  # type: ignore[arg-type]
                channel=contact.channel.value,
                reason=contact.status_reason or "",
            )
        if delivery.status is MessageStatus.FAILED:
            await self.send(
                "undeliverable",
                patient_id=patient.id,
                name=patient.name,  # type: ignore[arg-type]
                reason=delivery.reason or "",
            )

    async def _recipients(self) -> list[int]:
        if self.staff_chat_id is not None:
            return [self.staff_chat_id]
        async with self.sessions() as session:
            return [s.telegram_user_id for s in await list_staff(session)]
