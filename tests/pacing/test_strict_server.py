"""Real python-telegram-bot through the pacer against a Bot API that enforces Telegram's limits.

The server's flood control and the pacer read the same manual clock; time moves only when
every released request has been answered, so a request takes no time on the wire.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from telegram.error import RetryAfter
from telegram.ext import ExtBot

from messenger.clock import ManualClock
from messenger.pacing.telegram import PacedRateLimiter, telegram_pacer
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.bot_limits import TelegramLimits
from tests.pacing.support import driven

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
STAFF_CHAT = 1001
GROUP = -100500


def seconds_of(clock: ManualClock) -> float:
    return (clock.now() - T0).total_seconds()


async def test_every_request_through_the_pacer_meets_the_strict_limits() -> None:
    clock = ManualClock(T0)
    async with FakeBotApi(limits=TelegramLimits(), monotonic=lambda: seconds_of(clock)) as api:
        limiter = PacedRateLimiter(telegram_pacer(token_id="123456", clock=clock, rate=29))
        bot = ExtBot(api.token, base_url=api.base_url, rate_limiter=limiter)
        async with driven(clock, busy=lambda: limiter.in_flight > 0):
            await bot.initialize()
            sent = await asyncio.gather(
                *(bot.send_message(chat_id=700_000_000 + n, text=f"patient {n}") for n in range(90)),
                *(bot.send_message(chat_id=STAFF_CHAT, text=f"alert {n}") for n in range(6)),
                *(bot.send_message(chat_id=GROUP, text=f"digest {n}") for n in range(3)),
            )
            edits = await asyncio.gather(
                *(bot.edit_message_text(chat_id=m.chat_id, message_id=m.message_id, text="edited") for m in sent[:30])
            )
            await bot.shutdown()

    assert api.refused_for_flood == 0
    assert len(sent) == 99 and len(edits) == 30
    assert [m.text for m in sent if m.chat_id == STAFF_CHAT] == [f"alert {n}" for n in range(6)]
    # 130 requests at 29/s need at least 4.4 s; the staff chat's six messages 5 × 1.05 s after
    # waiting their turn behind the patients released before them.
    assert seconds_of(clock) >= 130 / 29 - 0.1


async def test_without_the_pacer_the_same_server_answers_429() -> None:
    clock = ManualClock(T0)
    api = FakeBotApi(limits=TelegramLimits(), monotonic=lambda: seconds_of(clock))
    async with api, ExtBot(api.token, base_url=api.base_url) as bot:
        results = await asyncio.gather(
            *(bot.send_message(chat_id=700_000_000 + n, text="burst") for n in range(40)),
            bot.send_message(chat_id=STAFF_CHAT, text="one"),
            bot.send_message(chat_id=STAFF_CHAT, text="two"),
            return_exceptions=True,
        )

    refused = [r for r in results if isinstance(r, RetryAfter)]
    assert len(refused) >= 11 and api.refused_for_flood == len(refused)
