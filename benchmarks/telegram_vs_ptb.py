"""The dispatcher against a plain python-telegram-bot send loop, unthrottled, on the same loopback Bot API.

Both send ``--chats`` messages, one per chat, to ``tests/fakes/bot_api.py`` on loopback in
this process:

* baseline: ``await bot.send_message(...)`` in a loop, one after the other (a plain PTB
  ``Bot``, no rate limiter, nothing stored);
* the same loop with as many sends in flight as the dispatcher allows (8);
* the dispatcher, on SQLite and on PostgreSQL: rows bulk-inserted as due, claimed,
  rendered, sent through the wired Telegram channel (its rate limiter set far above what
  the loop reaches), recorded. The run ends when every row is ``sent``.

Ratios are messages per second against the plain loop with as many sends in flight, measured
in the same run. The fake server runs in the same event loop, so more sends in flight do not
make it faster here as they do against Telegram over the network.
PostgreSQL is a throwaway server (``tests/fakes/postgres.py``: needs ``initdb``/``pg_ctl``).

Run: ``.venv/bin/python benchmarks/telegram_vs_ptb.py [--chats 1000] [--repeat 1] [--no-postgres]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CONCURRENCY = 8
TEXT = "<b>Why imaging cannot show chronic pain</b>\nA short note from your care team."


async def plain_loop(api, chats: int, in_flight: int) -> float:  # type: ignore[no-untyped-def]
    from telegram import Bot

    bot = Bot(api.token, base_url=api.base_url)
    await bot.initialize()
    slots = asyncio.Semaphore(in_flight)

    async def one(n: int) -> None:
        async with slots:
            await bot.send_message(chat_id=800_000_000 + n, text=TEXT, parse_mode="HTML")

    began = time.perf_counter()
    if in_flight == 1:
        for n in range(chats):
            await bot.send_message(chat_id=800_000_000 + n, text=TEXT, parse_mode="HTML")
    else:
        await asyncio.gather(*(one(n) for n in range(chats)))
    seconds = time.perf_counter() - began
    await bot.shutdown()
    return chats / seconds


async def dispatcher(api, url: str, chats: int, concurrency: int) -> float:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from messenger.app import build_app
    from messenger.config import Settings
    from messenger.db import create_schema
    from messenger.domain.enums import ChannelName
    from messenger.domain.models import Message
    from tests.fakes.seed import COMPACT_DIR, insert_outbox

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=url,
        series_dir=COMPACT_DIR,
        telegram_token=api.token,
        telegram_base_url=api.base_url,
        telegram_max_rate=1_000_000,
    )
    app = build_app(settings)
    app.dispatcher.concurrency = concurrency
    await create_schema(app.engine)
    await insert_outbox(app.engine, messages=chats, channel=ChannelName.TELEGRAM, per_patient=1)
    channel = app.channels[ChannelName.TELEGRAM]
    await channel.bot.initialize()  # type: ignore[attr-defined]
    async with app.engine.connect():  # connect before the clock starts
        pass
    began = time.perf_counter()
    report = await app.dispatcher.run_due()
    seconds = time.perf_counter() - began
    async with app.sessions() as session:
        statement = select(Message.status, func.count()).group_by(Message.status)
        counts = dict((await session.exec(statement)).all())  # type: ignore[call-overload]
    await channel.bot.shutdown()  # type: ignore[attr-defined]
    await app.engine.dispose()
    if counts != {"sent": chats} or report.counts.get("sent") != chats:
        raise SystemExit(f"the dispatcher did not end with {chats} rows sent: {counts}")
    return chats / seconds


async def measure(label: str, go: Callable[[], Awaitable[float]], repeat: int, rows: list) -> float:  # type: ignore[type-arg]
    rates = [await go() for _ in range(repeat)]
    rate = statistics.median(rates)
    rows.append((label, rate))
    print(f"  {label}: {rate:,.0f} msg/s (runs: {', '.join(f'{r:,.0f}' for r in rates)})", flush=True)
    return rate


async def main_async(args: argparse.Namespace) -> None:
    from tests.fakes.bot_api import FakeBotApi

    rows: list[tuple[str, float]] = []
    ratios: list[tuple[str, float]] = []
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}; "
        f"{args.chats} chats, one message each, median of {args.repeat}"
    )
    with tempfile.TemporaryDirectory(prefix="messenger-bench-") as tmp:

        async def fresh(kind: str, concurrency: int, server=None) -> float:  # type: ignore[no-untyped-def]
            async with FakeBotApi() as api:
                if kind == "sqlite":
                    url = f"sqlite:///{tmp}/{uuid.uuid4().hex[:8]}.db"
                else:
                    url = server.create_database(f"bench_{uuid.uuid4().hex[:12]}")
                return await dispatcher(api, url, args.chats, concurrency)

        async def loop(in_flight: int) -> float:
            async with FakeBotApi() as api:
                return await plain_loop(api, args.chats, in_flight)

        # Each dispatcher run is compared with the loop that has as many sends in flight.
        baseline = {1: await measure("plain PTB loop, one at a time", lambda: loop(1), args.repeat, rows)}
        baseline[CONCURRENCY] = await measure(
            f"plain PTB loop, {CONCURRENCY} in flight", lambda: loop(CONCURRENCY), args.repeat, rows
        )
        for concurrency in (1, CONCURRENCY):
            rate = await measure(
                f"dispatcher, SQLite, {concurrency} in flight",
                lambda c=concurrency: fresh("sqlite", c),
                args.repeat,
                rows,
            )
            ratios.append((f"SQLite, {concurrency} in flight", rate / baseline[concurrency]))
        if not args.no_postgres:
            from tests.fakes.postgres import PostgresServer

            with PostgresServer() as server:
                for concurrency in (1, CONCURRENCY):
                    rate = await measure(
                        f"dispatcher, PostgreSQL, {concurrency} in flight",
                        lambda c=concurrency: fresh("postgresql", c, server),
                        args.repeat,
                        rows,
                    )
                    ratios.append((f"PostgreSQL, {concurrency} in flight", rate / baseline[concurrency]))
    print()
    print(f"{'dispatcher against the plain loop with as many in flight':58} | ratio")
    print("-" * 66)
    for label, ratio in ratios:
        print(f"{label:58} | {ratio:4.2f}×")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nratio: msg/s against the plain PTB loop in this run (target ≥ 0.8×). Load average at the end: {load}.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-postgres", action="store_true")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
