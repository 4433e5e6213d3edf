"""Invite-guess throttling in the database: per Telegram user and for the whole bot, across processes.

A guesser with many accounts is stopped by the overall limit; a restart forgets nothing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.clock import Clock
from messenger.domain.bookkeeping import InviteGuess


class GuessVerdict(enum.Enum):
    ALLOWED = "allowed"
    USER_LIMIT = "user_limit"
    OVERALL_LIMIT = "overall_limit"

    @property
    def allowed(self) -> bool:
        return self is GuessVerdict.ALLOWED


@dataclass(frozen=True, slots=True)
class GuessLimits:
    per_user: int = 5
    overall: int = 50
    window: timedelta = timedelta(minutes=15)


async def guess_verdict(*, session: AsyncSession, clock: Clock, user_id: int, limits: GuessLimits) -> GuessVerdict:
    """Whether ``user_id`` may try an invite code now."""
    since = clock.now() - limits.window
    recent = select(func.count()).select_from(InviteGuess).where(col(InviteGuess.at) > since)
    if (await session.exec(recent.where(col(InviteGuess.telegram_user_id) == user_id))).one() >= limits.per_user:
        return GuessVerdict.USER_LIMIT
    if (await session.exec(recent)).one() >= limits.overall:
        return GuessVerdict.OVERALL_LIMIT
    return GuessVerdict.ALLOWED


async def record_failed_guess(*, session: AsyncSession, clock: Clock, user_id: int, limits: GuessLimits) -> None:
    """Count a refused code; guesses older than the window are dropped on the way."""
    now = clock.now()
    await session.exec(delete(InviteGuess).where(col(InviteGuess.at) <= now - limits.window))
    session.add(InviteGuess(telegram_user_id=user_id, at=now))
