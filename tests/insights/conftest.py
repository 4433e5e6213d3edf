"""A small clinic with a known history: the figures every insight test checks by hand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlmodel import select

from messenger.app import App
from messenger.db import transaction
from messenger.domain.enums import InfusionStatus, MessageStatus, SeriesStatus
from messenger.domain.models import AuditEvent, Infusion, Message, Series
from messenger.insights.documents import Insights
from messenger.services.audit import staff_actor
from tests.factories import OWNER, enrol_patient, record_checkins


@dataclass
class Clinic:
    app: App
    # Patient A: baseline pain 7, then 6, 5, 9 (escalated), 4 → change −3.
    a: Series
    # Patient B: baseline pain 5, then 6 → change +1; infusion 2 missed.
    b: Series
    # Patient C: enrolled, cancelled, no answers.
    c: Series
    now: datetime


@pytest.fixture
async def clinic(app: App) -> Clinic:
    start = app.clock.now()
    a = await enrol_patient(app, name="Ana Alvarez")
    b = await enrol_patient(app, name="Ben Brown")
    c = await enrol_patient(app, name="Cy Chen")
    async with app.sessions() as session:
        times = {
            s.id: [
                i.scheduled_at for i in (await session.exec(select(Infusion).where(Infusion.series_id == s.id))).all()
            ]
            for s in (a, b)
        }
    day = timedelta(days=1)
    await record_checkins(
        app,
        a,
        [
            (0, 7, 2, False, times[a.id][0] - day),
            (1, 6, 3, False, times[a.id][0] + day),
            (2, 5, 3, False, times[a.id][1] + day),
            (3, 9, 2, True, times[a.id][2] + day),
            (4, 4, 4, False, times[a.id][3] + day),
        ],
    )
    await record_checkins(app, b, [(0, 5, 3, False, times[b.id][0] - day), (1, 6, 3, False, times[b.id][0] + day)])
    now = times[a.id][4] - timedelta(hours=2)  # before A's and B's fifth infusion: 4 infusions each are due
    async with transaction(app.sessions) as session:
        missed = (await session.exec(select(Infusion).where(Infusion.series_id == b.id, Infusion.number == 2))).one()
        missed.status = InfusionStatus.MISSED
        for infusion in (await session.exec(select(Infusion).where(Infusion.series_id == c.id))).all():
            infusion.status = InfusionStatus.CANCELLED
        unanswered = (
            await session.exec(select(Message).where(Message.series_id == b.id, Message.step_key == "checkin-3"))
        ).one()
        unanswered.status, unanswered.sent_at = MessageStatus.SENT, times[b.id][2] + day
        cancelled = await session.get(Series, c.id)
        cancelled.status, cancelled.status_changed_at = SeriesStatus.CANCELLED, start + day
        escalated_at = times[a.id][2] + day
        # A staff member acts on patient A 30 minutes after the escalation.
        session.add(
            AuditEvent(
                at=escalated_at + timedelta(minutes=30),
                actor=staff_actor(OWNER),
                action="view.progress",
                patient_id=a.patient_id,
                detail={},
            )
        )
        for action in ("infusion.confirm", "infusion.confirm", "infusion.reschedule_request"):
            session.add(
                AuditEvent(at=start + day, actor="patient:1", action=action, patient_id=a.patient_id, detail={})
            )
    app.clock.set(now)  # type: ignore[attr-defined]
    return Clinic(app, a, b, c, now)


def insights_of(app: App) -> Insights:
    return Insights(
        sessions=app.sessions,
        strings=app.strings,
        clock=app.clock,
        locale="en",
        clinic_name=app.clinic.name,
        clinic_zone=app.settings.zone,
    )
