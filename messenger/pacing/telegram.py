"""Telegram's limits as a pacer, and the hook that puts every Bot API request through it.

python-telegram-bot hands every request of an ``ExtBot`` (except ``getUpdates``) to its rate
limiter, so the dispatcher's sends, command replies, edits and callback answers all wait in
one :class:`Pacer` per bot token. A 429 on any of them pauses the pacer for ``retry_after``,
and so every other sender of the bot.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

from messenger.clock import Clock
from messenger.pacing.pacer import Pacer

# Telegram: at most one message a second to a private chat and 20 a minute to a group. A
# little slack keeps network jitter on the way from looking like a burst at Telegram's end.
PRIVATE_CHAT_INTERVAL = 1.05
GROUP_CHAT_INTERVAL = 60 / 19

# Requests that put a new message into a chat: the per-chat limits count these. Edits and
# callback answers still take an overall slot.
_MESSAGE_METHODS = ("send", "copy", "forward")

JSONDict = dict[str, Any]


def chat_interval(key: str) -> float:
    """Seconds between two messages to the chat ``key`` (group ids are negative, or ``@name``)."""
    try:
        return GROUP_CHAT_INTERVAL if int(key) < 0 else PRIVATE_CHAT_INTERVAL
    except ValueError:
        return GROUP_CHAT_INTERVAL  # "@channelname"


def telegram_pacer(*, token_id: str, clock: Clock, rate: float) -> Pacer:
    """The pacer of one bot, named by the bot's numeric id (the public half of its token)."""
    return Pacer(account=f"telegram:{token_id}", clock=clock, rate=rate, key_interval=chat_interval)


def retry_after_seconds(error: RetryAfter) -> float:
    # PTB 22 returns an int and warns that a timedelta is coming (opt-in by PTB_TIMEDELTA); both work here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def chat_key(endpoint: str, data: JSONDict) -> str | None:
    """The per-chat key of a request, if it puts a message into a chat."""
    chat_id = data.get("chat_id")
    if chat_id is None or not endpoint.lower().startswith(_MESSAGE_METHODS):
        return None
    return str(chat_id)


class PacedRateLimiter(BaseRateLimiter[None]):
    """python-telegram-bot's rate-limiter hook, backed by the bot's :class:`Pacer`.

    A ``RetryAfter`` is not retried here: it pauses the pacer and reaches the caller (the
    channel turns it into a throttled retry; a handler's reply fails like any other error).
    """

    def __init__(self, pacer: Pacer) -> None:
        self.pacer = pacer
        # Requests released by the pacer and not answered yet.
        self.in_flight = 0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: None,  # noqa: ARG002  (PTB's signature; nothing is passed through it)
    ) -> bool | JSONDict | list[JSONDict]:
        await self.pacer.acquire(chat_key(endpoint, data))
        self.in_flight += 1
        try:
            return await callback(*args, **kwargs)
        except RetryAfter as exc:
            self.pacer.pause(retry_after_seconds(exc))
            raise
        finally:
            self.in_flight -= 1
