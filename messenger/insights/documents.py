"""The files staff receive: a patient's progress chart, the cohort report, the end-of-course PDF.

Labels and sentences come from the ``[insights]`` bot strings; matplotlib and reportlab run
in a worker thread, so a chart never holds up the event loop. They are imported on the first
file drawn: most processes (and every test that draws nothing) never load them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from messenger.clock import Clock
from messenger.db import SessionFactory
from messenger.insights.cohort import CohortReport, Ratio, cohort_report
from messenger.insights.course import Attendance, Course, load_course
from messenger.insights.figures import Bar, local_day
from messenger.rendering.strings import BotStrings

CHART_LABELS = ("pain", "mood", "baseline", "escalation", *(a.value for a in Attendance))


@dataclass(frozen=True, slots=True)
class Rendered:
    """A file for a chat: its bytes, its name and the caption (Telegram HTML) that goes with it."""

    content: bytes
    filename: str
    caption: str


@dataclass
class Insights:
    sessions: SessionFactory
    strings: BotStrings
    clock: Clock
    locale: str
    clinic_name: str
    clinic_zone: ZoneInfo

    def plain(self, key: str, /, **params: Any) -> str:
        return self.strings.plain(f"insights.{key}", self.locale, **params)

    def html(self, key: str, /, **params: Any) -> str:
        return self.strings.get(f"insights.{key}", self.locale, **params)

    async def course(self, patient_id: int) -> Course:
        async with self.sessions() as session:
            return await load_course(session, patient_id=patient_id, now=self.clock.now())

    async def chart(self, course: Course) -> bytes:
        from messenger.insights.charts import progress_figure, render_off_loop  # matplotlib loads here, on first use

        labels = {key: self.plain(key) for key in CHART_LABELS}
        zone = ZoneInfo(course.patient.timezone)
        return await render_off_loop(lambda: progress_figure(course, labels, zone=zone, locale=self.locale))

    def caption(self, course: Course) -> str:
        change = course.pain_change
        if change is None:
            return self.html("caption_no_change", name=course.patient.name, patient_id=course.patient.pk)
        baseline = course.baseline.pain if course.baseline else None
        return self.html(
            "caption", name=course.patient.name, patient_id=course.patient.pk, change=f"{change:+d}", baseline=baseline
        )

    async def progress(self, patient_id: int) -> Rendered:
        course = await self.course(patient_id)
        return Rendered(await self.chart(course), f"progress-{patient_id}.png", self.caption(course))

    async def summary(self, patient_id: int) -> Rendered:
        from messenger.insights.summary_pdf import summary_pdf  # reportlab loads here, on first use

        course = await self.course(patient_id)
        chart = await self.chart(course)
        pdf = await asyncio.to_thread(
            summary_pdf,
            course,
            chart,
            text=self.plain,
            zone=ZoneInfo(course.patient.timezone),
            locale=self.locale,
            author=self.clinic_name,
        )
        return Rendered(pdf, f"summary-{patient_id}.pdf", self.caption(course))

    async def report(self, days: int) -> tuple[CohortReport, Rendered]:
        from messenger.insights.charts import bars_figure, render_off_loop  # matplotlib loads here, on first use

        end = self.clock.now()
        async with self.sessions() as session:
            figures = await cohort_report(session, start=end - timedelta(days=days), end=end)
        png = await render_off_loop(lambda: bars_figure(self.report_bars(figures)))
        text = self.html("report", days=days, **self.report_values(figures))
        return figures, Rendered(png, f"report-{days}d.png", text)

    def report_values(self, figures: CohortReport) -> dict[str, Any]:
        wait = figures.acknowledge_median
        return {
            "start": local_day(figures.start, self.clinic_zone, self.locale),
            "end": local_day(figures.end, self.clinic_zone, self.locale),
            "r": figures,
            "adherence": percent(figures.adherence),
            "response": percent(figures.response),
            "wait_minutes": None if wait is None else round(wait / timedelta(minutes=1)),
            "pain_change": None if figures.pain_change_median is None else f"{figures.pain_change_median:+g}",
        }

    def report_bars(self, r: CohortReport) -> list[tuple[str, list[Bar]]]:
        def count(key: str, value: int) -> Bar:
            return Bar(self.plain(key), value, str(value))

        def share(key: str, ratio: Ratio) -> Bar:
            return Bar(self.plain(key), 100 * (ratio.share or 0), f"{percent(ratio)} ({ratio.part}/{ratio.whole})")

        return [
            (
                self.plain("bars_patients"),
                [
                    count("bar_enrolled", r.enrolled),
                    count("bar_active", r.active),
                    count("bar_completed", r.completed),
                    count("bar_cancelled", r.cancelled),
                ],
            ),
            (self.plain("bars_rates"), [share("bar_adherence", r.adherence), share("bar_response", r.response)]),
            (
                self.plain("bars_events"),
                [
                    count("bar_confirmations", r.confirmations),
                    count("bar_reschedules", r.reschedule_requests),
                    count("bar_no_shows", r.no_shows),
                    count("bar_escalations", r.escalations),
                ],
            ),
        ]


def percent(ratio: Ratio) -> str:
    return "–" if ratio.share is None else f"{round(100 * ratio.share)}%"
