"""Urgent alerts after they are sent: "I'm on it" edits every copy, and nobody's taking it sends it again.

A copy is an outbox row with the alert's id: the dispatcher records the Telegram message id of
each copy it delivers (``provider_id``), which is what the edit needs; any alert's row (urgent
or not) likewise tells which patient a staff member's Telegram reply to it is about.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError

from messenger.bot.keyboards import Callback, single
from messenger.clock import Clock
from messenger.config import Settings
from messenger.db import SessionFactory, transaction
from messenger.domain.enums import MessageStatus, StepKind
from messenger.domain.hours import clinic_hours
from messenger.domain.models import Message, Patient, StaffAlert
from messenger.rendering.strings import BotStrings
from messenger.services import audit

log = logging.getLogger(__name__)

# A copy's Telegram message id is recorded with the rest of its batch, once the batch is sent (a
# batch of 50 takes under two seconds at Telegram's rate): a reply to a copy still on the wire looks
# again this often, for up to this long. Updates are handled one at a time, so the wait stays short.
RECORDING_POLL = 0.1
RECORDING_PATIENCE = 5.0


class CopyOnTheWire(Exception):
    """A reply in a chat whose alert copy is still being sent: it may be to that copy, so whom it is
    about is not known yet."""


@dataclass(frozen=True, slots=True)
class Acknowledged:
    alert: StaffAlert
    # False when someone else had already taken it.
    first: bool


class AlertDesk:
    def __init__(
        self,
        *,
        bot: Bot,
        sessions: SessionFactory,
        strings: BotStrings,
        clock: Clock,
        settings: Settings,
        pause: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.bot = bot
        # How a reply waits for a copy on the wire to be recorded (real seconds: recording is real work).
        self.pause = pause
        self.sessions = sessions
        self.strings = strings
        self.locale = settings.default_locale
        self.clock = clock
        # "Taken at" is read in the clinic's time.
        self.zone = clinic_hours(settings).zone

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
            copies = (
                await session.exec(
                    select(Message).where(
                        Message.alert_id == alert_id,
                        Message.status == MessageStatus.SENT,
                        col(Message.staff_chat_id).is_not(None),
                        col(Message.provider_id).is_not(None),
                    )
                )
            ).all()
        if first:
            await self._mark_taken(alert, [(m.staff_chat_id or 0, int(m.provider_id or 0)) for m in copies])
        return Acknowledged(alert, first)

    def taken_line(self, alert: StaffAlert) -> str:
        local = (alert.acknowledged_at or self.clock.now()).astimezone(self.zone)
        return self.strings.get("inbox.taken", self.locale, who=alert.acknowledged_name or "", when=f"{local:%H:%M}")

    async def _mark_taken(self, alert: StaffAlert, copies: list[tuple[int, int]]) -> None:
        text = alert.text + "\n\n" + self.taken_line(alert)
        reply = single(
            self.strings.get("inbox.reply_button", self.locale), Callback("o", alert.patient_id or 0, "card")
        )
        for chat_id, message_id in copies:
            try:
                await self.bot.edit_message_text(
                    text[:4096], chat_id=chat_id, message_id=message_id, parse_mode=ParseMode.HTML, reply_markup=reply
                )
            except BadRequest as exc:
                if "not modified" not in exc.message.lower():
                    log.warning("could not mark alert %s taken in a staff chat: %s", alert.id, exc)
            except TelegramError as exc:
                log.warning("could not mark alert %s taken in a staff chat: %s", alert.id, exc)

    async def patient_for_copy(self, *, chat_id: int, message_id: int) -> int | None:
        """The patient a staff message is an alert about (to read a Telegram reply to it); None for a
        message that is no alert, or a digest about several patients.

        While the chat has a copy on the wire, the message may be that copy, its id not recorded
        yet: look again until it is, for up to :data:`RECORDING_PATIENCE`, then raise
        :class:`CopyOnTheWire`. The wire is looked at before the ids, so a batch recorded between
        the two is seen with its ids."""
        for _ in range(round(RECORDING_PATIENCE / RECORDING_POLL)):
            on_the_wire = await self._copies_on_the_wire(chat_id)
            patients = await self._patients_of(chat_id, message_id)
            if patients or not on_the_wire:
                return patients.pop() if len(patients) == 1 else None
            await self.pause(RECORDING_POLL)
        raise CopyOnTheWire(chat_id)

    async def _patients_of(self, chat_id: int, message_id: int) -> set[int | None]:
        async with self.sessions() as session:
            rows = await session.exec(
                select(Message.patient_id).where(
                    Message.kind == StepKind.ALERT,
                    Message.staff_chat_id == chat_id,
                    Message.provider_id == str(message_id),
                )
            )
            return set(rows.all())

    async def _copies_on_the_wire(self, chat_id: int) -> bool:
        """Whether an alert copy to ``chat_id`` is being sent, its Telegram message id not yet recorded."""
        async with self.sessions() as session:
            rows = await session.exec(
                select(Message.id)
                .where(
                    Message.kind == StepKind.ALERT,
                    Message.staff_chat_id == chat_id,
                    Message.status == MessageStatus.SENDING,
                    col(Message.provider_id).is_(None),
                )
                .limit(1)
            )
            return rows.first() is not None


async def claim_untaken(session: AsyncSession, *, before: datetime, now: datetime) -> list[StaffAlert]:
    """Urgent alerts nobody has taken, raised before ``before`` and not yet sent again: claimed in
    ``session``, so the claim and the copies sent again commit together. An erased patient's are left:
    their text is gone, and nobody is to be paged about someone the clinic has forgotten."""
    waiting = (
        await session.exec(
            select(StaffAlert)
            .outerjoin(Patient, col(Patient.id) == col(StaffAlert.patient_id))
            .where(
                col(StaffAlert.urgent).is_(True),
                col(StaffAlert.acknowledged_at).is_(None),
                col(StaffAlert.renotified_at).is_(None),
                col(StaffAlert.created_at) <= before,
                col(Patient.erased_at).is_(None),
            )
        )
    ).all()
    claimed = []
    for alert in waiting:
        # Claimed one by one: with several processes, each alert is sent again once.
        result = await session.exec(
            update(StaffAlert)
            .where(col(StaffAlert.id) == alert.id, col(StaffAlert.renotified_at).is_(None))
            .values(renotified_at=now)
        )
        if result.rowcount:
            claimed.append(alert)
    return claimed
