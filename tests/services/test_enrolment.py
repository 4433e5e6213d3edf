"""Enrolment turns a series definition into outbox rows, once."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from sqlmodel import func, select

from messenger.db import transaction
from messenger.domain.enums import MessageStatus, StepKind
from messenger.domain.models import AuditEvent, Infusion, Message, Series
from messenger.services.enrolment import EnrolmentRequest, enrol
from messenger.services.errors import ServiceError
from messenger.services.outbox_rows import materialise
from tests.factories import LA, days_later_at, enrol_patient, local, messages_of


async def test_enrolment_writes_one_row_per_step_and_the_infusions(app):
    series = await enrol_patient(app)

    rows = await messages_of(app, series.id)
    definition = app.catalog.get(app.settings.default_series)
    assert set(rows) == {key for key, _, _ in definition.expanded_steps()}
    assert {m.status for m in rows.values()} == {MessageStatus.PENDING}
    async with app.sessions() as session:
        infusions = (await session.exec(select(Infusion).where(Infusion.series_id == series.id))).all()
    assert [i.number for i in sorted(infusions, key=lambda i: i.number)] == [1, 2, 3, 4, 5]


async def test_materialising_twice_adds_nothing(app):
    series = await enrol_patient(app)
    definition = app.catalog.get(series.definition_key)

    async with transaction(app.sessions) as session:
        infusions = (await session.exec(select(Infusion).where(Infusion.series_id == series.id))).all()
        times = [i.scheduled_at for i in sorted(infusions, key=lambda i: i.number)]
        added = await materialise(
            session=session,
            series=series,
            definition=definition,
            zone=LA,
            infusion_times=times,
            quiet_hours=app.quiet_hours,
        )

    assert added == 0
    async with app.sessions() as session:
        count = (await session.exec(select(func.count()).select_from(Message))).one()
    assert count == sum(1 for _ in definition.expanded_steps())


async def test_the_database_refuses_a_second_row_for_the_same_step(app):
    series = await enrol_patient(app)
    duplicate = (await messages_of(app, series.id))["welcome"].model_copy(update={"id": None})

    with pytest.raises(Exception, match=r"(?i)unique"):
        async with transaction(app.sessions) as session:
            session.add(Message.model_validate(duplicate))


async def test_steps_due_before_enrolment_are_recorded_as_skipped_not_sent(app, clock):
    # Enrolled at 17:00 the day before the first infusion: the noon education is history.
    clock.set(local(LA, 2026, 11, 30, 17, 0))
    first = days_later_at(clock.now(), 1, time(10, 0))
    series = await enrol_patient(app, first=first)

    rows = await messages_of(app, series.id)
    assert rows["edu-imaging"].status is MessageStatus.SKIPPED
    assert rows["welcome"].status is MessageStatus.PENDING
    assert rows["reminder-day-1"].status is MessageStatus.PENDING


async def test_enrolment_is_audited_with_the_staff_member(app):
    series = await enrol_patient(app)

    async with app.sessions() as session:
        event = (await session.exec(select(AuditEvent))).one()
    assert (event.actor, event.action, event.patient_id) == ("staff:1001", "enrol", series.patient_id)
    assert len(event.detail["infusions"]) == 5


@pytest.mark.parametrize(
    ("change", "code"),
    [
        pytest.param({"timezone": "Mars/Olympus"}, "unknown_timezone", id="unknown-zone"),
        pytest.param({"series_key": "nope"}, "unknown_series", id="unknown-series"),
        pytest.param({"first_infusion": "past"}, "first_infusion_in_past", id="first-in-past"),
        pytest.param({"infusions": "unordered"}, "bad_course", id="out-of-order"),
        pytest.param({"infusions": "too-long"}, "bad_course", id="course-too-long"),
        pytest.param({"infusions": "four"}, "bad_course", id="four-infusions"),
        pytest.param({"first_infusion": None}, "first_infusion_missing", id="no-dates"),
    ],
)
async def test_invalid_enrolments_are_refused_and_write_nothing(app, clock, change, code):
    first = days_later_at(clock.now(), 2, time(10, 0))
    days = [first + timedelta(days=d) for d in (0, 3, 6, 9, 12)]
    data = {
        "name": "Jane Doe",
        "timezone": "America/Los_Angeles",
        "series_key": app.settings.default_series,
        "first_infusion": first,
    }
    data |= change
    if data["first_infusion"] == "past":
        data["first_infusion"] = clock.now() - timedelta(hours=1)
    variants = {
        "unordered": [days[1], days[0], *days[2:]],
        "too-long": [*days[:4], first + timedelta(days=15)],
        "four": days[:4],
    }
    if isinstance(data.get("infusions"), str):
        data["infusions"] = variants[data["infusions"]]

    with pytest.raises(ServiceError) as refused:
        async with transaction(app.sessions) as session:
            await enrol(
                session=session,
                catalog=app.catalog,
                clock=clock,
                quiet_hours=app.quiet_hours,
                request=EnrolmentRequest(**data),
                actor="staff:1",
            )

    assert refused.value.code == code
    async with app.sessions() as session:
        assert (await session.exec(select(func.count()).select_from(Series))).one() == 0


async def test_reminders_are_planned_in_the_patients_local_evening(app):
    series = await enrol_patient(app)

    rows = await messages_of(app, series.id)
    for number in range(1, 6):
        eve = rows[f"reminder-eve-{number}"].send_at.astimezone(LA)
        assert (eve.hour, eve.minute) == (18, 0)
        assert rows[f"reminder-eve-{number}"].kind is StepKind.REMINDER
