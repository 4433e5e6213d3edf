"""Alerts to staff: stored first, then delivered to every staff chat; urgent ones wait for "I'm on it".

Every alert goes out through :meth:`StaffAlerts.deliver`, the one place that sends to staff,
so an alert is a row before it is a Telegram message: "the clinic has your message" is said
only once the row is committed, and a re-notification or an acknowledgement finds every copy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Bot, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError

from messenger.bot.keyboards import Callback, choice, single
from messenger.channels.failures import describe_failure
from messenger.clock import Clock
from messenger.db import SessionFactory, transaction
from messenger.domain.enums import MessageStatus
from messenger.domain.models import AlertCopy, StaffAlert
from messenger.rendering.strings import BotStrings
from messenger.scheduling.dispatcher import Delivery
from messenger.services import audit
from messenger.services.staff import list_staff

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Acknowledged:
    alert: StaffAlert
    # False when someone else had already taken it.
    first: bool


class StaffAlerts:
    def __init__(
        self,
        *,
        bot: Bot,
        sessions: SessionFactory,
        strings: BotStrings,
        locale: str,
        clock: Clock,
        zone: ZoneInfo,
        staff_chat_id: int | None = None,
    ) -> None:
        self.bot = bot
        self.sessions = sessions
        self.strings = strings
        self.locale = locale
        self.clock = clock
        self.zone = zone
        self.staff_chat_id = staff_chat_id

    def prepare(
        self, session: AsyncSession, key: str, *, patient_id: int | None, name: str, urgent: bool = False, **params: Any
    ) -> StaffAlert:
        """Render alert ``key`` (``alerts.<key>``, or a dotted key naming its own section) as a row in ``session``."""
        text_key = key if "." in key else f"alerts.{key}"
        if "reason" in params:  # a stored failure code, read as the sentence for it
            params["reason"] = describe_failure(self.strings, str(params["reason"]), self.locale)
        text = self.strings.get(text_key, self.locale, patient_id=patient_id, name=name, **params)
        alert = StaffAlert(patient_id=patient_id, key=key, urgent=urgent, text=text, created_at=self.clock.now())
        session.add(alert)
        return alert

    async def send(self, key: str, *, patient_id: int, name: str, urgent: bool = False, **params: Any) -> int:
        """Store and deliver alert ``key``; returns how many staff chats got it."""
        async with transaction(self.sessions) as session:
            alert = self.prepare(session, key, patient_id=patient_id, name=name, urgent=urgent, **params)
            await session.flush()
        return await self.deliver(alert)

    async def deliver(self, alert: StaffAlert, *, again: bool = False) -> int:
        """Send a stored alert to the staff chat or every active staff member, keeping where each copy landed."""
        text = alert.text
        if again:
            minutes = round((self.clock.now() - alert.created_at).total_seconds() / 60)
            text = self.strings.get("inbox.renotify_prefix", self.locale, minutes=minutes) + "\n" + text
        copies: list[AlertCopy] = []
        for chat_id in await self._recipients():
            try:
                sent = await self.bot.send_message(
                    chat_id=chat_id, text=text[:4096], parse_mode=ParseMode.HTML, reply_markup=self._buttons(alert)
                )
            except TelegramError as exc:
                log.warning(
                    "alert %s for patient %s not delivered to a staff chat: %s", alert.key, alert.patient_id, exc
                )
                continue
            copies.append(AlertCopy(alert_id=alert.pk, chat_id=chat_id, message_id=sent.message_id))
        async with transaction(self.sessions) as session:
            session.add_all(copies)
        return len(copies)

    async def acknowledge(self, *, alert_id: int, staff_user_id: int, name: str) -> Acknowledged | None:
        """The first "I'm on it" wins; every copy of the alert then says who took it and when."""
        now = self.clock.now()
        async with transaction(self.sessions) as session:
            result = await session.exec(
                update(StaffAlert)
                .where(col(StaffAlert.id) == alert_id, col(StaffAlert.acknowledged_at).is_(None))
                .values(acknowledged_at=now, acknowledged_by=staff_user_id, acknowledged_name=name)
            )
            first = bool(result.rowcount)
            alert = await session.get(StaffAlert, alert_id)
            if alert is None:
                return None
            if first:
                audit.record(
                    session,
                    at=now,
                    actor=audit.staff_actor(staff_user_id),
                    action="alert.acknowledge",
                    patient_id=alert.patient_id,
                    alert=alert_id,
                )
            copies = (await session.exec(select(AlertCopy).where(AlertCopy.alert_id == alert_id))).all()
        if first:
            await self._mark_taken(alert, list(copies))
        return Acknowledged(alert, first)

    def taken_line(self, alert: StaffAlert) -> str:
        assert alert.acknowledged_at is not None
        local = alert.acknowledged_at.astimezone(self.zone)
        return self.strings.get("inbox.taken", self.locale, who=alert.acknowledged_name or "", when=f"{local:%H:%M}")

    async def _mark_taken(self, alert: StaffAlert, copies: list[AlertCopy]) -> None:
        text = alert.text + "\n\n" + self.taken_line(alert)
        reply = single(
            self.strings.get("inbox.reply_button", self.locale), Callback("o", alert.patient_id or 0, "card")
        )
        for copy in copies:
            try:
                await self.bot.edit_message_text(
                    text[:4096],
                    chat_id=copy.chat_id,
                    message_id=copy.message_id,
                    parse_mode=ParseMode.HTML,
                    reply_markup=reply,
                )
            except BadRequest as exc:
                if "not modified" not in exc.message.lower():
                    log.warning("could not mark alert %s taken in a staff chat: %s", alert.id, exc)
            except TelegramError as exc:
                log.warning("could not mark alert %s taken in a staff chat: %s", alert.id, exc)

    def _buttons(self, alert: StaffAlert) -> InlineKeyboardMarkup:
        open_patient = (
            self.strings.get("buttons.open_patient", self.locale),
            Callback("o", alert.patient_id or 0, "card"),
        )
        if not alert.urgent:
            return single(*open_patient)
        take = (self.strings.get("inbox.take_button", self.locale), Callback("a", alert.pk, "take"))
        return choice(take, open_patient)

    async def on_delivery(self, delivery: Delivery) -> None:
        """Dispatcher listener: tell staff about lost contacts and undeliverable messages."""
        patient = delivery.patient
        for contact in delivery.lost_contacts:
            key = "opted_out" if contact.opted_out else "unreachable"
            await self.send(
                key,
                patient_id=patient.pk,
                name=patient.name,
                channel=contact.channel.value,
                reason=contact.status_reason or "",
            )
        if delivery.status is MessageStatus.FAILED:
            await self.send("undeliverable", patient_id=patient.pk, name=patient.name, reason=delivery.reason or "")

    async def alert_for_copy(self, *, chat_id: int, message_id: int) -> StaffAlert | None:
        """The alert a staff message is a copy of (to read a Telegram reply to it)."""
        async with self.sessions() as session:
            copy = (
                await session.exec(
                    select(AlertCopy).where(AlertCopy.chat_id == chat_id, AlertCopy.message_id == message_id)
                )
            ).first()
            return await session.get(StaffAlert, copy.alert_id) if copy else None

    async def due_again(self, *, before: datetime) -> list[StaffAlert]:
        """Urgent alerts nobody has taken, raised before ``before`` and not yet sent again: claimed here."""
        async with transaction(self.sessions) as session:
            waiting = (
                await session.exec(
                    select(StaffAlert).where(
                        col(StaffAlert.urgent).is_(True),
                        col(StaffAlert.acknowledged_at).is_(None),
                        col(StaffAlert.renotified_at).is_(None),
                        col(StaffAlert.created_at) <= before,
                    )
                )
            ).all()
            claimed = []
            for alert in waiting:
                # Claimed one by one: with several processes, each alert is sent again once.
                result = await session.exec(
                    update(StaffAlert)
                    .where(col(StaffAlert.id) == alert.id, col(StaffAlert.renotified_at).is_(None))
                    .values(renotified_at=self.clock.now())
                )
                if result.rowcount:
                    claimed.append(alert)
        return claimed

    async def _recipients(self) -> list[int]:
        if self.staff_chat_id is not None:
            return [self.staff_chat_id]
        async with self.sessions() as session:
            return [s.telegram_user_id for s in await list_staff(session)]
