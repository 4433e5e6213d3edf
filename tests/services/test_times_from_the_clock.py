"""Every time the services store or count comes from the injected clock, never the wall clock.

The clock here reads a day years away from any real today: a time taken from the wall clock
would fall outside the clock's span and show.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from messenger.app import App
from messenger.clock import ManualClock
from messenger.db import transaction
from messenger.domain.enums import MessageStatus, StaffRole, StepKind
from messenger.domain.models import Answer, AuditEvent, Contact, Invite, Message, Patient, Series, Staff
from messenger.services.answers import answer_checkin
from messenger.services.changes import pause
from messenger.services.invites import create_invite, redeem_invite
from messenger.services.reports import stats
from messenger.services.staff import add_staff, ensure_owners
from tests.factories import LA, OWNER, enrol_patient, messages_of, run_until

FAR = datetime(2041, 6, 14, 17, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(FAR)


async def stored_times(app: App) -> dict[str, list[datetime]]:
    async with app.sessions() as session:

        async def column(model: type, name: str) -> list[datetime]:
            return [getattr(row, name) for row in (await session.exec(select(model))).all()]

        return {
            "patient.created_at": await column(Patient, "created_at"),
            "contact.updated_at": await column(Contact, "updated_at"),
            "staff.created_at": await column(Staff, "created_at"),
            "invite.created_at": await column(Invite, "created_at"),
            "series.status_changed_at": await column(Series, "status_changed_at"),
            "message.updated_at": await column(Message, "updated_at"),
            "answer.answered_at": await column(Answer, "answered_at"),
            "audit.at": await column(AuditEvent, "at"),
        }


async def test_every_stored_time_is_the_clocks(app: App, clock: ManualClock) -> None:
    async with transaction(app.sessions) as session:
        await ensure_owners(session=session, clock=clock, owner_ids=[OWNER])
    async with transaction(app.sessions) as session:
        owner = (await session.exec(select(Staff).where(Staff.telegram_user_id == OWNER))).one()
        await add_staff(session=session, clock=clock, by=owner, telegram_user_id=2002, role=StaffRole.STAFF)
    series = await enrol_patient(app)
    async with transaction(app.sessions) as session:
        code = await create_invite(
            session=session, clock=clock, patient_id=series.patient_id, ttl=timedelta(days=1), actor="system"
        )
    clock.advance(timedelta(minutes=5))
    async with transaction(app.sessions) as session:
        await redeem_invite(session=session, clock=clock, code=code, chat_id=4242)
    # Through the first infusion and its check-in, then one answer.
    await run_until(app, FAR + timedelta(days=3, hours=12))
    checkin = next(m for m in (await messages_of(app, series.pk)).values() if m.kind is StepKind.CHECKIN)
    assert checkin.status is MessageStatus.SENT
    async with transaction(app.sessions) as session:
        await answer_checkin(
            session=session,
            clock=clock,
            catalog=app.catalog,
            message_id=checkin.pk,
            patient_id=series.patient_id,
            question="pain",
            value="3",
        )
        row = await session.get(Series, series.pk)
        assert row is not None
        await pause(session=session, clock=clock, series=row, actor="system")

    times = await stored_times(app)

    assert all(times.values()), {name: len(found) for name, found in times.items()}
    outside = {name: [t for t in found if not FAR <= t <= clock.now()] for name, found in times.items()}
    assert not any(outside.values()), outside


async def test_a_row_without_its_time_is_refused(app: App) -> None:
    async with app.sessions() as session:
        session.add(Patient(name="Jane Doe", timezone="UTC"))  # type: ignore[call-arg]
        with pytest.raises(IntegrityError):
            await session.flush()


async def test_stats_count_the_clocks_today(app: App, clock: ManualClock) -> None:
    series = await enrol_patient(app)
    await run_until(app, FAR + timedelta(minutes=1))
    sent_today = sum(m.status is MessageStatus.SENT for m in (await messages_of(app, series.pk)).values())

    async with app.sessions() as session:
        today = await stats(session, now=clock.now(), zone=LA)
        next_week = await stats(session, now=clock.now() + timedelta(days=7), zone=LA)

    assert sent_today >= 1  # the welcome
    assert today.messages_today["sent"] == sent_today
    assert next_week.messages_today["sent"] == 0
