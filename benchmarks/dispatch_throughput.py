"""Messages per second through the real dispatcher, SQLite against PostgreSQL, 1 against 3 dispatchers.

The channel is a no-op (it answers ``Sent`` at once), so the figures are the dispatcher's own
cost: claiming, loading the patient, series and contacts, rendering, recording the outcome.
Every run starts from a fresh database holding ``--messages`` due rows (bulk-inserted) and
ends when the queue is empty; every row must then be ``sent``.

* SQLite, 1 dispatcher: the baseline.
* PostgreSQL, 1 dispatcher.
* PostgreSQL, 3 dispatchers in 3 processes (how ``messenger run`` scales out), started together.
* PostgreSQL, 3 dispatchers in 1 process (one event loop: shows what one core allows).

PostgreSQL is a throwaway server started for the run (``tests/fakes/postgres.py``: needs
``initdb``/``pg_ctl``, durability off as in the tests).

Run: ``.venv/bin/python benchmarks/dispatch_throughput.py [--messages 1500] [--repeat 2]``
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
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from messenger.channels.base import Outgoing, Sent
from messenger.content import Capabilities, Flavour
from messenger.domain.enums import ChannelName


class NoopChannel:
    """Accepts every message at once."""

    name = ChannelName.CONSOLE
    capabilities = Capabilities(body=Flavour.TEXT, max_length=4096)

    async def send(self, outgoing: Outgoing) -> Sent:
        return Sent(provider_id=str(outgoing.message_id))


def make_app(url: str):  # type: ignore[no-untyped-def]
    from messenger.app import build_app
    from messenger.config import Settings
    from tests.fakes.seed import COMPACT_DIR

    settings = Settings(_env_file=None, database_url=url, series_dir=COMPACT_DIR)  # type: ignore[call-arg]
    return build_app(settings, channels={ChannelName.CONSOLE: NoopChannel()})


async def prepare(url: str, messages: int) -> None:
    from messenger.db import create_engine, create_schema
    from tests.fakes.seed import insert_outbox

    engine = create_engine(url)
    await create_schema(engine)
    await insert_outbox(engine, messages=messages, due=True)
    await engine.dispose()


@dataclass
class Run:
    seconds: float  # wall time from the start to the last dispatcher's end
    cpu: float  # CPU seconds of the dispatcher process(es), all threads
    sent: list[int]  # by each dispatcher


async def drain(dispatchers: int, url: str) -> Run:
    """Run ``dispatchers`` dispatchers (one event loop) until the queue is empty."""
    apps = [make_app(url) for _ in range(dispatchers)]
    for app in apps:  # connect before the clock starts
        async with app.engine.connect():
            pass
    began, cpu = time.perf_counter(), time.process_time()
    reports = await asyncio.gather(*(app.dispatcher.run_due() for app in apps))
    run = Run(time.perf_counter() - began, time.process_time() - cpu, [r.counts.get("sent", 0) for r in reports])
    for app in apps:
        await app.engine.dispose()
    return run


async def check(url: str, messages: int) -> None:
    from sqlalchemy import func, select

    from messenger.db import create_engine
    from messenger.domain.models import Message

    engine = create_engine(url)
    async with engine.connect() as connection:
        counts = dict((await connection.execute(select(Message.status, func.count()).group_by(Message.status))).all())  # type: ignore[call-overload]
    await engine.dispose()
    if counts != {"sent": messages}:
        raise SystemExit(f"the queue did not end with {messages} rows sent: {counts}")


def in_processes(url: str, dispatchers: int) -> Run:
    """``dispatchers`` child processes, released together once all are ready; wall time to the last."""
    children = [
        subprocess.Popen(
            [sys.executable, __file__, "--child", url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for _ in range(dispatchers)
    ]
    for process in children:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    began = time.monotonic()
    for process in children:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    results = []
    for process in children:
        out, _ = process.communicate(timeout=600)
        if process.returncode != 0:
            raise SystemExit(f"a dispatcher process failed (exit {process.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return Run(
        max(r["finished"] for r in results) - began, sum(r["cpu"] for r in results), [r["sent"] for r in results]
    )


async def child(url: str) -> None:
    """One dispatcher in its own process: connect, say ready, wait for go, drain, report."""
    app = make_app(url)
    async with app.engine.connect():
        pass
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    cpu = time.process_time()
    report = await app.dispatcher.run_due()
    finished, cpu = time.monotonic(), time.process_time() - cpu
    await app.engine.dispose()
    print(json.dumps({"finished": finished, "cpu": cpu, "sent": report.counts.get("sent", 0)}), flush=True)


def server_cpu(pid: int | None) -> float:
    """CPU seconds of the PostgreSQL server so far: the postmaster and its reaped backends."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime


@dataclass
class Result:
    label: str
    messages: int
    runs: list[Run]
    server_cpu: list[float]

    @property
    def rate(self) -> float:
        return self.messages / statistics.median(r.seconds for r in self.runs)

    @property
    def cpu_ms(self) -> float:
        """Dispatcher CPU per message (ms), median over runs."""
        return 1e3 * statistics.median(r.cpu for r in self.runs) / self.messages

    @property
    def server_ms(self) -> float:
        return 1e3 * statistics.median(self.server_cpu) / self.messages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1500)
    parser.add_argument("--repeat", type=int, default=2, help="runs per configuration (median)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(args.child))
        return

    from tests.fakes.postgres import PostgresServer

    n = args.messages
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load}; {n} due messages per run, "
        f"median of {args.repeat}",
        flush=True,
    )
    results: list[Result] = []

    def run(label: str, fresh_url, go, server_pid: int | None = None) -> None:  # type: ignore[no-untyped-def]
        result = Result(label, n, [], [])
        for _ in range(args.repeat):
            url = fresh_url()
            asyncio.run(prepare(url, n))
            before = server_cpu(server_pid)
            result.runs.append(go(url))
            asyncio.run(check(url, n))  # also lets the server reap the dispatchers' backends
            result.server_cpu.append(server_cpu(server_pid) - before)
        results.append(result)
        print(
            f"  {label}: {result.rate:.0f} msg/s (runs: {', '.join(f'{r.seconds:.2f} s' for r in result.runs)}; "
            f"sent by each: {[r.sent for r in result.runs]})",
            flush=True,
        )

    with tempfile.TemporaryDirectory(prefix="messenger-bench-") as tmp, PostgresServer() as server:

        def sqlite_url() -> str:
            return f"sqlite:///{Path(tmp) / uuid.uuid4().hex}.db"

        def postgres_url() -> str:
            return server.create_database(f"bench_{uuid.uuid4().hex[:12]}")

        pid = server.pid
        run("SQLite, 1 dispatcher", sqlite_url, lambda url: asyncio.run(drain(1, url)))
        run("PostgreSQL, 1 dispatcher", postgres_url, lambda url: asyncio.run(drain(1, url)), pid)
        run("PostgreSQL, 3 dispatchers in 3 processes", postgres_url, lambda url: in_processes(url, 3), pid)
        run("PostgreSQL, 3 dispatchers in 1 process", postgres_url, lambda url: asyncio.run(drain(3, url)), pid)

    base = results[0]
    width = max(len(r.label) for r in results)
    print()
    header = (
        f"{'configuration':<{width}} | {'msg/s':>6} {'ratio':>6} | {'dispatcher CPU ms/msg':>21} {'ratio':>6} | "
        f"{'PostgreSQL CPU ms/msg':>21}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        server = f"{r.server_ms:>21.2f}" if r.server_cpu and any(r.server_cpu) else f"{'-':>21}"
        print(
            f"{r.label:<{width}} | {r.rate:>6.0f} {r.rate / base.rate:>5.2f}× | {r.cpu_ms:>21.2f} "
            f"{r.cpu_ms / base.cpu_ms:>5.2f}× | {server}"
        )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\nratio: against SQLite, 1 dispatcher, in this run. Load average at the end: {load} "
        f"(other work on the machine lowers msg/s; CPU per message is steadier)."
    )


if __name__ == "__main__":
    main()
