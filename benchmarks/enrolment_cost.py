"""Enrolment cost per scheduled message, against one APScheduler 3 job per message.

The baseline is what the design rejects: every message a job persisted in APScheduler's
``SQLAlchemyJobStore`` (``add_job`` with a date trigger, the scheduler started paused so
nothing runs), on the same kind of database, in the same run, with the same SQLite settings
the product uses (WAL, ``synchronous=NORMAL``).

* APScheduler: ``--jobs`` jobs, one ``add_job`` each;
* ``enrol``, one patient per transaction (how a staff member enrols): ``--single`` patients;
* ``enrol_many``, ``--per-transaction`` patients per transaction: ``--patients`` patients
  (default 10,000), the bulk path for an import.

Each figure is wall time per scheduled message (an outbox row, or a job), and its ratio to
the APScheduler figure; CPU time of this process (all threads) is printed beside it, as it
moves less than wall time on a busy machine. APScheduler with SQLite's default settings
(rollback journal, ``synchronous=FULL``: what a job store on a bare URL gets) is shown too.
The default series has 29 steps, so 10,000 patients are 290,000 rows.
The requests are built before the clock starts (parsing an import is not enrolment).

Run: ``.venv/bin/python benchmarks/enrolment_cost.py [--patients 10000] [--jobs 2000] [--single 200]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import event, func
from sqlmodel import select

from messenger.clock import ManualClock
from messenger.db import _sqlite_pragmas, create_engine, create_schema, session_factory, transaction
from messenger.domain.catalog import SeriesCatalog
from messenger.domain.enums import ChannelName
from messenger.domain.models import ContactBase, Message
from messenger.domain.timing import QuietHours
from messenger.services.enrolment import EnrolmentRequest, enrol, enrol_many

SERIES = "ketamine-chronic-pain"
ZONES = ("America/Los_Angeles", "America/New_York", "Europe/Madrid", "Asia/Kolkata")
# A fixed story time: enrolment is measured, not the calendar.
NOW = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)


def send_one(message_id: int) -> None:
    """What each APScheduler job would run (it never runs here: the scheduler is paused)."""


def requests(count: int) -> list[EnrolmentRequest]:
    return [
        EnrolmentRequest(
            name=f"Patient {i:05d}",
            timezone=ZONES[i % len(ZONES)],
            series_key=SERIES,
            # Slots every 15 minutes from 08:00 to 16:00 over two weeks: 448 distinct first infusions.
            first_infusion=NOW.replace(hour=16) + timedelta(days=2 + i % 14, minutes=15 * (i // 14 % 32)),
            contacts=[ContactBase(channel=ChannelName.TELEGRAM, address=str(700_000_000 + i))],
        )
        for i in range(count)
    ]


async def _count_rows(url: str) -> int:
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        rows = (await session.exec(select(func.count()).select_from(Message))).one()
    await engine.dispose()
    return int(rows)


async def bulk(url: str, batch: Sequence[EnrolmentRequest], per_transaction: int) -> tuple[float, int]:
    engine = create_engine(url)
    await create_schema(engine)
    sessions, catalog, quiet = session_factory(engine), SeriesCatalog.load(), QuietHours()
    started = time.perf_counter()
    for start in range(0, len(batch), per_transaction):
        async with transaction(sessions) as session:
            await enrol_many(
                session=session,
                catalog=catalog,
                quiet_hours=quiet,
                requests=batch[start : start + per_transaction],
                now=NOW,
                actor="system",
            )
    seconds = time.perf_counter() - started
    await engine.dispose()
    return seconds, await _count_rows(url)


async def single(url: str, batch: Sequence[EnrolmentRequest]) -> tuple[float, int]:
    engine = create_engine(url)
    await create_schema(engine)
    sessions, catalog, quiet, clock = session_factory(engine), SeriesCatalog.load(), QuietHours(), ManualClock(NOW)
    started = time.perf_counter()
    for request in batch:
        async with transaction(sessions) as session:
            await enrol(session=session, catalog=catalog, clock=clock, quiet_hours=quiet, request=request, actor="s")
    seconds = time.perf_counter() - started
    await engine.dispose()
    return seconds, await _count_rows(url)


def apscheduler_jobs(path: Path, jobs: int, *, product_pragmas: bool) -> float:
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    engine = create_sync_engine(f"sqlite:///{path}")
    if product_pragmas:
        event.listen(engine, "connect", _sqlite_pragmas)
    scheduler = BackgroundScheduler(jobstores={"default": SQLAlchemyJobStore(engine=engine)}, timezone=UTC)
    scheduler.start(paused=True)  # jobs go straight to the store; none runs
    try:
        started = time.perf_counter()
        for i in range(jobs):
            scheduler.add_job(
                send_one, "date", run_date=NOW + timedelta(days=30, seconds=i), args=[i], id=f"message-{i}"
            )
        seconds = time.perf_counter() - started
        assert len(scheduler.get_jobs()) == jobs
    finally:
        scheduler.shutdown(wait=False)
        engine.dispose()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--per-transaction", type=int, default=1_000)
    parser.add_argument("--single", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2_000)
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        batch = requests(args.patients)
        cpu = time.process_time()
        job_seconds = apscheduler_jobs(folder / "jobs.db", args.jobs, product_pragmas=True)
        job_cpu, cpu = time.process_time() - cpu, time.process_time()
        default_seconds = apscheduler_jobs(folder / "jobs-default.db", args.jobs, product_pragmas=False)
        default_cpu, cpu = time.process_time() - cpu, time.process_time()
        single_seconds, single_rows = asyncio.run(single(f"sqlite:///{folder / 'single.db'}", batch[: args.single]))
        single_cpu, cpu = time.process_time() - cpu, time.process_time()
        bulk_seconds, bulk_rows = asyncio.run(bulk(f"sqlite:///{folder / 'bulk.db'}", batch, args.per_transaction))
        bulk_cpu = time.process_time() - cpu

    baseline = job_seconds / args.jobs
    print("SQLite file; the baseline is APScheduler with the product's pragmas (WAL, synchronous=NORMAL)")
    print(f"{'what':<56} {'count':>8} {'seconds':>8} {'µs/message':>11} {'cheaper':>8} {'CPU µs/msg':>11}")
    rows = [
        ("APScheduler SQLAlchemyJobStore, 1 job per message", args.jobs, job_seconds, job_cpu),
        ("  the same, SQLite's default settings", args.jobs, default_seconds, default_cpu),
        (f"enrol, 1 patient per transaction ({args.single} patients)", single_rows, single_seconds, single_cpu),
        (
            f"enrol_many, {args.per_transaction} per transaction ({args.patients} patients)",
            bulk_rows,
            bulk_seconds,
            bulk_cpu,
        ),
    ]
    for what, count, seconds, cpu_seconds in rows:
        per = seconds / count
        print(
            f"{what:<56} {count:>8,} {seconds:>8.2f} {per * 1e6:>11.1f} {baseline / per:>7.1f}×"
            f" {cpu_seconds / count * 1e6:>11.1f}"
        )
    print(
        f"{args.patients:,} patients through enrol_many: {bulk_seconds:.2f} s wall, {bulk_cpu:.2f} s CPU"
        " (target < 10 s)"
    )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
