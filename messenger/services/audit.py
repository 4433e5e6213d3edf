"""The audit trail: every staff action, and what patients and the system change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.domain.models import AuditEvent

SYSTEM = "system"


def staff_actor(telegram_user_id: int) -> str:
    return f"staff:{telegram_user_id}"


def cli_actor(os_user: str) -> str:
    """An operator at the command line, by the operating-system account that ran it."""
    return f"cli:{os_user}"


def patient_actor(patient_id: int) -> str:
    return f"patient:{patient_id}"


def record(
    session: AsyncSession, *, at: datetime, actor: str, action: str, patient_id: int | None = None, **detail: Any
) -> AuditEvent:
    event = AuditEvent(**row(at=at, actor=actor, action=action, patient_id=patient_id, **detail))
    session.add(event)
    return event


def row(*, at: datetime, actor: str, action: str, patient_id: int | None = None, **detail: Any) -> dict[str, Any]:
    """An audit event as values for a bulk insert (many patients enrolled at once)."""
    return {"at": at, "actor": actor, "action": action, "patient_id": patient_id, "detail": detail}
