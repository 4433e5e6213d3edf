"""The end-of-course summary: one A4 page per patient, as PDF bytes.

reportlab draws the page itself (pure Python with a small C accelerator, no system
libraries), so it runs wherever the bot runs; an HTML-to-PDF engine would bring a
browser or Pango/Cairo into the image for one page of tables.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.platypus import Image, KeepInFrame, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from messenger.insights.course import Course
from messenger.insights.figures import local_day

# The plain-text bot string for a key (``insights.<key>``) with parameters.
Text = Callable[..., str]
MARGIN = 1.5 * cm
GRID = TableStyle(
    [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#E8EEF4")),
        ("FONTSIZE", (0, 0), (-1, -1), 8.5),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
)


def summary_pdf(course: Course, chart_png: bytes, *, text: Text, zone: ZoneInfo, locale: str, author: str) -> bytes:
    """One page: infusions and attendance, the chart, escalations and how they were handled, deliveries."""
    styles = getSampleStyleSheet()

    def para(value: str, style: str = "BodyText") -> Paragraph:
        return Paragraph(escape(value), styles[style])

    def table(header: list[str], rows: list[list[str]], widths: list[float]) -> Table:
        cells: list[list[Any]] = [[para(h) for h in header], *[[para(c) for c in row] for row in rows]]
        result = Table(cells, colWidths=widths, repeatRows=1)
        result.setStyle(GRID)
        return result

    width = A4[0] - 2 * MARGIN
    patient = course.patient
    status = course.series.status.value if course.series else "-"
    story: list[Any] = [
        para(text("pdf_title", clinic=author), "Title"),
        para(text("pdf_patient", name=patient.name, patient_id=patient.pk, status=text(f"status_{status}"))),
        para(text("pdf_infusions"), "Heading3"),
        table(
            [text("col_infusion"), text("col_date"), text("col_attendance")],
            [[str(m.number), local_day(m.at, zone, locale), text(m.attendance.value)] for m in course.infusions],
            [width * 0.2, width * 0.45, width * 0.35],
        ),
        Spacer(1, 0.2 * cm),
        Image(io.BytesIO(chart_png), width=width, height=width * 5 / 8),
        para(text("pdf_escalations"), "Heading3"),
    ]
    if course.escalations:
        story.append(
            table(
                [text("col_when"), text("col_answer"), text("col_handled")],
                [
                    [
                        local_day(e.at, zone, locale),
                        text(f"answer_{e.question}", value=e.value),
                        text("handled", by=e.handled_by, when=local_day(e.handled_at, zone, locale))
                        if e.handled_at and e.handled_by
                        else text("not_handled"),
                    ]
                    for e in course.escalations
                ],
                [width * 0.25, width * 0.35, width * 0.4],
            )
        )
    else:
        story.append(para(text("no_escalations")))
    story.append(para(text("pdf_messages"), "Heading3"))
    channels = sorted({channel for channel, _ in course.deliveries if channel})
    story.append(
        table(
            [text("col_channel"), text("col_sent"), text("col_failed")],
            [
                [
                    channel,
                    str(course.deliveries.get((channel, "sent"), 0)),
                    str(course.deliveries.get((channel, "failed"), 0)),
                ]
                for channel in channels
            ]
            or [["-", "0", "0"]],
            [width * 0.4, width * 0.3, width * 0.3],
        )
    )
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=text("pdf_title", clinic=author),
        author=author,
    )
    # One page whatever the course held: a long escalation list shrinks rather than spilling over.
    document.build([KeepInFrame(width, A4[1] - 2 * MARGIN, story, mode="shrink")])
    return buffer.getvalue()
