"""A batch's claims, renewed during long sends so another process cannot take a row mid-send."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from messenger.db import transaction
from messenger.scheduling.dispatcher import outbox
from messenger.scheduling.dispatcher.base import DispatcherBase, log


class Renewal:
    """A batch's claims, renewed during long sends (a paced burst) before half the lease is gone.

    No renewal right after the claim: a batch that goes out quickly costs no extra statement.
    A row whose lease ran out before it could be renewed may be another process's now: skipped.
    """

    def __init__(self, ids: list[int], *, started: datetime, lease: timedelta) -> None:
        self.held = set(ids)
        self.renewed = started
        self.expires = started + lease
        self._lock = asyncio.Lock()

    async def holds(self, dispatcher: DispatcherBase, message_id: int) -> bool:
        async with self._lock:
            now = dispatcher.clock.now()
            if now - self.renewed >= dispatcher.lease / 2:
                if now >= self.expires:
                    self.held.clear()
                else:
                    async with transaction(dispatcher.sessions) as session:
                        self.held = await outbox.renew(
                            session, sorted(self.held), worker=dispatcher.name, now=now, lease=dispatcher.lease
                        )
                    self.renewed, self.expires = now, now + dispatcher.lease
        if message_id not in self.held:
            log.warning("message %s: its claim expired before it was sent; another process may have it", message_id)
            return False
        return True
