"""The alarm clock: APScheduler wakes the dispatcher when the next row falls due.

APScheduler holds five jobs whatever the size of the outbox: ``wake`` (a date trigger
moved to the next due time after every run), ``sweep`` (an interval safety net that
also picks up rows written by other processes), ``heartbeat`` (this process's heartbeat
row, see :mod:`messenger.scheduling.heartbeat`), ``follow-up`` (untaken alerts, unanswered
check-ins) and, with Telegram, ``telegram-updates`` (updates dead processes received and did
not handle, see :mod:`messenger.bot.journal`). The database is the queue; nothing about a message
lives in the scheduler, so a restart loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from messenger.clock import Clock
from messenger.scheduling.dispatcher import Dispatcher, DispatchReport
from messenger.scheduling.heartbeat import Heartbeat

log = logging.getLogger(__name__)

WAKE_JOB = "wake"
SWEEP_JOB = "sweep"
HEARTBEAT_JOB = "heartbeat"


class Alarm:
    def __init__(
        self,
        *,
        dispatcher: Dispatcher,
        clock: Clock,
        sweep_seconds: float = 30.0,
        scheduler: AsyncIOScheduler | None = None,
        heartbeat: Heartbeat | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.heartbeat = heartbeat
        self.clock = clock
        self.sweep_seconds = sweep_seconds
        self.scheduler = scheduler or AsyncIOScheduler(timezone=UTC)
        self.report = DispatchReport()
        self.next_due: datetime | None = None
        self._running = False
        self._again = False
        self._idle = asyncio.Event()
        self._idle.set()
        self._first_run = asyncio.Event()
        self._pokes: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    def every(self, name: str, seconds: float, job: Callable[[], Awaitable[object]]) -> None:
        """Run ``job`` every ``seconds`` beside the dispatcher (follow-ups), one run at a time."""
        self.scheduler.add_job(
            job,
            "interval",
            seconds=seconds,
            id=name,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
        )

    def start(self) -> None:
        """Start the scheduler and run the dispatcher at once (pending rows from before a restart)."""
        self.scheduler.add_job(
            self._wake,
            "interval",
            seconds=self.sweep_seconds,
            id=SWEEP_JOB,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
        )
        if self.heartbeat is not None:
            # Its own job: a long dispatch run must not make this process look dead.
            self.scheduler.add_job(
                self._beat,
                "interval",
                seconds=self.heartbeat.interval.total_seconds(),
                id=HEARTBEAT_JOB,
                replace_existing=True,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=None,
            )
        self.scheduler.start()
        self.poke()

    def poke(self) -> None:
        """Wake now: something was written that may be due (an alert, a welcome)."""
        if not self._accepting:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called from outside the event loop: let the scheduler do it
            self._schedule_wake(datetime.now(UTC))  # noqa: TID251  APScheduler's triggers run on real time
            return
        # At once, not through the scheduler: the person who just acted is waiting for it.
        task = loop.create_task(self._wake())
        self._pokes.add(task)
        task.add_done_callback(self._pokes.discard)

    async def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming, let the run in progress finish (within ``timeout``), stop the scheduler.

        Claims this process still holds are released at once if its sends finished; if
        they did not, releasing could send a message twice, so the leases expire instead.
        """
        self.dispatcher.stop()
        if self.scheduler.running:
            # The heartbeat goes on while sends finish: otherwise another process could take
            # this one's claims as a dead process's and send them a second time.
            for job in self.scheduler.get_jobs():
                if job.id != HEARTBEAT_JOB:
                    job.remove()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            finished = True
        except TimeoutError:
            finished = False
            log.warning("dispatcher still busy after %.0f s; its claims return to the queue when they expire", timeout)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if finished and (released := await self.dispatcher.release_claims()):
            log.info("released %d claimed message(s) back to the queue", released)

    async def wait_idle(self) -> None:
        """Wait until no dispatch run is in progress and the first run has happened."""
        await self._first_run.wait()
        await self._idle.wait()

    async def _beat(self) -> None:
        if self.heartbeat is None:
            return
        try:
            await self.heartbeat.beat()
        except Exception:
            log.exception("heartbeat failed; the next one will try again")

    async def _wake(self) -> None:
        # One run at a time; a wake during a run asks that run to look once more.
        if self._running:
            self._again = True
            return
        self._running = True
        self._idle.clear()
        try:
            while True:
                self._again = False
                self._merge(await self.dispatcher.run_due())
                if self._again:
                    continue
                self.next_due = await self.dispatcher.next_due_at()
                # A poke while the next due time was read must not be lost.
                if not self._again:
                    break
        except Exception:
            log.exception("dispatch run failed; the sweep will try again")
            self.next_due = None
        finally:
            self._running = False
            self._idle.set()
            self._first_run.set()
        if self.next_due is not None and self._accepting:
            delay = self.clock.real_seconds_until(self.next_due)
            # APScheduler's triggers run on real time; the injected clock says how many real seconds remain.
            self._schedule_wake(datetime.now(UTC) + timedelta(seconds=delay))  # noqa: TID251

    @property
    def _accepting(self) -> bool:
        return self.scheduler.running and not self.dispatcher.stopping

    def _schedule_wake(self, when: datetime) -> None:
        if not self._accepting:
            return
        self.scheduler.add_job(
            self._wake,
            "date",
            run_date=when,
            id=WAKE_JOB,
            replace_existing=True,
            misfire_grace_time=None,
            max_instances=3,
        )

    def _merge(self, run: DispatchReport) -> None:
        self.report.counts.update(run.counts)
        self.report.worst_lateness = max(self.report.worst_lateness, run.worst_lateness)
