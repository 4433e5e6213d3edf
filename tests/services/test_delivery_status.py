"""A provider's later delivery report is recorded on the message; a dead number re-queues the step."""

from __future__ import annotations

from messenger.channels.twilio import twilio_failure
from messenger.db import transaction
from messenger.domain.enums import ChannelName, MessageStatus
from messenger.domain.models import Contact
from messenger.services.inbound import apply_delivery_status
from tests.factories import enrol_patient, messages_of


async def _report(app, provider_id, status, code=None):
    failure = twilio_failure(code, "") if code else None
    async with transaction(app.sessions) as session:
        return await apply_delivery_status(
            session=session,
            clock=app.clock,
            quiet_hours=app.quiet_hours,
            provider_id=provider_id,
            status=status,
            failure=failure,
        )


async def test_a_delivered_report_is_recorded_on_the_row(app, channel):
    series = await enrol_patient(app)
    await app.dispatcher.run_due()
    welcome = (await messages_of(app, series.id))["welcome"]

    await _report(app, welcome.provider_id, "delivered")

    row = (await messages_of(app, series.id))["welcome"]
    assert (row.status, row.provider_status) == (MessageStatus.SENT, "delivered")


async def test_an_undelivered_report_for_a_dead_number_sends_the_step_to_the_next_contact(app, channel):
    series = await enrol_patient(app, contacts=[(ChannelName.CONSOLE, "first")])
    await app.dispatcher.run_due()
    welcome = (await messages_of(app, series.id))["welcome"]

    result = await _report(app, welcome.provider_id, "undelivered", code=21211)

    row = (await messages_of(app, series.id))["welcome"]
    assert (row.status, row.provider_status) == (MessageStatus.PENDING, "undelivered")
    assert "21211" in row.last_error
    assert result.lost is not None and result.lost.reachable is False
    async with app.sessions() as session:
        contact = await session.get(Contact, welcome.contact_id)
    assert contact.reachable is False
