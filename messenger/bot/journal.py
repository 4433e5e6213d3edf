"""Telegram updates received by webhook, kept in the database from before Telegram is answered until handled.

Telegram never sends again an update it got a 200 for, so the webhook stores the update and commits
first, and answers after. The bot handles it in a task of its own, and the row is marked handled once
``Application.process_update`` has returned: every handler of the bot blocks, so by then they have run
(a handler's failure went to the error handler and counts as handled; trying again would fail again).

A process that dies in between leaves rows held by a ``worker`` whose heartbeat expires. At start-up
and with every heartbeat, a live process takes such rows and handles them, oldest (lowest ``update_id``)
first. So nothing received is lost, and an update being handled at the instant its process died (or
stalled longer than the heartbeat ttl) may be handled twice. An update that ``MAX_ATTEMPTS`` processes
began and none finished is given up, its id in the log: it may be what kills them.

The update may quote a patient, so its payload is dropped the moment it is handled. The bare id stays
for ``KEEP_IDS``, so an update Telegram sends again (our answer never reached it) is still recognised;
Telegram keeps an update for at most a day, so after that the row goes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Update
from telegram.ext import Application

from messenger.clock import Clock
from messenger.db import SessionFactory, insert_new, transaction
from messenger.domain.bookkeeping import ReceivedUpdate, Worker
from messenger.scheduling.heartbeat import Heartbeat

__all__ = ["KEEP_IDS", "MAX_ATTEMPTS", "TAKEOVER_JOB", "UpdateJournal"]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
KEEP_IDS = timedelta(days=1)
TAKEOVER_JOB = "telegram-updates"


class UpdateJournal:
    """Stores each update before Telegram is answered, marks it handled after, and takes over dead processes'."""

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

    async def take_over(self) -> int:
        """Handle, oldest first, the updates of processes whose heartbeat expired; forget old handled ids.

        Returns how many updates were taken."""
        if not self.application.running:  # before start, or stopping: handlers cannot run
            return 0
        now = self.clock.now()
        async with transaction(self.sessions) as session:
            await session.exec(delete(ReceivedUpdate).where(col(ReceivedUpdate.handled_at) < now - KEEP_IDS))
            taken = await _take(session, worker=self.heartbeat.name, horizon=now - self.heartbeat.ttl)
            # An erased update has no payload left: nothing to handle.
            runnable = {row.update_id: row.payload for row in taken if row.payload and row.attempts <= MAX_ATTEMPTS}
            if len(runnable) < len(taken):
                await _mark_handled(session, [row.update_id for row in taken if row.update_id not in runnable], now)
        for row in taken:
            if row.attempts > MAX_ATTEMPTS:
                log.warning(
                    "gave up Telegram update %d: %d processes began it, none finished", row.update_id, MAX_ATTEMPTS
                )
        if runnable:
            log.warning("took over %d Telegram update(s) of stopped processes", len(runnable))
            self._start([Update.de_json(payload, self.application.bot) for payload in runnable.values()])
        return len(runnable)

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


async def _take(session: AsyncSession, *, worker: str, horizon: datetime) -> list[ReceivedUpdate]:
    """Hold for ``worker`` the unhandled rows of other processes with no heartbeat since ``horizon``."""
    live = select(Worker.name).where(col(Worker.beat_at) >= horizon)
    orphans = select(ReceivedUpdate.update_id).where(
        col(ReceivedUpdate.handled_at).is_(None),
        col(ReceivedUpdate.held_by) != worker,
        col(ReceivedUpdate.held_by).not_in(live),
    )
    if session.get_bind().dialect.name == "postgresql":
        orphans = orphans.with_for_update(skip_locked=True)
    result = await session.exec(
        update(ReceivedUpdate)
        .where(col(ReceivedUpdate.update_id).in_(orphans.scalar_subquery()))
        .values(held_by=worker, attempts=ReceivedUpdate.attempts + 1)
        .returning(ReceivedUpdate)
        .execution_options(synchronize_session=False)
    )
    # RETURNING comes in no particular order.
    return sorted(result.scalars().all(), key=lambda row: row.update_id)


async def _mark_handled(session: AsyncSession, update_ids: Sequence[int], now: datetime) -> None:
    await session.exec(
        update(ReceivedUpdate)
        .where(col(ReceivedUpdate.update_id).in_(update_ids), col(ReceivedUpdate.handled_at).is_(None))
        # Nothing of the update but its id: neither what it said nor whose chat it came from.
        .values(handled_at=now, payload=None, chat_id=None)
    )
