"""Charts as PNG: a patient's pain and mood over the course, and the cohort's figures.

Figures are built with matplotlib's object API on the Agg canvas (no pyplot, no global
state), so building one in a worker thread is safe; :func:`render_off_loop` does that.
Colours are the Okabe-Ito palette, distinguishable with the common colour-vision deficiencies;
markers and line styles differ too, so nothing depends on colour alone.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_skeleton
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import date2num, num2date
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from messenger.insights.course import Attendance, Course
from messenger.insights.figures import Bar

BLUE, ORANGE, VERMILLION, GREEN, PURPLE, GREY = "#0072B2", "#E69F00", "#D55E00", "#009E73", "#CC79A7", "#7F7F7F"
ATTENDANCE_STYLE = {
    Attendance.ATTENDED: (GREEN, "-", "o"),
    Attendance.MISSED: (PURPLE, "--", "X"),
    Attendance.UPCOMING: (GREY, ":", "o"),
    Attendance.CANCELLED: (GREY, "--", "x"),
}
# A phone shows a chat photo about 1080 px wide: 8 in × 150 dpi, with large type.
SIZE, DPI, FONT = (8.0, 5.0), 150, 13


def _num(instant: datetime) -> float:
    """A time as matplotlib's date number (days since the epoch), the x coordinate of every point."""
    return float(date2num(instant))  # type: ignore[no-untyped-call]


def render_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure)
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


async def render_off_loop(build: Callable[[], Figure]) -> bytes:
    """Build and render a figure in a worker thread: matplotlib takes tens of milliseconds."""
    return await asyncio.to_thread(lambda: render_png(build()))


def _date_axis(axes: object, zone: ZoneInfo, locale: str) -> None:
    def label(value: float, _position: object) -> str:
        instant: datetime = num2date(value)  # type: ignore[no-untyped-call]
        return format_skeleton("MMMd", instant.astimezone(zone), locale=locale)

    axes.xaxis.set_major_formatter(FuncFormatter(label))  # type: ignore[attr-defined]
    axes.xaxis.set_major_locator(MaxNLocator(6))  # type: ignore[attr-defined]


def progress_figure(course: Course, text: Mapping[str, str], *, zone: ZoneInfo, locale: str) -> Figure:
    """Pain (0 to 10, left) and mood (1 to 5, right) over time; infusions, the baseline and escalations marked.

    ``text`` holds the labels (``pain``, ``mood``, ``baseline``, ``escalation`` and one per attendance).
    The patient is not named in the image: it may be forwarded or seen over a shoulder.
    """
    figure = Figure(figsize=SIZE, layout="constrained")
    pain_axes = figure.add_subplot()
    mood_axes = pain_axes.twinx()
    for axes in (pain_axes, mood_axes):
        axes.tick_params(labelsize=FONT)
    pain_points = [(_num(c.at), c.pain) for c in course.checkins if c.pain is not None]
    mood_points = [(_num(c.at), c.mood) for c in course.checkins if c.mood is not None]
    if pain_points:
        xs, ys = zip(*pain_points, strict=True)
        pain_axes.plot(xs, ys, color=BLUE, marker="o", markersize=8, linewidth=2.5, label=text["pain"], gid="pain")
    if mood_points:
        xs, ys = zip(*mood_points, strict=True)
        mood_axes.plot(
            xs, ys, color=ORANGE, marker="s", markersize=7, linewidth=2, linestyle="--", label=text["mood"], gid="mood"
        )
    baseline = course.baseline
    if baseline is not None and baseline.pain is not None:
        pain_axes.axhline(
            baseline.pain, color=BLUE, linewidth=1.2, linestyle=":", label=text["baseline"], gid="baseline"
        )
    seen: set[Attendance] = set()
    for mark in course.infusions:
        colour, style, marker = ATTENDANCE_STYLE[mark.attendance]
        pain_axes.axvline(_num(mark.at), color=colour, linestyle=style, linewidth=1.5, gid=f"infusion-{mark.number}")
        pain_axes.plot(
            [_num(mark.at)],
            [10.6],
            marker=marker,
            markersize=11,
            color=colour,
            linestyle="none",
            clip_on=False,
            label=None if mark.attendance in seen else text[mark.attendance.value],
            gid=f"infusion-marker-{mark.number}",
        )
        pain_axes.annotate(str(mark.number), (_num(mark.at), 10.6), ha="center", va="center", fontsize=8, color="white")
        seen.add(mark.attendance)
    flagged = [(_num(c.at), c.pain if c.pain is not None else 0) for c in course.checkins if c.escalated]
    if flagged:
        xs, ys = zip(*flagged, strict=True)
        pain_axes.plot(
            xs, ys, linestyle="none", marker="^", markersize=14, markerfacecolor="none", markeredgewidth=2.5,
            color=VERMILLION, label=text["escalation"], gid="escalations",
        )  # fmt: skip
    pain_axes.set_ylim(-0.3, 11.2)
    pain_axes.set_yticks(range(0, 11, 2))
    mood_axes.set_ylim(0.5, 5.5 + 0.6 * 4.5 / 10)
    mood_axes.set_yticks(range(1, 6))
    pain_axes.set_ylabel(text["pain"], color=BLUE, fontsize=FONT)
    mood_axes.set_ylabel(text["mood"], color=ORANGE, fontsize=FONT)
    _date_axis(pain_axes, zone, locale)
    _pad_time_axis(pain_axes, course)
    pain_axes.grid(axis="y", alpha=0.3)
    handles, labels = pain_axes.get_legend_handles_labels()
    more, more_labels = mood_axes.get_legend_handles_labels()
    figure.legend(handles + more, labels + more_labels, loc="outside lower center", ncol=4, fontsize=FONT - 2)
    return figure


def _pad_time_axis(axes: object, course: Course) -> None:
    times = [m.at for m in course.infusions] + [c.at for c in course.checkins]
    if times:
        start, end = min(times), max(times)
        pad = max((end - start) / 20, timedelta(hours=6))
        axes.set_xlim(_num(start - pad), _num(end + pad))  # type: ignore[attr-defined]


def bars_figure(groups: Sequence[tuple[str, Sequence[Bar]]]) -> Figure:
    """One horizontal bar panel per group of figures (the cohort report)."""
    # About 60 px per bar: all of a 30-day report fits one phone screen.
    height = 0.8 + 0.4 * sum(len(bars) for _, bars in groups) + 0.5 * len(groups)
    figure = Figure(figsize=(SIZE[0], height), layout="constrained")
    panels = figure.subplots(len(groups), 1, squeeze=False, height_ratios=[max(1, len(b)) for _, b in groups])
    palette = [BLUE, ORANGE, GREEN, PURPLE, VERMILLION, GREY]
    for (title, bars), row in zip(groups, panels, strict=True):
        axes = row[0]
        labels = [b.label for b in bars][::-1]
        values = [b.value for b in bars][::-1]
        drawn = axes.barh(labels, values, height=0.7, color=[palette[i % len(palette)] for i in range(len(bars))][::-1])
        axes.bar_label(drawn, labels=[b.shown for b in bars][::-1], padding=4, fontsize=FONT - 1)
        axes.set_title(title, loc="left", fontsize=FONT + 1, fontweight="bold")
        axes.tick_params(labelsize=FONT - 1)
        axes.set_xlim(0, max([*values, 1.0]) * 1.25)
        axes.xaxis.set_visible(False)
        for side in ("top", "right", "bottom"):
            axes.spines[side].set_visible(False)
    return figure
