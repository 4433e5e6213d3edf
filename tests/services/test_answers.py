"""A reminder's button counts once its message has left, even before the dispatcher records it."""

from __future__ import annotations

import pytest

from messenger.db import transaction
from messenger.domain.enums import InfusionStatus, MessageStatus
from messenger.services.answers import respond_to_reminder
from messenger.services.errors import ServiceError
from tests.factories import enrol_patient, messages_of


@pytest.mark.parametrize(
    ("status", "counts"),
    [
        (MessageStatus.SENT, True),
        # On the wire with the rest of its batch: the patient may press before the batch is recorded.
        (MessageStatus.SENDING, True),
        # Never sent: a button for it can only be forged.
        (MessageStatus.PENDING, False),
        (MessageStatus.FAILED, False),
    ],
)
async def test_a_reminder_button_counts_once_its_message_has_left(app, status, counts):
    series = await enrol_patient(app)
    reminder = (await messages_of(app, series.id))["reminder-day-1"]
    async with transaction(app.sessions) as session:
        row = await session.get(type(reminder), reminder.id)
        row.status = status

    async with transaction(app.sessions) as session:
        try:
            infusion = await respond_to_reminder(
                session=session, clock=app.clock, message_id=reminder.pk, patient_id=series.patient_id, attending=True
            )
            outcome = infusion.status
        except ServiceError as error:
            outcome = error.code

    assert outcome == (InfusionStatus.CONFIRMED if counts else "button_not_yours")
