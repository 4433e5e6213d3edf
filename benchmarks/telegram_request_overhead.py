"""What noting Telegram's reachability (for /healthz) costs per Bot API call.

The same python-telegram-bot ``Bot`` sends ``--messages`` messages to the loopback Bot API
server of the tests (``tests/fakes/bot_api.py``), once through PTB's own ``HTTPXRequest``
(the baseline) and once through ``TrackedRequest``, in ABBA order, ``--repeat`` times each.
Prints calls per second for both and the ratio to the baseline measured in the same run.

Run: ``.venv/bin/python benchmarks/telegram_request_overhead.py [--messages 2000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from telegram import Bot
from telegram.request import BaseRequest, HTTPXRequest

from messenger.bot.reachability import TelegramReachability, TrackedRequest
from messenger.clock import SystemClock
from tests.fakes.bot_api import FakeBotApi

CONCURRENCY = 8


async def calls_per_second(api: FakeBotApi, request: BaseRequest, messages: int) -> float:
    async with Bot(api.token, base_url=api.base_url, request=request) as bot:
        slots = asyncio.Semaphore(CONCURRENCY)

        async def send(n: int) -> None:
            async with slots:
                await bot.send_message(chat_id=1000 + n % 50, text=f"message {n}")

        began = time.perf_counter()
        await asyncio.gather(*(send(n) for n in range(messages)))
        return messages / (time.perf_counter() - began)


async def main(messages: int, repeat: int) -> None:
    reachability = TelegramReachability(SystemClock())
    plain: list[float] = []
    tracked: list[float] = []
    async with FakeBotApi() as api:
        for run in range(repeat):
            # The fake keeps every message it got, so later runs cost it a little more: alternate
            # which one goes first (ABBA), so neither gets the fresher server each time.
            first_plain = run % 2 == 0
            for is_plain in (first_plain, not first_plain):
                if is_plain:
                    request: BaseRequest = HTTPXRequest(connection_pool_size=CONCURRENCY)
                else:
                    request = TrackedRequest(reachability, connection_pool_size=CONCURRENCY)
                (plain if is_plain else tracked).append(await calls_per_second(api, request, messages))
    baseline, noted = statistics.median(plain), statistics.median(tracked)
    print(f"{messages} sendMessage calls, {CONCURRENCY} at a time, median of {repeat}")
    print(f"  HTTPXRequest (baseline): {baseline:8.0f} calls/s  1.00")
    print(f"  TrackedRequest:          {noted:8.0f} calls/s  {noted / baseline:.2f}")
    print(f"  last success noted: {reachability.last_ok is not None}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.messages, arguments.repeat))
