"""``messenger demo``: one patient's whole series, compressed, through the real scheduler and dispatcher."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlmodel import col, select

from messenger.app import App, build_app
from messenger.channels.console import ConsoleChannel
from messenger.clock import ScaledClock
from messenger.config import Settings
from messenger.db import transaction
from messenger.domain.catalog import SeriesCatalog
from messenger.domain.enums import ChannelName, MessageStatus
from messenger.domain.models import Message
from messenger.domain.series import plan
from messenger.domain.timing import QuietHours, from_wall, local_wall
from messenger.rendering.formats import formats_for
from messenger.scheduling.dispatcher import Delivery
from messenger.services.audit import SYSTEM
from messenger.services.enrolment import EnrolmentRequest, console_contact, enrol

DEMO_PATIENT = "Alex Rivera"
REAL_LEASE_SECONDS = 60.0
# Real seconds the demo waits for the next message beyond the story's own gap before giving up.
PATIENCE_SECONDS = 60.0


@dataclass
class DemoSummary:
    by_kind: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    order: list[str] = field(default_factory=list)
    worst_lateness: timedelta = timedelta(0)
    expected: int = 0
    speed: float = 1.0
    finished: bool = False
    # Real time the story waited for deliveries that took longer than the story allowed.
    waited: timedelta = timedelta(0)
    # The series' own rows, and every row delivered so far: the demo ends once the first are all in the
    # second (a check-in reminder for the demo patient, who never answers, is shown but not waited for).
    planned: set[int] = field(default_factory=set)
    finished_ids: set[int] = field(default_factory=set)

    @property
    def all_planned_delivered(self) -> bool:
        return bool(self.planned) and self.planned <= self.finished_ids

    @property
    def delivered(self) -> int:
        return sum(sum(c.values()) for c in self.by_kind.values())

    def add(self, delivery: Delivery) -> None:
        self.finished_ids.add(delivery.message.pk)
        self.by_kind[delivery.message.kind.value][delivery.status.value] += 1
        if delivery.status is MessageStatus.SENT:
            self.order.append(delivery.message.step_key)
            self.worst_lateness = max(self.worst_lateness, delivery.at - delivery.message.send_at)


def story_start(zone: ZoneInfo, now: datetime) -> datetime:
    """The demo's story begins at 09:00 today, the patient's local time."""
    return from_wall(datetime.combine(local_wall(now, zone).date(), time(9, 0)), zone)


def demo_speed(
    settings: Settings, catalog: SeriesCatalog, zone: ZoneInfo, start: datetime, first: datetime, seconds: float
) -> float:
    """Story seconds per real second so that the whole series takes about ``seconds``."""
    definition = catalog.get(settings.default_series)
    steps = plan(
        definition,
        enrolled_at=start,
        infusions=definition.default_infusion_times(first, zone),
        zone=zone,
        quiet_hours=QuietHours(settings.quiet_hours_start, settings.quiet_hours_end),
    )
    span = (max(s.send_at for s in steps) - start).total_seconds()
    return max(1.0, span / seconds)


async def run_demo(
    settings: Settings,
    *,
    now: datetime,
    seconds: float = 60.0,
    speed: float | None = None,
    console: Console | None = None,
    patient: str = DEMO_PATIENT,
    language: str | None = None,
) -> DemoSummary:
    """Enrol a demo patient (in ``settings.default_timezone``) and deliver their whole series in about
    ``seconds`` of real time; the story begins on the day of ``now``.

    Story time waits at each message until it has been delivered, so a busy machine makes the
    demo slower, never different.
    """
    console = console or Console()
    zone = settings.zone
    start = story_start(zone, now)
    first = from_wall(datetime.combine(local_wall(start, zone).date() + timedelta(days=2), time(10, 0)), zone)
    summary = DemoSummary()
    formats = formats_for(settings.default_locale, settings.locale)  # the operator's narration
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    task = progress.add_task("delivering", total=None)
    done, progressed = asyncio.Event(), asyncio.Event()
    app: App | None = None
    gate = StoryGate()

    async def on_delivery(delivery: Delivery) -> None:
        gate.update(delivery)
        if not delivery.status.is_final:
            return
        progressed.set()
        summary.add(delivery)
        story_now = app.clock.now().astimezone(zone) if app else delivery.at
        progress.update(
            task,
            completed=summary.delivered,
            description=f"series day {(story_now.date() - start.astimezone(zone).date()).days:>2}"
            f" · {formats.stamp(story_now)}",
        )
        if summary.all_planned_delivered:
            done.set()

    catalog = SeriesCatalog.load(settings.series_dir)
    summary.speed = speed or demo_speed(settings, catalog, zone, start, first, seconds)
    clock = ScaledClock(start, summary.speed, running=False)
    gate.clock = clock
    # Leases and retries are story time: a lease of a minute of real time is days of story time.
    scaled = settings.model_copy(update={"claim_lease_seconds": REAL_LEASE_SECONDS * summary.speed})
    app = build_app(
        scaled, clock=clock, channels={ChannelName.CONSOLE: ConsoleChannel(console, formats)}, listeners=[on_delivery]
    )
    reads = language or settings.default_locale
    console.rule(f"[bold]{settings.clinic_name}[/] · demo series for {patient} ({zone.key}, {reads})")
    console.print(
        f"Story time runs {summary.speed:,.0f}× faster than real time: the whole series in about {seconds:.0f} s.\n"
    )
    await app.start()
    try:
        async with transaction(app.sessions) as session:
            series = await enrol(
                session=session,
                catalog=app.catalog,
                clock=clock,
                quiet_hours=app.quiet_hours,
                actor=SYSTEM,
                request=EnrolmentRequest(
                    name=patient,
                    timezone=zone.key,
                    series_key=settings.default_series,
                    locale=language or settings.default_locale,
                    first_infusion=first,
                    contacts=[console_contact(patient)],
                ),
            )
        async with app.sessions() as session:
            # The alarm may already have taken the welcome: count what it is yet to deliver, or has.
            rows = (
                await session.exec(
                    select(Message.id, Message.status, Message.send_at).where(
                        Message.series_id == series.pk,
                        col(Message.status).in_([MessageStatus.PENDING, MessageStatus.SENDING, MessageStatus.SENT]),
                    )
                )
            ).all()
        summary.expected = len(rows)
        summary.planned = {pk for pk, _, _ in rows if pk is not None}
        summary.finished_ids |= {pk for pk, status, _ in rows if pk is not None and status is MessageStatus.SENT}
        gate.expect({pk: at for pk, status, at in rows if pk is not None and status is not MessageStatus.SENT})
        progress.update(task, total=summary.expected)
        if summary.all_planned_delivered:  # everything was delivered before we counted
            done.set()
        clock.run()
        app.alarm.poke()
        # The longest quiet stretch of the story, in real seconds, plus patience for a busy machine.
        patience = gate.longest_gap().total_seconds() / summary.speed + PATIENCE_SECONDS
        with progress:
            summary.finished = await _until(done, progressed, patience)
            if not summary.finished:
                console.print("[red]The demo stopped making progress; the summary shows what was delivered.")
    finally:
        await app.stop()
    summary.waited = clock.waited
    console.print(summary_table(summary))
    console.print(lateness_line(summary))
    return summary


class StoryGate:
    """Holds story time at the earliest message not yet delivered, until it is."""

    def __init__(self) -> None:
        self.clock: ScaledClock | None = None
        self._waiting: dict[int, datetime] = {}
        self._finished: set[int] = set()

    def expect(self, waiting: dict[int, datetime]) -> None:
        self._waiting = {pk: at for pk, at in waiting.items() if pk not in self._finished}
        self._hold()

    def update(self, delivery: Delivery) -> None:
        pk = delivery.message.pk
        if delivery.status.is_final:
            self._finished.add(pk)
            self._waiting.pop(pk, None)
        elif pk in self._waiting:  # a retry moved it
            self._waiting[pk] = delivery.message.send_at
        self._hold()

    def longest_gap(self) -> timedelta:
        times = sorted(self._waiting.values())
        return max((b - a for a, b in pairwise(times)), default=timedelta(0))

    def _hold(self) -> None:
        if self.clock is not None:
            self.clock.hold_at(min(self._waiting.values(), default=None))


async def _until(done: asyncio.Event, progressed: asyncio.Event, patience: float) -> bool:
    """Wait for ``done``; False once ``patience`` real seconds pass without progress."""
    while not done.is_set():
        progressed.clear()
        try:
            await asyncio.wait_for(progressed.wait(), timeout=patience)
        except TimeoutError:
            return done.is_set()
    return True


def summary_table(summary: DemoSummary) -> Table:
    table = Table(title="Demo summary", title_style="bold")
    table.add_column("kind")
    for column in ("sent", "skipped", "failed"):
        table.add_column(column, justify="right")
    totals: Counter[str] = Counter()
    for kind in ("welcome", "education", "reminder", "checkin", "completion"):
        counts = summary.by_kind.get(kind, Counter())
        totals.update(counts)
        table.add_row(kind, *(str(counts[c]) for c in ("sent", "skipped", "failed")))
    table.add_row("[bold]all", *(f"[bold]{totals[c]}" for c in ("sent", "skipped", "failed")))
    return table


def lateness_line(summary: DemoSummary) -> str:
    lateness = summary.worst_lateness.total_seconds()
    return (
        f"Worst lateness: {lateness / summary.speed * 1000:.0f} ms of real time "
        f"({lateness / 60:.0f} min of story time at {summary.speed:,.0f}×); "
        f"story time waited {summary.waited.total_seconds() * 1000:.0f} ms of real time for deliveries."
    )
