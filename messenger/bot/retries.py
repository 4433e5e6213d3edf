"""Telegram requests retried on transient failures, so one lost packet does not become a lie to the user.

Only failures that say nothing happened are retried: a connection that could not be made, or a
5xx from Telegram. A request that timed out may have been delivered, so it is not retried here
(a reply sent twice is better avoided than a reply lost; callers decide). ``RetryAfter`` is the
pacer's business and is passed on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TimedOut

log = logging.getLogger(__name__)

T = TypeVar("T")
ATTEMPTS = 3
# Short on purpose: a person is waiting for the answer in the chat.
BACKOFF_SECONDS = (0.2, 1.0)


def transient(error: Exception) -> bool:
    """A failure after which the request can safely be made again."""
    if isinstance(error, BadRequest | Forbidden | InvalidToken | RetryAfter | TimedOut):
        return False
    return isinstance(error, NetworkError)


async def with_retries(request: Callable[[], Awaitable[T]], *, attempts: int = ATTEMPTS) -> T:
    """Make ``request``; on a transient failure make it again, up to ``attempts`` times in all."""
    for attempt in range(1, attempts + 1):
        try:
            return await request()
        except Exception as error:
            if attempt == attempts or not transient(error):
                raise
            log.info("Telegram request failed (%s); trying again", type(error).__name__)
            await asyncio.sleep(BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS)) - 1])
    raise AssertionError("unreachable")
