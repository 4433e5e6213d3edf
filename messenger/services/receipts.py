"""Provider requests already acted on, by the provider's id: a replay or a retry changes nothing twice."""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.clock import Clock
from messenger.domain.bookkeeping import WebhookReceipt


async def first_receipt(*, session: AsyncSession, clock: Clock, source: str, key: str) -> bool:
    """Record ``key`` as received; False if it already was.

    Written in the same transaction as what the request changes, so the receipt exists exactly
    when the change does. Two concurrent copies both pass the check; the unique constraint makes
    the second one's commit fail, and the caller treats that as a replay.
    """
    seen = await session.exec(
        select(WebhookReceipt.id).where(WebhookReceipt.source == source, WebhookReceipt.key == key)
    )
    if seen.first() is not None:
        return False
    session.add(WebhookReceipt(source=source, key=key, received_at=clock.now()))
    await session.flush()
    return True
