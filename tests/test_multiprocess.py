"""Several ``messenger run`` processes on one PostgreSQL database send each message once.

These tests start real OS processes of the command against a fresh database and a fake
Telegram Bot API server in the test process (only one of the processes polls for updates;
the others only send), then judge from what the fake received and what the database
recorded:

* every row is ``sent`` (none lost),
* every chat received exactly as many messages as it has rows (none twice), and the
  Telegram message id recorded on each row is one the fake handed out for that chat,
* with one process SIGKILLed in the middle of a batch, the rows it had claimed return to
  the queue when its lease expires and the survivors send them. Messages it had already
  handed to Telegram when it died are sent again (at-least-once in that window: the process
  died before it could record them); the test measures how many.

The database is seeded through the real services: ``enrol()`` in the compact test series
and ``link_telegram()`` with a chat id per patient (``tests/fakes/seed.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import signal
import socket
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from messenger.db import create_engine, create_schema
from messenger.domain.enums import ChannelName, MessageStatus
from messenger.domain.models import Contact, Message
from tests.fakes.bot_api import Call, FakeBotApi
from tests.fakes.postgres import PostgresServer
from tests.fakes.seed import COMPACT_DIR, Seeded, enrol_telegram_patients

pytestmark = pytest.mark.slow

PATIENTS = 430  # × 7 steps of the compact series = 3,010 messages
WORKERS = 3
# The waits end when the work is done, however long a busy machine takes; they give up only
# when nothing at all has moved for this long (the processes are stuck, not slow).
STALL = 120.0
# Sends the killed process has handed to Telegram, unanswered, when it is killed.
IN_FLIGHT = 4


# ---------------------------------------------------------------------------------- fixtures


@pytest.fixture
def database(postgres: PostgresServer | str) -> Iterator[str]:
    if isinstance(postgres, str):
        pytest.skip("these tests create their own databases on a server they started")
    name = f"mp_{uuid.uuid4().hex[:12]}"
    yield postgres.create_database(name)
    postgres.drop_database(name)


async def seed(engine: AsyncEngine) -> Seeded:
    await create_schema(engine)
    seeded = await enrol_telegram_patients(engine, patients=PATIENTS)
    assert seeded.messages >= 3_000 and len(seeded.per_chat) == PATIENTS
    return seeded


class HeldBotApi(FakeBotApi):
    """A Telegram that delivers each message at once but answers only after :attr:`release` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def _api_sendmessage(self, params: dict) -> dict:  # type: ignore[override]
        message = super()._api_sendmessage(params)  # the chat has it from here on
        await self.release.wait()
        return message


# ---------------------------------------------------------------------------------- processes


def _command() -> list[str]:
    if importlib.util.find_spec("messenger.__main__") is not None:
        return [sys.executable, "-m", "messenger", "run"]
    return [str(Path(sys.executable).with_name("messenger")), "run"]


def _free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


@dataclass
class Worker:
    label: str
    process: asyncio.subprocess.Process
    port: int
    log: Path

    def problems(self) -> list[str]:
        """Log lines that mean something went wrong (the workers log warnings and worse only)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return [line for line in text.splitlines() if any(m in line for m in ("Traceback", "ERROR", "claim lost"))]

    async def exited(self) -> bool:
        return self.process.returncode is not None

    async def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def tail(self, lines: int = 25) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.label} (exit {self.process.returncode}) ---\n" + "\n".join(text.splitlines()[-lines:])

    async def sent(self, client: httpx.AsyncClient) -> int:
        """``messenger_messages_total{status="sent"}`` from this process's own ``/metrics``."""
        response = await client.get(f"http://127.0.0.1:{self.port}/metrics")
        response.raise_for_status()
        return int(
            sum(
                sample.value
                for family in text_string_to_metric_families(response.text)
                for sample in family.samples
                if sample.name == "messenger_messages_total" and sample.labels.get("status") == "sent"
            )
        )


async def start_worker(
    label: str, *, url: str, api: FakeBotApi, port: int, directory: Path, polling: bool = False, **settings: object
) -> Worker:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESSENGER_")}
    env.update(
        {
            "MESSENGER_DATABASE_URL": url,
            "MESSENGER_TELEGRAM_TOKEN": api.token,
            "MESSENGER_TELEGRAM_BASE_URL": api.base_url,
            "MESSENGER_TELEGRAM_UPDATES": "polling" if polling else "none",
            "MESSENGER_TELEGRAM_MAX_RATE": "10000",
            "MESSENGER_HTTP_PORT": str(port),
            "MESSENGER_LOG_LEVEL": "WARNING",
            "MESSENGER_SERIES_DIR": str(COMPACT_DIR),
            # `messenger run` refuses the article's clinic unless a clinic sets its own.
            "MESSENGER_CLINIC_NAME": "Valley Clinic",
            "MESSENGER_CLINIC_PHONE": "555-0100",
            **{f"MESSENGER_{key.upper()}": str(value) for key, value in settings.items()},
        }
    )
    log = directory / f"{label}.log"
    with log.open("wb") as output:  # the child keeps its own copy of the descriptor
        process = await asyncio.create_subprocess_exec(
            *_command(),
            cwd=directory,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
        )
    return Worker(label, process, port, log)


@contextlib.asynccontextmanager
async def running(workers: list[Worker]) -> AsyncIterator[list[Worker]]:
    """Make sure no worker outlives the test, whatever happens in it."""
    try:
        yield workers
    finally:
        for worker in workers:
            if worker.process.returncode is None:
                worker.process.kill()
                await worker.process.wait()


async def stop(workers: list[Worker]) -> None:
    """SIGTERM every worker; each must finish its sends and exit 0."""
    for worker in workers:
        worker.process.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            # A stopping worker sends nothing more: its only sign of life is its log.
            await until(worker.exited, progress=worker.log_size, what=f"{worker.label} to stop after SIGTERM")
        except pytest.fail.Exception:
            pytest.fail(f"{worker.label} did not stop after SIGTERM\n{worker.tail()}")
    codes = {worker.label: worker.process.returncode for worker in workers}
    assert set(codes.values()) == {0}, f"exit codes {codes}\n" + "\n".join(w.tail() for w in workers)


async def unless_a_worker_exits(waiting: Awaitable[Any], workers: list[Worker], what: str) -> None:
    """Await ``waiting``; fail at once (with the worker's log) if a worker exits meanwhile."""
    task = asyncio.ensure_future(waiting)
    exits = {asyncio.ensure_future(w.process.wait()): w for w in workers}
    try:
        done, _ = await asyncio.wait([task, *exits], return_when=asyncio.FIRST_COMPLETED)
        if task not in done:
            gone = [exits[t] for t in done if t in exits]
            pytest.fail(f"a worker exited while waiting for {what}\n" + "\n".join(w.tail() for w in gone))
        task.result()
    finally:
        for pending in (task, *exits):
            pending.cancel()


async def until(
    done: Callable[[], Awaitable[bool]], *, progress: Callable[[], Awaitable[object]], what: str, stall: float = STALL
) -> None:
    """Poll other processes' state (there is no event to wait on) until ``done()`` holds.

    However long that takes; fail only when ``progress()`` has not changed for ``stall`` seconds.
    """
    seen, moved = await progress(), time.monotonic()
    while not await done():
        await asyncio.sleep(0.1)
        now = await progress()
        if now != seen:
            seen, moved = now, time.monotonic()
        elif time.monotonic() - moved > stall:
            pytest.fail(f"no progress for {stall:.0f} s (at {seen}) waiting for {what}")


def sent_to(api: FakeBotApi, n: int) -> Callable[[], Awaitable[bool]]:
    """At least ``n`` sendMessage calls have reached ``api``."""
    count = SendCount(n)

    async def check() -> bool:
        return count(api)

    return check


def calls_to(api: FakeBotApi) -> Callable[[], Awaitable[int]]:
    """Progress at the fake Telegram: every request counts (start-up, polling, sends)."""

    async def count() -> int:
        return len(api.calls)

    return count


def queue_progress(engine: AsyncEngine, api: FakeBotApi) -> Callable[[], Awaitable[tuple[int, ...]]]:
    """Progress anywhere: requests at the fake Telegram, rows claimed or finished in the database."""

    async def state() -> tuple[int, ...]:
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(Message.status, func.count()).group_by(Message.status)  # type: ignore[arg-type]
                )
            ).all()
        return (len(api.calls), *sorted(int(n) for status, n in rows if status is not MessageStatus.PENDING))

    return state


# ---------------------------------------------------------------------------------- reading results


class SendCount:
    """A ``FakeBotApi.wait_for`` predicate: at least ``n`` sendMessage calls (cheap to re-check)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.seen = 0
        self.count = 0

    def __call__(self, api: FakeBotApi) -> bool:
        calls = api.calls
        for call in calls[self.seen :]:
            self.count += call.method == "sendMessage"
        self.seen = len(calls)
        return self.count >= self.n


def sends(api: FakeBotApi) -> list[Call]:
    return api.calls_to("sendMessage")


def chat_of(call: Call) -> int:
    return int(call.params["chat_id"])


@dataclass
class Row:
    id: int
    chat: int
    status: MessageStatus
    attempts: int
    provider_id: str | None
    sent_at: datetime | None
    claimed_by: str | None
    lease_until: datetime | None


@contextlib.asynccontextmanager
async def connected(url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def outbox(engine: AsyncEngine) -> list[Row]:
    async with engine.connect() as connection:
        result = await connection.execute(
            select(
                Message.id,
                Contact.address,
                Message.status,
                Message.attempts,
                Message.provider_id,
                Message.sent_at,
                Message.claimed_by,
                Message.lease_until,
            )
            .join(Contact, Contact.patient_id == Message.patient_id)  # type: ignore[arg-type]
            .where(Contact.channel == ChannelName.TELEGRAM)  # type: ignore[arg-type]
            .order_by(Message.id)  # type: ignore[arg-type]
        )
        return [
            Row(r.id, int(r.address), r.status, r.attempts, r.provider_id, r.sent_at, r.claimed_by, r.lease_until)
            for r in result
        ]


def all_sent(engine: AsyncEngine, n: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        async with engine.connect() as connection:
            sent = (
                await connection.execute(
                    select(func.count()).select_from(Message).where(Message.status == MessageStatus.SENT)  # type: ignore[arg-type]
                )
            ).scalar_one()
        return sent == n

    return check


def compare(owed: dict[int, int], delivered: Counter[int]) -> tuple[int, int]:
    """(duplicates, lost): messages beyond and short of what each chat is owed."""
    duplicates = sum(max(0, delivered[chat] - owed.get(chat, 0)) for chat in delivered)
    lost = sum(max(0, n - delivered[chat]) for chat, n in owed.items())
    return duplicates, lost


# ---------------------------------------------------------------------------------- the tests


async def test_each_message_goes_out_exactly_once_across_processes(database: str, tmp_path: Path) -> None:
    async with connected(database) as engine:
        seeded = await seed(engine)
        n = seeded.messages
        async with FakeBotApi() as api, httpx.AsyncClient(timeout=10) as client:
            ports = _free_ports(WORKERS)
            began = time.perf_counter()
            workers = [
                await start_worker(
                    f"worker{i}", url=database, api=api, port=ports[i], directory=tmp_path, polling=i == 0
                )
                for i in range(WORKERS)
            ]
            async with running(workers):
                progress = queue_progress(engine, api)
                await unless_a_worker_exits(
                    until(sent_to(api, 1), progress=progress, what="the first message"),
                    workers,
                    "the first message at the fake Telegram",
                )
                first = time.perf_counter()
                await unless_a_worker_exits(
                    until(sent_to(api, n), progress=calls_to(api), what=f"{n} messages"),
                    workers,
                    f"{n} messages at the fake Telegram",
                )
                done = time.perf_counter()
                # The fake has every message; the processes record the last few a moment later.
                await unless_a_worker_exits(
                    until(all_sent(engine, n), progress=progress, what=f"{n} rows sent"),
                    workers,
                    "the outcomes to be recorded",
                )
                shares = {w.label: await w.sent(client) for w in workers}
                await stop(workers)
        rows = await outbox(engine)

    calls = sends(api)
    delivered = Counter(chat_of(c) for c in calls)
    duplicates, lost = compare(seeded.per_chat, delivered)
    not_sent = Counter(r.status.value for r in rows if r.status is not MessageStatus.SENT)
    claimed_twice = sum(r.attempts != 1 for r in rows)
    # Each row records the message id Telegram gave its send: together they must be exactly the
    # messages the fake created, one per row.
    handed_out = {(chat_of(c), c.response["result"]["message_id"]) for c in calls if c.status == 200}  # type: ignore[index]
    recorded = {(r.chat, int(r.provider_id)) for r in rows if r.provider_id is not None}
    figures = (
        f"{WORKERS} processes, {n} messages to {len(seeded.per_chat)} chats in {done - began:.1f} s "
        f"from start-up, {done - first:.1f} s from the first send ({n / (done - first):.0f} msg/s): "
        f"sendMessage calls {len(calls)}, duplicates {duplicates}, lost {lost}, "
        f"rows not sent {dict(not_sent)}, rows claimed more than once {claimed_twice}, "
        f"sent per process {shares}"
    )
    print(f"\nexactly once: {figures}")

    assert len(calls) == n and duplicates == 0 and lost == 0, figures
    assert not not_sent and len(rows) == n, figures
    assert claimed_twice == 0, figures
    assert recorded == handed_out, f"{len(recorded ^ handed_out)} rows disagree with the fake; {figures}"
    assert all(c.status == 200 for c in calls), figures
    assert sum(shares.values()) == n and all(s > 0 for s in shares.values()), figures
    assert not api.internal_errors
    assert not [line for w in workers for line in w.problems()], "\n".join(w.tail() for w in workers)


async def test_a_killed_process_claims_are_sent_by_the_others(database: str, tmp_path: Path) -> None:
    lease = 3.0
    ports = _free_ports(WORKERS)
    async with connected(database) as engine:
        seeded = await seed(engine)
        n = seeded.messages
        # Two stand-ins for the one Telegram, so that what the victim handed over is told apart;
        # the victim's delivers each message but never answers, so the victim never records one.
        async with HeldBotApi() as victims_api, FakeBotApi() as api, httpx.AsyncClient(timeout=10) as client:
            # A lease is written by the process that claims: only the victim's needs to be short.
            # The survivors keep the default, so their own batches cannot expire under load.
            victim = await start_worker(
                "victim",
                url=database,
                api=victims_api,
                port=ports[0],
                directory=tmp_path,
                claim_lease_seconds=lease,
                dispatch_batch_size=1000,
            )
            async with running([victim]):
                # Kill it with several sends in flight (its dispatcher has up to eight at a time).
                await unless_a_worker_exits(
                    until(
                        sent_to(victims_api, IN_FLIGHT),
                        progress=queue_progress(engine, victims_api),
                        what=f"the victim's first {IN_FLIGHT} sends",
                    ),
                    [victim],
                    f"the victim's first {IN_FLIGHT} sends",
                )
                victim.process.kill()
                await victim.process.wait()
            assert victim.process.returncode == -signal.SIGKILL
            victims_api.release.set()

            claimed = [r for r in await outbox(engine) if r.status is MessageStatus.SENDING]
            handed_over = sends(victims_api)
            assert claimed and all(r.attempts == 1 for r in claimed), f"{len(claimed)} rows left claimed"
            assert len({r.claimed_by for r in claimed}) == 1
            assert 0 < len(handed_over) <= len(claimed)

            began = time.perf_counter()
            survivors = [
                await start_worker(
                    f"survivor{i}",
                    url=database,
                    api=api,
                    port=ports[i],
                    directory=tmp_path,
                    polling=i == 1,
                    sweep_seconds=1,
                )
                for i in (1, 2)
            ]
            async with running(survivors):
                # The survivors send every row, the victim's included: it recorded none.
                # Until the victim's leases expire, the survivors poll the queue: that counts as progress.
                progress = queue_progress(engine, api)
                await unless_a_worker_exits(
                    until(sent_to(api, n), progress=progress, what=f"{n} messages from the survivors"),
                    survivors,
                    f"{n} messages from the survivors",
                )
                await unless_a_worker_exits(
                    until(all_sent(engine, n), progress=progress, what=f"{n} rows sent"),
                    survivors,
                    "the outcomes to be recorded",
                )
                wall = time.perf_counter() - began
                shares = {w.label: await w.sent(client) for w in survivors}
                await stop(survivors)
        rows = {r.id: r for r in await outbox(engine)}

    survivors_sent = sends(api)
    delivered = Counter(chat_of(c) for c in [*handed_over, *survivors_sent])
    duplicates, lost = compare(seeded.per_chat, delivered)
    duplicated_chats = {chat for chat, count in delivered.items() if count > seeded.per_chat.get(chat, 0)}
    victim_chats = Counter(chat_of(c) for c in handed_over)
    not_sent = Counter(r.status.value for r in rows.values() if r.status is not MessageStatus.SENT)
    figures = (
        f"{n} messages; the victim claimed {len(claimed)} with a {lease:.0f} s lease and had handed "
        f"{len(handed_over)} to Telegram when SIGKILLed; the 2 survivors sent {len(survivors_sent)} in "
        f"{wall:.1f} s from start-up (per process {shares}); duplicates {duplicates} "
        f"(the at-least-once window), lost {lost}, rows not sent {dict(not_sent)}"
    )
    print(f"\nkilled process: {figures}")

    assert lost == 0 and not not_sent and len(rows) == n, figures
    # The victim's rows went back to the queue when its lease ran out and were claimed again.
    assert all(rows[r.id].status is MessageStatus.SENT and rows[r.id].attempts == 2 for r in claimed), figures
    assert all(rows[r.id].sent_at >= r.lease_until for r in claimed), figures  # type: ignore[operator]
    # Only what the victim had actually handed over went out twice, and only once more.
    assert duplicated_chats <= set(victim_chats), figures
    assert all(delivered[chat] - seeded.per_chat[chat] <= victim_chats[chat] for chat in duplicated_chats), figures
    assert duplicates <= len(handed_over), figures
    assert len(survivors_sent) == n and sum(shares.values()) == n, figures
    assert not api.internal_errors and not victims_api.internal_errors
    assert not [line for w in survivors for line in w.problems()], "\n".join(w.tail() for w in survivors)
