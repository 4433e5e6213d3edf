"""Who may use the staff dashboard: one-time sign-in links from the bot, and browser sessions.

Both are random tokens of which only a SHA-256 hash is stored, so every process behind a load
balancer agrees on them and a database leak opens nothing. A session is good only while its
staff member is still active staff: removing someone ends their sessions on their next request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.clock import Clock
from messenger.domain.models import DashboardLogin, DashboardSession, Staff
from messenger.services import audit
from messenger.services.invites import code_hash
from messenger.services.staff import active_staff

TOKEN_BYTES = 32


class Refusal(StrEnum):
    """Why a link or a cookie opened nothing (audited; the page says only that it did not work)."""

    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"
    NOT_STAFF = "not_staff"


@dataclass(frozen=True, slots=True)
class SignedIn:
    staff: Staff
    # The session's token (only in the answer to the link, for the cookie) and its CSRF token.
    token: str
    csrf: str


@dataclass(frozen=True, slots=True)
class Refused:
    reason: Refusal


def csrf_token(session_token: str) -> str:
    """A form token tied to the session: an attacker's page can neither read the cookie nor derive it."""
    return hmac.new(session_token.encode(), b"dashboard-csrf", hashlib.sha256).hexdigest()


async def issue_login(*, session: AsyncSession, clock: Clock, staff_user_id: int, ttl: timedelta) -> str:
    """A fresh one-time sign-in token for a staff member (returned, never stored)."""
    now = clock.now()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(
        DashboardLogin(token_hash=code_hash(token), staff_user_id=staff_user_id, created_at=now, expires_at=now + ttl)
    )
    audit.record(session, at=now, actor=audit.staff_actor(staff_user_id), action="dashboard.link")
    return token


async def open_login(*, session: AsyncSession, clock: Clock, token: str, lifetime: timedelta) -> SignedIn | Refused:
    """Spend a sign-in token (the first opening wins) and start a session for its staff member."""
    now = clock.now()
    login = (await session.exec(select(DashboardLogin).where(DashboardLogin.token_hash == code_hash(token)))).first()
    if login is None:
        return _refused(session, now=now, actor="dashboard", reason=Refusal.UNKNOWN)
    actor = audit.staff_actor(login.staff_user_id)
    if login.used_at is not None:
        return _refused(session, now=now, actor=actor, reason=Refusal.USED)
    if login.expires_at <= now:
        return _refused(session, now=now, actor=actor, reason=Refusal.EXPIRED)
    # Spent in one statement: two browsers opening the same link at once get one session between them.
    spent = await session.exec(
        update(DashboardLogin)
        .where(col(DashboardLogin.id) == login.pk, col(DashboardLogin.used_at).is_(None))
        .values(used_at=now)
    )
    if not spent.rowcount:
        return _refused(session, now=now, actor=actor, reason=Refusal.USED)
    staff = await active_staff(session, login.staff_user_id)
    if staff is None:
        return _refused(session, now=now, actor=actor, reason=Refusal.NOT_STAFF)
    session_token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(
        DashboardSession(
            token_hash=code_hash(session_token),
            staff_user_id=staff.telegram_user_id,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    audit.record(session, at=now, actor=actor, action="dashboard.sign_in")
    return SignedIn(staff, session_token, csrf_token(session_token))


async def signed_in(*, session: AsyncSession, clock: Clock, token: str) -> SignedIn | Refused:
    """The staff member behind a session cookie, while the session lasts and they are still staff."""
    now = clock.now()
    row = (await session.exec(select(DashboardSession).where(DashboardSession.token_hash == code_hash(token)))).first()
    if row is None or row.ended_at is not None:
        return Refused(Refusal.UNKNOWN)
    if row.expires_at <= now:
        return Refused(Refusal.EXPIRED)
    staff = await active_staff(session, row.staff_user_id)
    if staff is None:
        row.ended_at = now
        audit.record(
            session, at=now, actor=audit.staff_actor(row.staff_user_id), action="dashboard.refused", reason="not_staff"
        )
        return Refused(Refusal.NOT_STAFF)
    return SignedIn(staff, token, csrf_token(token))


async def sign_out(*, session: AsyncSession, clock: Clock, token: str) -> None:
    now = clock.now()
    row = (await session.exec(select(DashboardSession).where(DashboardSession.token_hash == code_hash(token)))).first()
    if row is not None and row.ended_at is None:
        row.ended_at = now
        audit.record(session, at=now, actor=audit.staff_actor(row.staff_user_id), action="dashboard.sign_out")


def _refused(session: AsyncSession, *, now: datetime, actor: str, reason: Refusal) -> Refused:
    audit.record(session, at=now, actor=actor, action="dashboard.refused", reason=reason.value)
    return Refused(reason)
