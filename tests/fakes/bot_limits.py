"""Telegram's documented flood limits, enforced by the loopback Bot API server when asked to.

* 30 requests a second per bot (every request but updates and bot set-up), counted in a
  strict sliding one-second window;
* 1 message a second to a private chat, 20 a minute to a group (``send…``, ``copy…``,
  ``forward…``);
* beyond a limit: ``429 Too Many Requests`` with ``retry_after`` (whole seconds), and every
  request inside that pause is refused too — the bot-wide pause for the bot-wide limit, the
  chat's pause for a chat's limit.

Time is read from ``now`` (monotonic seconds) so a test can drive it with its own clock.
"""

from __future__ import annotations

import math
import re
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from .telegram_objects import ApiError

_COUNTED = re.compile(r"^(send|edit|copy|forward|answer|delete|stop|pin|unpin)", re.IGNORECASE)
_MESSAGES = re.compile(r"^(send|copy|forward)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class TelegramLimits:
    per_bot: int = 30
    per_bot_window: float = 1.0
    per_private_chat: int = 1
    per_private_window: float = 1.0
    per_group: int = 20
    per_group_window: float = 60.0


@dataclass
class _Window:
    limit: int
    seconds: float
    accepted: deque[float] = field(default_factory=deque)
    paused_until: float = 0.0

    def refusal(self, now: float) -> int | None:
        """The ``retry_after`` to answer a request at ``now`` with, or None if it may pass."""
        if now < self.paused_until:
            return max(1, math.ceil(self.paused_until - now))
        while self.accepted and self.accepted[0] <= now - self.seconds:
            self.accepted.popleft()
        if len(self.accepted) >= self.limit:
            retry_after = max(1, math.ceil(self.accepted[0] + self.seconds - now))
            self.paused_until = now + retry_after
            return retry_after
        return None


class FloodControl:
    """Decides, request by request, whether Telegram would answer 429; counts what it refused."""

    def __init__(self, limits: TelegramLimits, now: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.now = now
        self.bot = _Window(limits.per_bot, limits.per_bot_window)
        self.chats: dict[object, _Window] = defaultdict(self._chat_window)
        self.refused: list[tuple[str, object, int]] = []  # (method, chat id, retry_after)
        self._next_chat_is_group = False

    def check(self, method: str, params: dict) -> None:
        """Raise the 429 Telegram would answer for this request, if any."""
        if not _COUNTED.match(method):
            return
        now, chat_id = self.now(), params.get("chat_id")
        windows = [self.bot]
        if _MESSAGES.match(method) and chat_id is not None:
            self._next_chat_is_group = _is_group(chat_id)
            windows.insert(0, self.chats[chat_id])
        for window in windows:
            retry_after = window.refusal(now)
            if retry_after is not None:
                self._refuse(method, chat_id, retry_after)
        for window in windows:  # counted only once it passes every limit
            window.accepted.append(now)

    def _refuse(self, method: str, chat_id: object, retry_after: int) -> None:
        self.refused.append((method, chat_id, retry_after))
        raise ApiError(429, None, {"retry_after": retry_after})

    def _chat_window(self) -> _Window:
        if self._next_chat_is_group:
            return _Window(self.limits.per_group, self.limits.per_group_window)
        return _Window(self.limits.per_private_chat, self.limits.per_private_window)


def _is_group(chat_id: object) -> bool:
    try:
        return int(chat_id) < 0  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return True  # "@channelname"
