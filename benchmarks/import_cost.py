"""``messenger import`` of a large CSV file, end to end, against enrolling the same patients directly.

The import reads and checks every row, looks for patients already there, and enrols in
batches through ``enrol_many``. The baseline, measured in the same run on a fresh SQLite
file of its own, is ``enrol_many`` given the same requests already built (one transaction),
so the ratio is what checking the file and batching cost on top of the bulk enrolment.
A second import of the same file is timed too: it must enrol nobody and be quicker.

Run: ``.venv/bin/python benchmarks/import_cost.py [--patients 10000]``
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rich.console import Console

import messenger.cli_insights as cli_insights
from messenger.app import build_app
from messenger.clock import SystemClock
from messenger.config import Settings
from messenger.db import create_schema, transaction
from messenger.insights.importing import read_rows
from messenger.services.enrolment import enrol_many

HEADER = "name,phone,email,timezone,language,first_infusion,infusions"
ZONES = ("America/Los_Angeles", "America/New_York", "Europe/Madrid", "UTC")


def csv_text(patients: int) -> str:
    rows = [
        f"Patient {n},+1555{n:07d},,{ZONES[n % 4]},en,2030-01-{10 + n % 10:02d} {8 + n % 8:02d}:00,"
        for n in range(patients)
    ]
    return "\n".join([HEADER, *rows]) + "\n"


def settings(folder: str, name: str) -> Settings:
    return Settings(_env_file=None, database_url=f"sqlite:///{folder}/{name}.db")  # type: ignore[call-arg]


async def fresh(folder: str, name: str) -> None:
    application = build_app(settings(folder, name))
    await create_schema(application.engine)
    await application.engine.dispose()


async def baseline(folder: str, text: str) -> float:
    await fresh(folder, "baseline")
    application = build_app(settings(folder, "baseline"))
    now = SystemClock().now()
    plan = read_rows(text, catalog=application.catalog, series_key=application.settings.default_series, now=now)
    requests = [row.request for row in plan.rows]
    started = time.perf_counter()
    async with transaction(application.sessions) as session:
        await enrol_many(
            session=session,
            catalog=application.catalog,
            quiet_hours=application.quiet_hours,
            requests=requests,
            now=now,
            actor="benchmark",
        )
    elapsed = time.perf_counter() - started
    await application.engine.dispose()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=10_000)
    args = parser.parse_args()
    text = csv_text(args.patients)
    with tempfile.TemporaryDirectory() as folder:
        direct = asyncio.run(baseline(folder, text))
        asyncio.run(fresh(folder, "import"))
        path = Path(folder) / "patients.csv"
        path.write_text(text)
        cli_insights.console = Console(file=io.StringIO())  # the progress bar, not the figures
        timings = []
        for _ in range(2):
            started = time.perf_counter()
            code = cli_insights.import_patients(settings(folder, "import"), path, skip_invalid=False)
            timings.append(time.perf_counter() - started)
            assert code == 0
    print(f"patients: {args.patients} ({os.cpu_count()} CPUs)")
    print(f"enrol_many, requests built (baseline): {direct:.2f} s")
    print(f"messenger import, first time:           {timings[0]:.2f} s  ({timings[0] / direct:.2f}x the baseline)")
    print(f"messenger import, same file again:      {timings[1]:.2f} s  ({timings[1] / direct:.2f}x the baseline)")


if __name__ == "__main__":
    main()
