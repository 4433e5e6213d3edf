"""Invites: long, random, single-use, expiring codes that link a Telegram chat to a patient."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.clock import Clock
from messenger.domain.enums import ChannelName
from messenger.domain.models import Contact, Invite, Patient
from messenger.services import audit
from messenger.services.contacts import contact_at
from messenger.services.errors import ServiceError
from messenger.services.rows import existing

# 24 random bytes: 32 URL-safe characters, within Telegram's 64-character deep-link payload.
CODE_BYTES = 24


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


async def create_invite(*, session: AsyncSession, clock: Clock, patient_id: int, ttl: timedelta, actor: str) -> str:
    """A fresh code for the patient; earlier unused codes stop working. Returns the code (never stored)."""
    now = clock.now()
    await session.exec(
        update(Invite)
        .where(col(Invite.patient_id) == patient_id, col(Invite.used_at).is_(None), col(Invite.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    code = secrets.token_urlsafe(CODE_BYTES)
    created_by = int(actor.split(":", 1)[1]) if actor.startswith("staff:") else None
    session.add(
        Invite(
            patient_id=patient_id,
            code_hash=code_hash(code),
            expires_at=now + ttl,
            created_by=created_by,
            created_at=now,
        )
    )
    audit.record(
        session, at=now, actor=actor, action="invite", patient_id=patient_id, expires_at=(now + ttl).isoformat()
    )
    return code


async def redeem_invite(*, session: AsyncSession, clock: Clock, code: str, chat_id: int) -> Patient:
    """Link ``chat_id`` to the invite's patient as their first contact; the code is then spent."""
    now = clock.now()
    invite = (await session.exec(select(Invite).where(Invite.code_hash == code_hash(code)))).first()
    if invite is None or invite.used_at or invite.revoked_at or invite.expires_at <= now:
        raise ServiceError("invite_invalid")
    patient = await existing(session, Patient, invite.patient_id)
    invite.used_at = now
    await link_telegram(session=session, patient_id=patient.pk, chat_id=chat_id, now=now)
    audit.record(
        session,
        at=now,
        actor=audit.patient_actor(patient.pk),
        action="invite.redeem",
        patient_id=patient.pk,
    )
    return patient


async def link_telegram(*, session: AsyncSession, patient_id: int, chat_id: int, now: datetime) -> Contact:
    """Make this chat the patient's Telegram contact, tried before any other."""
    contact = (
        await session.exec(
            select(Contact).where(Contact.patient_id == patient_id, Contact.channel == ChannelName.TELEGRAM)
        )
    ).first()
    if contact is None:
        contact = Contact(
            patient_id=patient_id, channel=ChannelName.TELEGRAM, address=str(chat_id), priority=-1, updated_at=now
        )
        session.add(contact)
    contact.address, contact.reachable, contact.opted_out, contact.status_reason = str(chat_id), True, False, None
    contact.updated_at = now
    return contact


async def patient_for_chat(session: AsyncSession, chat_id: int) -> Patient | None:
    """The patient whose Telegram contact is this chat, if any (the latest linked)."""
    contact = await contact_at(session, ChannelName.TELEGRAM, str(chat_id))
    return None if contact is None else await session.get(Patient, contact.patient_id)
