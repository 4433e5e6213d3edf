"""``kill -9`` of the only process mid-dispatch, immediate restart: how soon are its claims delivered?

A child process (the wired app: alarm, heartbeat, dispatcher, Telegram channel) sends to a
loopback Bot API that holds its answers, so the process dies with a batch claimed and in
flight. The benchmark SIGKILLs it, starts a fresh process at once and measures the time from
the kill until every message the dead process had claimed is ``sent``.

Baseline: the claim lease (``MESSENGER_CLAIM_LEASE_SECONDS``, 300 s), after which the rows
would return without heartbeats; the ratio is recovery time ÷ lease.

Run: ``.venv/bin/python benchmarks/crash_recovery.py [--chats 300]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import func, select

from messenger.domain.enums import ChannelName, MessageStatus
from messenger.domain.models import Message
from tests.fakes.bot_api import FakeBotApi


class HoldingBotApi(FakeBotApi):
    """Answers ``sendMessage`` only once :attr:`release` is set (the message is not delivered before)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.held = 0

    async def _api_sendmessage(self, params: dict[str, Any]) -> dict[str, Any]:  # type: ignore[override]
        if not self.release.is_set():
            self.held += 1
            await self.release.wait()
        return super()._api_sendmessage(params)


def settings_env(url: str, api: FakeBotApi) -> dict[str, str]:
    from tests.fakes.seed import COMPACT_DIR

    return {
        **os.environ,
        "MESSENGER_DATABASE_URL": url,
        "MESSENGER_SERIES_DIR": str(COMPACT_DIR),
        "MESSENGER_TELEGRAM_TOKEN": api.token,
        "MESSENGER_TELEGRAM_BASE_URL": api.base_url,
        "MESSENGER_TELEGRAM_UPDATES": "none",
        "MESSENGER_LOG_LEVEL": "WARNING",
    }


async def child() -> None:
    """The app as ``messenger run`` wires it, until killed."""
    from messenger.app import build_app
    from messenger.config import load_settings

    app = build_app(load_settings())
    await app.start(migrate=False)
    print("started", flush=True)
    await asyncio.Event().wait()


async def claimed_by_dead(url: str) -> dict[int, int]:
    """Message id → chat id of every claimed row (the seed gives patient ``p`` chat 700000000 + p)."""
    from messenger.db import create_engine

    engine = create_engine(url)
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                select(Message.id, Message.patient_id).where(Message.status == MessageStatus.SENDING)  # type: ignore[call-overload]
            )
        ).all()
    await engine.dispose()
    return {message_id: 700_000_000 + patient_id for message_id, patient_id in rows}


async def unsent(url: str, ids: list[int]) -> int:
    from messenger.db import create_engine

    engine = create_engine(url)
    async with engine.connect() as connection:
        count = (
            await connection.execute(
                select(func.count()).where(col_in(ids), Message.status != MessageStatus.SENT)  # type: ignore[arg-type]
            )
        ).scalar_one()
    await engine.dispose()
    return int(count)


def col_in(ids: list[int]) -> Any:
    return Message.id.in_(ids)  # type: ignore[union-attr]


async def spawn(env: dict[str, str]) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--child", env=env, stdout=asyncio.subprocess.PIPE, cwd=REPO
    )
    assert process.stdout is not None
    if (await process.stdout.readline()).strip() != b"started":
        raise SystemExit("the app process did not start")
    return process


async def run(chats: int, lease: float) -> None:
    from messenger.db import create_engine, create_schema
    from tests.fakes.seed import insert_outbox

    with tempfile.TemporaryDirectory(prefix="messenger-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / uuid.uuid4().hex}.db"
        engine = create_engine(url)
        await create_schema(engine)
        await insert_outbox(engine, messages=chats, per_patient=1, channel=ChannelName.TELEGRAM, due=True)
        await engine.dispose()
        async with HoldingBotApi() as api:
            env = settings_env(url, api)
            chats_total = chats
            first = await spawn(env)
            await api.wait_for(lambda a: a.held >= 4, timeout=120)  # a batch claimed and on the wire
            claimed = await claimed_by_dead(url)
            first.send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            await first.wait()
            api.release.set()  # the new process's sends are answered at once
            second = await spawn(env)
            chats = set(claimed.values())
            await api.wait_for(lambda a: all(a.sent_messages(chat) for chat in chats), timeout=lease)
            recovered = time.monotonic() - killed_at
            await api.wait_for(lambda a: len(a.sent_messages()) >= chats_total, timeout=120)
            left = await unsent(url, list(claimed))
            second.terminate()
            await second.wait()
    print(f"claimed by the killed process: {len(claimed)} messages ({api.held} held on the wire when it died)")
    print(f"delivered {recovered:.1f} s after the kill (left unsent: {left})")
    print(f"baseline, the claim lease: {lease:.0f} s -> recovery at {recovered / lease:.2f}× the lease")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=300)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child())
        return
    from messenger.config import Settings

    asyncio.run(run(args.chats, Settings(_env_file=None).claim_lease_seconds))  # type: ignore[call-arg]


if __name__ == "__main__":
    main()
