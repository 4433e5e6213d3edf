"""Start-up time and memory with 0, 10,000 and 100,000 pending messages (SQLite).

The design keeps nothing per message outside the database: APScheduler holds two jobs
(``wake`` and ``sweep``) whatever the size of the outbox, so start-up time, memory and the
job count should not grow with the number of pending messages. This measures it.

For each size a SQLite file is filled with bulk inserts (rows pending over the next 30 days,
so nothing is due), then fresh interpreters each build and start the app on it (after one
discarded warm-up start that does a new file's one-off work):

* ``start``: ``build_app(settings).start()`` (schema brought up to date, owners, scheduler,
  first wake queued),
* ``first run``: until the alarm's first dispatcher run has finished (it claims nothing,
  then asks the database for the next due time),
* RSS growth from before ``build_app`` to after the first run (``/proc/self/statm``),
* tracemalloc's peak over the same span (a separate interpreter: tracing slows everything),
* APScheduler jobs after the first run.

Run: ``.venv/bin/python benchmarks/startup_and_memory.py [--repeat 5]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SIZES = (0, 10_000, 100_000)


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def measure(database: Path, *, trace: bool) -> dict[str, float]:
    """In a fresh interpreter: build and start the app on ``database``; what it cost."""
    import tracemalloc

    from messenger.app import build_app
    from messenger.config import Settings
    from tests.fakes.seed import COMPACT_DIR

    settings = Settings(_env_file=None, database_url=f"sqlite:///{database}", series_dir=COMPACT_DIR)  # type: ignore[call-arg]
    rss_before = rss_bytes()
    if trace:
        tracemalloc.start()
    began = time.perf_counter()
    app = build_app(settings)
    await app.start()
    started = time.perf_counter()
    await app.alarm.wait_idle()
    first_run = time.perf_counter()
    peak = tracemalloc.get_traced_memory()[1] if trace else 0
    rss_after = rss_bytes()
    jobs = len(app.alarm.scheduler.get_jobs())
    handled = app.alarm.report.handled
    await app.stop()
    return {
        "start": started - began,
        "first_run": first_run - began,
        "rss_growth": rss_after - rss_before,
        "rss": rss_after,
        "traced_peak": peak,
        "jobs": jobs,
        "handled": handled,
    }


async def fill(database: Path, messages: int) -> float:
    from messenger.db import create_engine, create_schema
    from tests.fakes.seed import insert_outbox

    engine = create_engine(f"sqlite:///{database}")
    began = time.perf_counter()
    await create_schema(engine)
    if messages:
        written = await insert_outbox(engine, messages=messages, due=False)
        assert written == messages
    await engine.dispose()
    return time.perf_counter() - began


def child(database: Path, trace: bool) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", str(database)] + (["--trace"] if trace else [])
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO)
    if result.returncode != 0:
        raise RuntimeError(f"measuring {database} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="interpreters per size for the timings (median)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(measure(args.child, trace=args.trace))))
        return

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load}; "
        f"median of {args.repeat} fresh interpreters"
    )
    results: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="messenger-bench-") as tmp:
        for size in SIZES:
            database = Path(tmp) / f"outbox-{size}.db"
            seconds = asyncio.run(fill(database, size))
            child(database, trace=False)  # warm-up: one-off work on a new file (schema stamping, page cache)
            runs = [child(database, trace=False) for _ in range(args.repeat)]
            traced = child(database, trace=True)
            results[size] = {
                "start": statistics.median(r["start"] for r in runs),
                "first_run": statistics.median(r["first_run"] for r in runs),
                "rss_growth": statistics.median(r["rss_growth"] for r in runs),
                "rss": statistics.median(r["rss"] for r in runs),
                "traced_peak": traced["traced_peak"],
                "jobs": max(r["jobs"] for r in runs),
                "handled": max(r["handled"] for r in runs),
                "db_mb": database.stat().st_size / 2**20,
            }
            print(f"  {size:>7,} pending: filled in {seconds:.1f} s ({results[size]['db_mb']:.1f} MB)", flush=True)

    base = results[0]

    def ratio(value: float, reference: float) -> str:
        return f"{value / reference:.2f}×" if reference else "-"

    print()
    header = (
        f"{'pending':>9} | {'start ms':>9} {'ratio':>6} | {'1st run ms':>10} {'ratio':>6} | "
        f"{'RSS +MB':>8} {'ratio':>6} | {'traced MB':>9} {'ratio':>6} | {'RSS MB':>6} | {'jobs':>4} | sent"
    )
    print(header)
    print("-" * len(header))
    for size, r in results.items():
        print(
            f"{size:>9,} | {r['start'] * 1e3:>9.1f} {ratio(r['start'], base['start']):>6} | "
            f"{r['first_run'] * 1e3:>10.1f} {ratio(r['first_run'], base['first_run']):>6} | "
            f"{r['rss_growth'] / 2**20:>8.1f} {ratio(r['rss_growth'], base['rss_growth']):>6} | "
            f"{r['traced_peak'] / 2**20:>9.2f} {ratio(r['traced_peak'], base['traced_peak']):>6} | "
            f"{r['rss'] / 2**20:>6.0f} | {r['jobs']:>4.0f} | {r['handled']:.0f}"
        )
    print(
        "\nratio: against the 0-message baseline of this run. jobs: APScheduler jobs after the first run "
        "('sweep', plus 'wake' once something is pending). sent: messages the first run handled (none are due)."
    )


if __name__ == "__main__":
    main()
