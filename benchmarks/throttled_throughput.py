"""Sustained msg/s through the real dispatcher against a Bot API that enforces Telegram's limits.

The loopback Bot API (``tests/fakes/bot_api.py`` with ``TelegramLimits``) allows 30 requests
a second per bot and one message a second per chat, in a strict sliding one-second window,
and answers 429 with ``retry_after`` beyond that. Every run sends one due message to each of
``--chats`` chats (bulk-inserted rows) and ends when none is pending.

* baseline: a plain python-telegram-bot send loop through ``AIORateLimiter(overall_max_rate=30)``
  (what the bot used before the pacer), over ``--baseline-chats`` chats, every send at once;
* SQLite, 1 process: the dispatcher and its pacer;
* PostgreSQL, 3 processes: three dispatchers sharing one budget through their heartbeats.

Figures: msg/s (messages sent ÷ wall time from start to the last send), 429 answers, and
msg/s as a ratio of the baseline and of Telegram's 30/s.

Run: ``.venv/bin/python benchmarks/throttled_throughput.py [--chats 2000] [--baseline-chats 600]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from telegram.error import RetryAfter
from telegram.ext import AIORateLimiter, ExtBot

from messenger.domain.enums import ChannelName, MessageStatus
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.bot_limits import TelegramLimits

TELEGRAM_LIMIT = 30.0


@dataclass
class Run:
    label: str
    sent: int
    seconds: float
    refused: int

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


def make_app(url: str, api_base: str, token: str):  # type: ignore[no-untyped-def]
    from messenger.app import build_app
    from messenger.config import Settings
    from tests.fakes.seed import COMPACT_DIR

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        series_dir=COMPACT_DIR,
        telegram_token=token,
        telegram_base_url=api_base,
        telegram_updates="none",
    )
    return build_app(settings)


async def prepare(url: str, chats: int) -> None:
    from messenger.db import create_engine, create_schema
    from tests.fakes.seed import insert_outbox

    engine = create_engine(url)
    await create_schema(engine)
    await insert_outbox(engine, messages=chats, per_patient=1, channel=ChannelName.TELEGRAM, due=True)
    await engine.dispose()


async def pending(url: str) -> dict[str, int]:
    from sqlalchemy import func, select

    from messenger.db import create_engine
    from messenger.domain.models import Message

    engine = create_engine(url)
    async with engine.connect() as connection:
        rows = (await connection.execute(select(Message.status, func.count()).group_by(Message.status))).all()  # type: ignore[call-overload]
    await engine.dispose()
    return {str(status): count for status, count in rows}


async def drain(app) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    """Run the dispatcher until no row is pending; (messages sent, monotonic time of the last send's run)."""
    from sqlalchemy import func, select

    from messenger.domain.models import Message

    sent, ended = 0, time.monotonic()
    while True:
        report = await app.dispatcher.run_due()
        if report.handled:
            sent, ended = sent + report.counts.get("sent", 0), time.monotonic()
        async with app.sessions() as session:
            # Rows other processes hold are theirs: only pending rows keep this one going.
            due = (
                await session.execute(select(func.min(Message.send_at)).where(Message.status == MessageStatus.PENDING))
            ).scalar()
        if due is None:
            return sent, ended
        if (wait := app.clock.real_seconds_until(due)) > 0:
            await asyncio.sleep(wait)  # a row rescheduled after a 429: the run must end with all sent


async def baseline(chats: int) -> Run:
    async with FakeBotApi(limits=TelegramLimits()) as api:
        limiter = AIORateLimiter(overall_max_rate=TELEGRAM_LIMIT, overall_time_period=1, max_retries=0)
        async with ExtBot(api.token, base_url=api.base_url, rate_limiter=limiter) as bot:
            began = time.monotonic()
            results = await asyncio.gather(
                *(bot.send_message(chat_id=800_000_000 + n, text="baseline") for n in range(chats)),
                return_exceptions=True,
            )
            seconds = time.monotonic() - began
    unexpected = [r for r in results if isinstance(r, BaseException) and not isinstance(r, RetryAfter)]
    if unexpected:
        raise SystemExit(f"baseline: unexpected errors {unexpected[:3]}")
    sent = sum(1 for r in results if not isinstance(r, BaseException))
    return Run("baseline: PTB send loop, AIORateLimiter(30/s)", sent, seconds, api.refused_for_flood)


async def one_process(url: str) -> Run:
    async with FakeBotApi(limits=TelegramLimits()) as api:
        app = make_app(url, api.base_url, api.token)
        assert app.telegram is not None
        await app.telegram.start()
        await app.heartbeat.beat()
        began = time.monotonic()
        sent, ended = await drain(app)
        await app.heartbeat.stop()
        await app.telegram.stop()
        await app.engine.dispose()
        return Run("SQLite, 1 process (pacer)", sent, ended - began, api.refused_for_flood)


async def processes(url: str, count: int) -> Run:
    async with FakeBotApi(limits=TelegramLimits()) as api:
        children = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--child",
                url,
                api.base_url,
                api.token,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                cwd=REPO,
            )
            for _ in range(count)
        ]
        for child in children:
            assert child.stdout is not None
            if (await child.stdout.readline()).strip() != b"ready":
                raise SystemExit("a child process did not start")
        began = time.monotonic()
        for child in children:
            assert child.stdin is not None
            child.stdin.write(b"go\n")
            await child.stdin.drain()
        results = []
        for child in children:
            out, _ = await child.communicate()
            if child.returncode != 0:
                raise SystemExit(f"a dispatcher process failed (exit {child.returncode})")
            results.append(json.loads(out.decode().strip().splitlines()[-1]))
        ended = max(r["ended"] for r in results)
        return Run(
            f"PostgreSQL, {count} processes (shared budget)",
            sum(r["sent"] for r in results),
            ended - began,
            api.refused_for_flood,
        )


async def child(url: str, api_base: str, token: str) -> None:
    app = make_app(url, api_base, token)
    assert app.telegram is not None
    await app.telegram.start()
    await app.heartbeat.beat()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await app.heartbeat.beat()  # every process has its row now: take a third of the budget
    beating = asyncio.create_task(beat_every(app))
    sent, ended = await drain(app)
    beating.cancel()
    await app.heartbeat.stop()
    await app.telegram.stop()
    await app.engine.dispose()
    print(json.dumps({"sent": sent, "ended": ended}), flush=True)


async def beat_every(app) -> None:  # type: ignore[no-untyped-def]
    """The alarm's heartbeat job, without the alarm (this script runs the dispatcher itself)."""
    while True:
        await asyncio.sleep(app.heartbeat.interval.total_seconds())
        try:
            await app.heartbeat.beat()
        except Exception as exc:  # a failed beat must not end the beating
            print(f"heartbeat failed: {exc!r}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=2000)
    parser.add_argument("--baseline-chats", type=int, default=600)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(*args.child))
        return

    from tests.fakes.postgres import PostgresServer

    runs: list[Run] = []
    print(f"{args.chats} chats, one due message each; Telegram's limit: {TELEGRAM_LIMIT:.0f}/s", flush=True)
    runs.append(asyncio.run(baseline(args.baseline_chats)))
    print(f"  {runs[-1]}", flush=True)
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory(prefix="messenger-bench-") as tmp:
            url = f"sqlite:///{Path(tmp) / uuid.uuid4().hex}.db"
            asyncio.run(prepare(url, args.chats))
            runs.append(asyncio.run(one_process(url)))
            print(f"  {runs[-1]}; left: {asyncio.run(pending(url))}", flush=True)
    if not args.skip_postgres:
        with PostgresServer() as server:
            url = server.create_database(f"bench_{uuid.uuid4().hex[:12]}")
            asyncio.run(prepare(url, args.chats))
            runs.append(asyncio.run(processes(url, args.processes)))
            print(f"  {runs[-1]}; left: {asyncio.run(pending(url))}", flush=True)

    base = runs[0]
    width = max(len(r.label) for r in runs)
    print()
    header = (
        f"{'configuration':<{width}} | {'sent':>5} | {'msg/s':>6} | {'× baseline':>10} | {'× 30/s':>6} | {'429s':>5}"
    )
    print(header)
    print("-" * len(header))
    for r in runs:
        print(
            f"{r.label:<{width}} | {r.sent:>5} | {r.rate:>6.2f} | {r.rate / base.rate:>9.2f}× | "
            f"{r.rate / TELEGRAM_LIMIT:>5.2f}× | {r.refused:>5}"
        )


if __name__ == "__main__":
    main()
