"""Process heartbeats: claims of a process that stopped beating go back to the queue within seconds.

Each process upserts its row in ``worker`` every ``interval``. On start-up and on every beat,
rows whose last beat is older than ``ttl`` are taken as dead: the messages they had claimed
(and a ``/start`` welcome their bot had claimed) return to pending at once, without waiting
for the claim's lease, and the alarm is woken to send them. The beat also shares the provider
budget between the live processes (see :mod:`messenger.pacing.shared`).

A process that was only slow (stalled longer than ``ttl``) loses its claims the same way a
dead one does; its late outcome is then refused by the claim guard, and the message may go
twice — the same window a lease has, only shorter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.clock import Clock
from messenger.db import SessionFactory, upsert
from messenger.domain.bookkeeping import Worker
from messenger.domain.enums import MessageStatus
from messenger.domain.models import Message
from messenger.pacing.shared import SharedBudget

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Beat:
    """What one heartbeat found."""

    live_processes: int
    dead_processes: tuple[str, ...]
    released: int


class Heartbeat:
    def __init__(
        self,
        *,
        sessions: SessionFactory,
        clock: Clock,
        name: str,
        interval: timedelta = timedelta(seconds=5),
        ttl: timedelta = timedelta(seconds=15),
        budget: SharedBudget | None = None,
        on_released: Callable[[], None] | None = None,
    ) -> None:
        if ttl <= interval:
            raise ValueError("a heartbeat's ttl must be longer than its interval")
        self.sessions = sessions
        self.clock = clock
        self.name = name
        self.interval = interval
        self.ttl = ttl
        self.budget = budget
        self.on_released = on_released
        self._started_at: datetime | None = None

    async def beat(self) -> Beat:
        """Say this process is alive, return dead processes' claims to the queue, share the budget."""
        now = self.clock.now()
        self._started_at = self._started_at or now
        async with self.sessions() as session, session.begin():
            await self._upsert(session, now)
            horizon = now - self.ttl
            dead = tuple((await session.exec(select(Worker.name).where(col(Worker.beat_at) < horizon))).all())
            released = await self._release(session, dead, now) if dead else 0
            live = (await session.exec(select(func.count()).select_from(Worker))).one()
            if self.budget is not None:
                self.budget.share(live)
                await self.budget.honour_pauses(session, now)
        if dead:
            log.warning(
                "%d process(es) stopped beating; %d claimed message(s) returned to the queue", len(dead), released
            )
        if released and self.on_released is not None:
            self.on_released()
        return Beat(live_processes=live, dead_processes=dead, released=released)

    async def stop(self) -> None:
        """Remove this process's row (its claims were released or finished before this)."""
        async with self.sessions() as session, session.begin():
            await session.exec(delete(Worker).where(col(Worker.name) == self.name))

    async def _upsert(self, session: AsyncSession, now: datetime) -> None:
        await upsert(
            session,
            Worker,
            key=col(Worker.name),
            values={"name": self.name, "started_at": self._started_at, "beat_at": now},
            update={"beat_at": now},
        )

    async def _release(self, session: AsyncSession, dead: tuple[str, ...], now: datetime) -> int:
        # The attempt stays counted: the dead process may have handed the message over already.
        result = await session.exec(
            update(Message)
            .where(col(Message.status) == MessageStatus.SENDING, col(Message.claimed_by).in_(dead))
            .values(status=MessageStatus.PENDING, claimed_by=None, lease_until=None, updated_at=now)
        )
        await session.exec(delete(Worker).where(col(Worker.name).in_(dead)))
        return int(result.rowcount or 0)
