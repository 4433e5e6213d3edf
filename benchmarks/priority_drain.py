"""10,000 messages due at one instant, 30 % reminders, against a Bot API that enforces Telegram's 30/s.

Every row becomes due at the same instant (one per chat); reminders are the appointment
class, the rest education. The dispatcher drains them through the wired Telegram channel to
the loopback Bot API (``tests/fakes/bot_api.py``) with Telegram's limits on (30 requests a
second per bot in a strict one-second window, one a second per chat: beyond them, 429), the
bot's pacer at the product's default rate (``MESSENGER_TELEGRAM_MAX_RATE``, 29/s) unless
``--rate`` says otherwise. Printed: drain time against the physical minimum (rows at the
server's 30 a second), the 429 answers, whether every reminder went before any education, and
the reminders' lateness (sent - due) at p50/p99.

Targets: drain at most 1.1 times the minimum; every reminder first; p99 reminder lateness ≤ 110 s;
no 429.

Run: ``.venv/bin/python benchmarks/priority_drain.py [--messages 10000] [--rate 29] [--database sqlite|postgresql]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# Telegram's limit per bot, messages a second: the physical minimum drain time is rows / this.
SERVER_LIMIT = 30


async def run(url: str, messages: int, rate: float) -> None:
    from sqlalchemy import update
    from sqlmodel import col, select

    from messenger.app import build_app
    from messenger.config import Settings
    from messenger.db import create_schema
    from messenger.domain.enums import ChannelName, Priority, StepKind
    from messenger.domain.models import Message
    from tests.fakes.bot_api import FakeBotApi
    from tests.fakes.bot_limits import TelegramLimits
    from tests.fakes.seed import COMPACT_DIR, insert_outbox

    async with FakeBotApi(limits=TelegramLimits()) as api:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            database_url=url,
            series_dir=COMPACT_DIR,
            telegram_token=api.token,
            telegram_base_url=api.base_url,
            telegram_max_rate=rate,
        )
        app = build_app(settings)
        await create_schema(app.engine)
        await insert_outbox(app.engine, messages=messages, channel=ChannelName.TELEGRAM, per_patient=1)
        instant = datetime.now(UTC)
        async with app.engine.begin() as connection:
            common = {"due_at": instant, "send_at": instant, "template": "education/imaging"}
            await connection.execute(
                update(Message).values(kind=StepKind.EDUCATION, priority=Priority.EDUCATION, **common)
            )
            # 30 % reminders, spread through the ids so they are not simply first in line.
            await connection.execute(
                update(Message)
                .where(col(Message.id) % 10 < 3)
                .values(kind=StepKind.REMINDER, priority=Priority.APPOINTMENT, **common)
            )
        channel = app.channels[ChannelName.TELEGRAM]
        await channel.bot.initialize()  # type: ignore[attr-defined]
        began = time.perf_counter()
        report = await app.dispatcher.run_due()
        seconds = time.perf_counter() - began
        async with app.sessions() as session:
            rows = (await session.exec(select(Message.kind, Message.sent_at, Message.due_at))).all()
        await channel.bot.shutdown()  # type: ignore[attr-defined]
        await app.engine.dispose()
        too_many = sum(1 for c in api.calls if c.status == 429)

    reminders = sorted((s - d).total_seconds() for k, s, d in rows if k is StepKind.REMINDER and s)
    education = [s for k, s, _ in rows if k is StepKind.EDUCATION and s]
    last_reminder = max(s for k, s, _ in rows if k is StepKind.REMINDER and s)
    minimum = messages / SERVER_LIMIT
    print(f"{messages} rows ({len(reminders)} reminders) due at one instant; pacer at {rate:g}/s; {url.split(':')[0]}")
    print(f"  sent: {report.counts.get('sent', 0)}; 429 answers: {too_many}")
    print(f"  drain: {seconds:.1f} s = {seconds / minimum:.2f} × the minimum {minimum:.0f} s (target ≤ 1.10 ×)")
    print(f"  every reminder before any education: {last_reminder <= min(education)}")
    p50, p99 = reminders[len(reminders) // 2], reminders[min(len(reminders) - 1, int(len(reminders) * 0.99))]
    print(f"  reminder lateness: p50 {p50:.1f} s, p99 {p99:.1f} s (target p99 ≤ {110 * messages / 10_000:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    from messenger.config import Settings

    parser.add_argument("--rate", type=float, default=Settings.model_fields["telegram_max_rate"].default)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="messenger-bench-") as tmp:
        if args.database == "sqlite":
            asyncio.run(run(f"sqlite:///{tmp}/drain.db", args.messages, args.rate))
            return
        from tests.fakes.postgres import PostgresServer

        with PostgresServer() as server:
            asyncio.run(run(server.create_database(f"bench_{uuid.uuid4().hex[:12]}"), args.messages, args.rate))


if __name__ == "__main__":
    main()
