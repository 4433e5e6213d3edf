"""What the insight files show, before a drawing library loads: a report's bars, a day as its reader writes it.

matplotlib and reportlab take about a second to import; :mod:`messenger.insights.documents` loads
them on the first chart or PDF, so a process that never draws one never pays for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_skeleton


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    # How the value reads on the bar ("82%", "3").
    shown: str


def local_day(instant: datetime, zone: ZoneInfo, locale: str) -> str:
    """A date as a person reads it in ``locale``: 'Dec 2, 2026'."""
    return format_skeleton("yMMMd", instant.astimezone(zone), locale=locale)
