"""How fast staff take urgent alerts: time to acknowledge (median, 90th percentile) and what still waits."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.domain.models import StaffAlert


@dataclass(frozen=True, slots=True)
class AcknowledgementFigures:
    taken: int
    waiting: int
    # Seconds from an urgent alert to its "I'm on it"; None before the first one.
    median: float | None
    p90: float | None


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (the value a reader can find in the list)."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


async def acknowledgement_figures(session: AsyncSession, *, since: datetime | None = None) -> AcknowledgementFigures:
    query = select(StaffAlert.created_at, StaffAlert.acknowledged_at).where(col(StaffAlert.urgent).is_(True))
    if since is not None:
        query = query.where(col(StaffAlert.created_at) >= since)
    rows = (await session.exec(query)).all()
    delays = sorted((taken - raised).total_seconds() for raised, taken in rows if taken is not None)
    waiting = sum(1 for _, taken in rows if taken is None)
    if not delays:
        return AcknowledgementFigures(0, waiting, None, None)
    return AcknowledgementFigures(len(delays), waiting, percentile(delays, 0.5), percentile(delays, 0.9))
