"""Whether Telegram answers: every Bot API call this process makes is noted, for /healthz and /metrics.

Polling calls Telegram every few seconds; a send-only process calls it only when it has
something to send. So "unreachable" is not "no call lately" but "the calls made lately
failed, and none has succeeded for ``grace``".
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from telegram.error import NetworkError
from telegram.request import HTTPXRequest

from messenger.clock import Clock

__all__ = ["TelegramReachability", "TelegramState", "TrackedRequest"]


class TelegramState(StrEnum):
    OK = "ok"
    UNREACHABLE = "unreachable"
    OFF = "off"


class TelegramReachability:
    """When Telegram last answered, and when a call last failed to get an answer."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.since = clock.now()
        self.last_ok: datetime | None = None
        self.last_failure: datetime | None = None

    def answered(self) -> None:
        self.last_ok = self.clock.now()

    def failed(self) -> None:
        self.last_failure = self.clock.now()

    def state(self, *, grace: timedelta) -> TelegramState:
        if self.last_failure is None or (self.last_ok is not None and self.last_ok >= self.last_failure):
            return TelegramState.OK
        good_until = (self.last_ok or self.since) + grace
        return TelegramState.OK if self.clock.now() < good_until else TelegramState.UNREACHABLE


class TrackedRequest(HTTPXRequest):
    """PTB's HTTP transport, noting each call's fate in a :class:`TelegramReachability`."""

    def __init__(self, reachability: TelegramReachability, **options: Any) -> None:
        super().__init__(**options)
        self.reachability = reachability

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        try:
            code, body = await super().do_request(*args, **kwargs)
        except NetworkError:  # no answer at all (TimedOut is one too)
            self.reachability.failed()
            raise
        # Any answer below 500 (a refused token, a flood wait) means Telegram is there.
        if code < 500:
            self.reachability.answered()
        else:
            self.reachability.failed()
        return code, body
