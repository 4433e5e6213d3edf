"""The end-of-course summary PDF, sent to staff when a series completes or is cancelled.

It travels the outbox like every alert: one row per recipient chat, committed with the file,
paced and retried by the dispatcher, so flood control or a network error delays it and never
loses it. ``/summary <id>`` answers the staff member who asks, at once.
"""

from __future__ import annotations

from collections.abc import Callable

from messenger.bot.alerts import StaffAlerts
from messenger.clock import Clock
from messenger.db import SessionFactory, transaction
from messenger.insights.documents import Insights
from messenger.scheduling.dispatcher import Delivery

SUMMARY_KEY = "summary"


class CourseSummaries:
    def __init__(
        self,
        *,
        sessions: SessionFactory,
        clock: Clock,
        insights: Insights,
        alerts: StaffAlerts,
        poke: Callable[[], None],
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.insights = insights
        self.alerts = alerts
        self.poke = poke

    async def send(self, patient_id: int) -> int:
        """Queue patient ``patient_id``'s summary for every recipient; returns how many rows.

        With nobody to receive it (no staff chat, no staff yet) no file is drawn: a chart and a PDF
        cost a few hundred milliseconds of CPU."""
        async with self.sessions() as session:
            if not await self.alerts.recipients(session):
                return 0
        rendered = await self.insights.summary(patient_id)
        async with transaction(self.sessions) as session:
            queued = await self.alerts.queue_document(
                session, now=self.clock.now(), key=SUMMARY_KEY, patient_id=patient_id, document=rendered
            )
        self.poke()
        return queued

    async def on_delivery(self, delivery: Delivery) -> None:
        """Dispatcher listener: a series just completed."""
        if delivery.series_completed and delivery.patient.id is not None:
            await self.send(delivery.patient.id)
