"""Staff: who may administer the bot. Owners come from settings; owners add the rest."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.clock import Clock
from messenger.domain.enums import StaffRole
from messenger.domain.models import Staff
from messenger.services import audit
from messenger.services.errors import ServiceError


async def active_staff(session: AsyncSession, telegram_user_id: int) -> Staff | None:
    row = (await session.exec(select(Staff).where(Staff.telegram_user_id == telegram_user_id))).first()
    return row if row is not None and row.active else None


async def list_staff(session: AsyncSession) -> list[Staff]:
    rows = await session.exec(select(Staff).where(col(Staff.active).is_(True)).order_by(col(Staff.id)))
    return list(rows.all())


async def ensure_owners(*, session: AsyncSession, clock: Clock, owner_ids: Iterable[int]) -> int:
    """Make the configured owners active owners; returns how many rows changed."""
    changed = 0
    for user_id in owner_ids:
        row = (await session.exec(select(Staff).where(Staff.telegram_user_id == user_id))).first()
        if row is None:
            session.add(Staff(telegram_user_id=user_id, role=StaffRole.OWNER, created_at=clock.now()))
        elif row.role is StaffRole.OWNER and row.active:
            continue
        else:
            row.role, row.active = StaffRole.OWNER, True
        audit.record(session, at=clock.now(), actor=audit.SYSTEM, action="staff.owner_from_settings", staff=user_id)
        changed += 1
    return changed


async def add_staff(
    *, session: AsyncSession, clock: Clock, by: Staff, telegram_user_id: int, role: StaffRole, name: str | None = None
) -> Staff:
    _require_owner(by)
    return await grant_staff(
        session=session,
        clock=clock,
        actor=audit.staff_actor(by.telegram_user_id),
        telegram_user_id=telegram_user_id,
        role=role,
        name=name,
    )


async def grant_staff(
    *, session: AsyncSession, clock: Clock, actor: str, telegram_user_id: int, role: StaffRole, name: str | None = None
) -> Staff:
    """Make ``telegram_user_id`` active staff with ``role`` (the caller has checked ``actor`` may)."""
    row = (await session.exec(select(Staff).where(Staff.telegram_user_id == telegram_user_id))).first()
    if row is None:
        row = Staff(telegram_user_id=telegram_user_id, role=role, name=name, created_at=clock.now())
        session.add(row)
    else:
        row.role, row.active = role, True
        row.name = name or row.name
    audit.record(session, at=clock.now(), actor=actor, action="staff.add", staff=telegram_user_id, role=role.value)
    return row


async def remove_staff(*, session: AsyncSession, clock: Clock, by: Staff, telegram_user_id: int) -> Staff:
    _require_owner(by)
    if telegram_user_id == by.telegram_user_id:
        raise ServiceError("staff_cannot_remove_self")
    return await revoke_staff(
        session=session, clock=clock, actor=audit.staff_actor(by.telegram_user_id), telegram_user_id=telegram_user_id
    )


async def revoke_staff(*, session: AsyncSession, clock: Clock, actor: str, telegram_user_id: int) -> Staff:
    """Take admin commands away from ``telegram_user_id`` (the caller has checked ``actor`` may)."""
    row = await active_staff(session, telegram_user_id)
    if row is None:
        raise ServiceError("staff_unknown", user_id=telegram_user_id)
    row.active = False
    audit.record(session, at=clock.now(), actor=actor, action="staff.remove", staff=telegram_user_id)
    return row


def _require_owner(staff: Staff) -> None:
    if staff.role is not StaffRole.OWNER:
        raise ServiceError("owner_only")
