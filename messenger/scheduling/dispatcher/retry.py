"""When a row that could not be sent is tried again, or given up."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from messenger.channels.base import RetryLater
from messenger.channels.failures import FailureCode, failure_text
from messenger.domain.enums import MessageStatus


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter: base·2^(attempt-1), capped, ±jitter."""

    base: float = 30.0
    cap: float = 3600.0
    jitter: float = 0.2
    max_attempts: int = 8

    def delay(self, attempt: int, rng: random.Random) -> float:
        raw = min(self.cap, self.base * 2 ** max(0, attempt - 1))
        return float(raw * (1 + rng.uniform(-self.jitter, self.jitter)))


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to write on a row: its new status, why, and (back in the queue) when it may go again."""

    status: MessageStatus
    reason: str | None = None
    send_at: datetime | None = None
    # The claim counted an attempt; a deferral that sent nothing gives it back.
    refund_attempt: bool = False


def after_retry(
    *,
    policy: RetryPolicy,
    outcome: RetryLater,
    attempts: int,
    now: datetime,
    rng: random.Random,
    defer: Callable[[datetime], datetime],
    not_after: datetime | None,
    give_up: bool = True,
) -> Verdict:
    """The row's fate after ``outcome``; ``defer`` applies quiet hours where the row's policy wants them.

    Being told to slow down is not a failed attempt: the row waits for the end of the pause,
    without backoff and without using up an attempt. ``give_up=False`` (staff alerts) retries
    at the capped delay for ever rather than dropping the row.
    """
    if outcome.throttled:
        at, refund = now + timedelta(seconds=outcome.after), True
    elif give_up and attempts >= policy.max_attempts:
        return Verdict(MessageStatus.FAILED, f"gave up after {attempts} attempts: {outcome.reason}")
    else:
        at, refund = now + timedelta(seconds=max(outcome.after, policy.delay(attempts, rng))), False
    at = defer(at)
    if not_after is not None and at > not_after:
        return Verdict(MessageStatus.SKIPPED, failure_text(FailureCode.SKIP_TOO_LATE, (("after", outcome.reason),)))
    return Verdict(MessageStatus.PENDING, outcome.reason, send_at=at, refund_attempt=refund)
