"""Telegram updates received by webhook, kept in the database from before Telegram is answered until handled.

Telegram never sends again an update it got a 200 for, so the webhook stores the update and commits
first, and answers after. The bot handles it in a task of its own, and the row is marked handled once
``Application.process_update`` has returned: every handler of the bot blocks, so by then they have run
(a handler's failure went to the error handler and counts as handled; trying again would fail again).
An update Telegram sends again (our answer never reached it) finds its id stored and is not handled twice.

The update may quote a patient, so its payload is dropped the moment it is handled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Update
from telegram.ext import Application

from messenger.clock import Clock
from messenger.db import SessionFactory, insert_new, transaction
from messenger.domain.bookkeeping import ReceivedUpdate
from messenger.scheduling.heartbeat import Heartbeat

__all__ = ["UpdateJournal"]

log = logging.getLogger(__name__)


class UpdateJournal:
    """Stores each update before Telegram is answered, and marks it handled after."""

    def __init__(
        self,
        application: Application,  # type: ignore[type-arg]
        *,
        sessions: SessionFactory,
        clock: Clock,
        heartbeat: Heartbeat,
    ) -> None:
        self.application = application
        self.sessions = sessions
        self.clock = clock
        self.heartbeat = heartbeat
        self._handling: set[asyncio.Task[None]] = set()

    async def receive(self, received: Update, payload: dict[str, Any]) -> bool:
        """Store the update as held by this process, committed when this returns; False if it was stored before."""
        chat = received.effective_chat
        values = {
            "update_id": received.update_id,
            "payload": payload,
            "chat_id": chat.id if chat is not None else None,
            "received_at": self.clock.now(),
            "held_by": self.heartbeat.name,
            "attempts": 1,
        }
        async with transaction(self.sessions) as session:
            return await insert_new(session, ReceivedUpdate, key=col(ReceivedUpdate.update_id), values=values)

    def hand_over(self, received: Update) -> None:
        """Let the bot handle a stored update, beside the request that brought it; marked handled after."""
        self._start([received])

    async def wait_idle(self) -> None:
        """Wait until every update handed over so far is handled and marked."""
        while self._handling:
            await asyncio.wait(set(self._handling))

    def _start(self, updates: Sequence[Update]) -> None:
        task = self.application.create_task(self._handle(updates), name="telegram-update")
        self._handling.add(task)
        task.add_done_callback(self._handling.discard)

    async def _handle(self, updates: Sequence[Update]) -> None:
        for received in updates:
            application = self.application
            try:
                # Through the update processor, as polled updates go: the same limit on concurrent updates.
                await application.update_processor.process_update(received, application.process_update(received))
            except Exception:
                log.exception("Telegram update %d was not handled; it stays for another process", received.update_id)
                continue
            try:
                async with transaction(self.sessions) as session:
                    await _mark_handled(session, [received.update_id], self.clock.now())
            except Exception as exc:
                log.warning(
                    "Telegram update %d was handled but could not be marked so (%s); it may be handled again",
                    received.update_id,
                    type(exc).__name__,
                )


async def _mark_handled(session: AsyncSession, update_ids: Sequence[int], now: datetime) -> None:
    await session.exec(
        update(ReceivedUpdate)
        .where(col(ReceivedUpdate.update_id).in_(update_ids), col(ReceivedUpdate.handled_at).is_(None))
        # Nothing of the update but its id: neither what it said nor whose chat it came from.
        .values(handled_at=now, payload=None, chat_id=None)
    )
