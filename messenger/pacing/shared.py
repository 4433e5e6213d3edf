"""One budget per provider account across every process on the database.

Each process paces its own requests at the account's rate divided by the number of live
processes (those with a fresh heartbeat row), so together they stay under the provider's
limit. A pause (a 429 with ``retry_after``) is written to ``providerpause`` at once, and
every process reads the table on each heartbeat and waits until the latest pause ends.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.db import SessionFactory, greatest, upsert
from messenger.domain.bookkeeping import ProviderPause
from messenger.pacing.pacer import Pacer

log = logging.getLogger(__name__)


class SharedBudget:
    def __init__(self, *, sessions: SessionFactory, pacers: Sequence[Pacer]) -> None:
        self.sessions = sessions
        self.pacers = list(pacers)
        self._writes: set[asyncio.Task[None]] = set()
        for pacer in self.pacers:
            pacer.on_pause(functools.partial(self._announce, pacer.account))

    def share(self, live_processes: int) -> None:
        """Take this process's part of each account's rate."""
        for pacer in self.pacers:
            pacer.set_rate(pacer.full_rate / max(1, live_processes))

    async def honour_pauses(self, session: AsyncSession, now: datetime) -> None:
        """Pause each pacer until the latest pause another process wrote for its account."""
        if not self.pacers:
            return
        by_account = {pacer.account: pacer for pacer in self.pacers}
        rows = (
            await session.exec(
                select(ProviderPause).where(
                    col(ProviderPause.account).in_(list(by_account)), col(ProviderPause.until) > now
                )
            )
        ).all()
        for row in rows:
            by_account[row.account].pause_until(row.until, announce=False)

    async def publish(self, account: str, until: datetime) -> None:
        """Write a pause every process will honour (keeping a later one already there)."""
        async with self.sessions() as session, session.begin():
            await upsert(
                session,
                ProviderPause,
                key=col(ProviderPause.account),
                values={"account": account, "until": until},
                update={"until": lambda new: greatest(session, new.until, col(ProviderPause.until))},
            )

    async def drain(self) -> None:
        """Wait for pause writes still on their way (at shutdown)."""
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    def _announce(self, account: str, until: datetime) -> None:
        try:
            task = asyncio.get_running_loop().create_task(self._publish_logged(account, until))
        except RuntimeError:  # no loop: nothing else could be sending either
            return
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _publish_logged(self, account: str, until: datetime) -> None:
        try:
            await self.publish(account, until)
        except Exception:
            log.exception("%s: could not share the pause with other processes", account)


def unique_pacers(channels: Iterable[object]) -> list[Pacer]:
    """The pacers of these channels, each once (channels of one account share theirs)."""
    found: dict[int, Pacer] = {}
    for channel in channels:
        pacer = getattr(channel, "pacer", None)
        if isinstance(pacer, Pacer):
            found.setdefault(id(pacer), pacer)
    return list(found.values())
