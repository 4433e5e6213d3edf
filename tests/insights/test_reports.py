"""Charts, the cohort report and the PDF against the hand-computed clinic of ``conftest.py``."""

from __future__ import annotations

import io
from datetime import timedelta
from zoneinfo import ZoneInfo

from matplotlib.lines import Line2D
from PIL import Image
from pypdf import PdfReader

from messenger.insights.charts import progress_figure
from messenger.insights.cohort import Ratio, cohort_report
from messenger.insights.course import Attendance, load_course
from tests.insights.conftest import insights_of

LABELS = {k: k for k in ("pain", "mood", "baseline", "escalation", *(a.value for a in Attendance))}


async def test_the_course_reads_the_baseline_and_the_change_since(clinic):
    async with clinic.app.sessions() as session:
        course = await load_course(session, patient_id=clinic.a.patient_id, now=clinic.now)

    assert [c.pain for c in course.checkins] == [7, 6, 5, 9, 4]
    assert course.baseline is not None and course.baseline.pain == 7
    assert course.pain_change == -3
    assert [m.attendance for m in course.infusions] == [Attendance.ATTENDED] * 4 + [Attendance.UPCOMING]
    assert len(course.escalations) == 1
    assert course.escalations[0].handled_at - course.escalations[0].at == timedelta(minutes=30)


async def test_the_progress_chart_draws_every_point_and_marker(clinic):
    async with clinic.app.sessions() as session:
        course = await load_course(session, patient_id=clinic.b.patient_id, now=clinic.now)
    figure = progress_figure(course, LABELS, zone=ZoneInfo("America/Los_Angeles"), locale="en")
    assert len(figure.axes) == 2  # pain on the left, mood on the right
    lines = {line.get_gid(): line for axes in figure.axes for line in axes.get_lines()}

    assert list(lines["pain"].get_ydata()) == [5, 6]
    assert list(lines["mood"].get_ydata()) == [3, 3]
    assert list(lines["baseline"].get_ydata()) == [5, 5]
    markers = [lines[f"infusion-marker-{n}"] for n in range(1, 6)]
    assert [m.get_marker() for m in markers] == ["o", "X", "o", "o", "o"]  # the second was missed
    assert "escalations" not in lines
    legend = [t.get_text() for t in figure.legends[0].get_texts()]
    assert {"attended", "missed", "upcoming", "pain", "mood", "baseline"} <= set(legend)
    assert all(isinstance(line, Line2D) for line in lines.values())


async def test_the_chart_png_is_phone_sized_and_names_nobody(clinic):
    rendered = await insights_of(clinic.app).progress(clinic.a.patient_id)

    image = Image.open(io.BytesIO(rendered.content))
    assert image.format == "PNG" and image.size == (1200, 750)
    assert "Ana Alvarez" in rendered.caption and "-3 since baseline" in rendered.caption
    assert b"Ana" not in rendered.content


async def test_the_escalation_is_flagged_on_the_chart(clinic):
    async with clinic.app.sessions() as session:
        course = await load_course(session, patient_id=clinic.a.patient_id, now=clinic.now)
    figure = progress_figure(course, LABELS, zone=ZoneInfo("UTC"), locale="en")
    flagged = next(line for line in figure.axes[0].get_lines() if line.get_gid() == "escalations")

    assert list(flagged.get_ydata()) == [9]


async def test_every_report_figure_matches_the_hand_count(clinic):
    async with clinic.app.sessions() as session:
        report = await cohort_report(session, start=clinic.now - timedelta(days=30), end=clinic.now)

    assert (report.enrolled, report.active, report.completed, report.cancelled) == (3, 2, 0, 1)
    # A: 4 attended; B: 3 attended, 1 missed; C's infusions were cancelled with its series.
    assert report.adherence == Ratio(7, 8)
    assert report.no_shows == 1
    assert (report.confirmations, report.reschedule_requests) == (2, 1)
    # A answered 5 check-ins, B 2 of 3.
    assert report.response == Ratio(7, 8)
    assert (report.escalations, report.acknowledged) == (1, 1)
    assert report.acknowledge_median == timedelta(minutes=30)
    # A: 4 − 7 = −3; B: 6 − 5 = +1.
    assert report.pain_change_median == -1
    assert report.pain_change_patients == 2


async def test_a_short_period_counts_only_what_happened_in_it(clinic):
    async with clinic.app.sessions() as session:
        report = await cohort_report(session, start=clinic.now - timedelta(days=4), end=clinic.now)

    # Only the fourth infusions (Dec 11) fall in the last four days; the enrolments do not.
    assert report.enrolled == 0
    assert report.adherence == Ratio(2, 2)
    assert report.pain_change_patients == 1  # only A answered a check-in in the period


async def test_the_report_text_and_chart(clinic):
    _figures, rendered = await insights_of(clinic.app).report(30)

    assert "3 enrolled, 2 active, 0 completed, 1 cancelled" in rendered.caption
    assert "Adherence: 88% (7 of 8 infusions attended); 1 no-show(s)" in rendered.caption
    assert "median 30 min" in rendered.caption
    assert "-1 points (from 2 patient(s))" in rendered.caption
    assert Image.open(io.BytesIO(rendered.content)).format == "PNG"


async def test_the_summary_is_one_page_with_the_infusions(clinic):
    rendered = await insights_of(clinic.app).summary(clinic.b.patient_id)

    reader = PdfReader(io.BytesIO(rendered.content))
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    for day in ("Dec 2, 2026", "Dec 5, 2026", "Dec 8, 2026", "Dec 11, 2026", "Dec 14, 2026"):
        assert day in text
    assert "Ben Brown" in text
    assert "Infusion missed" in text and "Infusion upcoming" in text
    assert "No escalations." in text
