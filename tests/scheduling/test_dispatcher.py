"""The dispatcher: due rows are claimed once, sent once, and every outcome is recorded."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

import pytest
from sqlmodel import select

from messenger.app import build_app
from messenger.channels.base import Failed, RetryLater
from messenger.channels.failures import FailureCode
from messenger.db import create_schema
from messenger.domain.enums import ChannelName, MessageStatus, SeriesStatus
from messenger.domain.models import Contact, Series
from tests.factories import enrol_patient, messages_of, run_until, statuses
from tests.fakes.channels import ScriptedChannel


async def test_sends_what_is_due_and_nothing_early(app, clock, channel):
    series = await enrol_patient(app)
    rows = await messages_of(app, series.id)

    first = await app.dispatcher.run_due()
    clock.set(rows["edu-imaging"].send_at - timedelta(seconds=1))
    second = await app.dispatcher.run_due()

    assert [o.step_key for o in channel.delivered] == ["welcome", "edu-what-is-chronic-pain"]
    assert (first.counts["sent"], second.counts["sent"]) == (1, 1)
    after = await messages_of(app, series.id)
    assert after["welcome"].status is MessageStatus.SENT
    assert after["welcome"].provider_id == "console-1"
    assert after["welcome"].channel is ChannelName.CONSOLE
    assert after["edu-imaging"].status is MessageStatus.PENDING


async def test_the_whole_series_arrives_in_order_and_completes(app, clock, channel):
    series = await enrol_patient(app)
    rows = await messages_of(app, series.id)

    await run_until(app, clock.now() + timedelta(days=30))

    expected = [m.step_key for m in sorted(rows.values(), key=lambda m: (m.send_at, m.id))]
    assert [o.step_key for o in channel.delivered] == expected
    async with app.sessions() as session:
        assert (await session.get(Series, series.id)).status is SeriesStatus.COMPLETED


async def test_a_series_nothing_reached_is_not_completed(app, clock, channel):
    series = await enrol_patient(app)
    channel.then(*[Failed(FailureCode.TELEGRAM_REJECTED)] * 40)

    await run_until(app, clock.now() + timedelta(days=30))

    assert channel.delivered == []
    assert set((await statuses(app, series.id)).values()) <= {MessageStatus.FAILED, MessageStatus.SKIPPED}
    async with app.sessions() as session:
        assert (await session.get(Series, series.id)).status is SeriesStatus.ACTIVE


@pytest.mark.slow
async def test_two_dispatchers_on_one_database_never_send_a_row_twice(settings, clock):
    channel_a, channel_b = ScriptedChannel(), ScriptedChannel()
    first = build_app(settings, clock=clock, channels={channel_a.name: channel_a})
    second = build_app(settings, clock=clock, channels={channel_b.name: channel_b})
    await create_schema(first.engine)
    for n in range(12):
        await enrol_patient(first, name=f"Patient {n}")
    clock.advance(timedelta(days=40))
    first.dispatcher.batch_size = second.dispatcher.batch_size = 7

    try:
        await asyncio.gather(first.dispatcher.run_due(), second.dispatcher.run_due())
    finally:
        await second.engine.dispose()

    sent = [o.message_id for o in channel_a.delivered + channel_b.delivered]
    async with first.sessions() as session:
        from messenger.domain.models import Message

        rows = (await session.exec(select(Message))).all()
    await first.engine.dispose()
    sent_rows = [m.id for m in rows if m.status is MessageStatus.SENT]
    assert len(sent) == len(set(sent)), "a message was sent twice"
    assert sorted(sent) == sorted(sent_rows)
    assert channel_a.delivered and channel_b.delivered, "both dispatchers should have taken a share"
    assert {m.status for m in rows} <= {MessageStatus.SENT, MessageStatus.SKIPPED}


async def test_a_transient_failure_is_retried_with_backoff(app, clock, channel):
    series = await enrol_patient(app)
    channel.then(RetryLater(FailureCode.TWILIO_HTTP, params=(("status", "503"),)))

    await app.dispatcher.run_due()
    row = (await messages_of(app, series.id))["welcome"]
    assert (row.status, row.attempts, row.last_error) == (MessageStatus.PENDING, 1, "twilio.http status=503")
    base = app.dispatcher.retry.base
    assert timedelta(seconds=base * 0.79) <= row.send_at - clock.now() <= timedelta(seconds=base * 1.21)

    clock.set(row.send_at)
    await app.dispatcher.run_due()
    row = (await messages_of(app, series.id))["welcome"]
    assert (row.status, row.attempts) == (MessageStatus.SENT, 2)
    assert [o.step_key for o in channel.delivered] == ["welcome"]


async def test_backoff_grows_exponentially_then_gives_up(app, clock, channel):
    series = await enrol_patient(app)
    attempts = app.dispatcher.retry.max_attempts
    channel.then(*[RetryLater(FailureCode.SMTP_UNAVAILABLE)] * attempts)
    delays = []

    for _ in range(attempts):
        await app.dispatcher.run_due()
        row = (await messages_of(app, series.id))["welcome"]
        if row.status is MessageStatus.PENDING:
            delays.append((row.send_at - clock.now()).total_seconds())
            clock.set(row.send_at)

    assert row.status is MessageStatus.FAILED
    assert row.last_error.startswith(f"gave up after {attempts} attempts")
    assert all(later > earlier * 1.3 for earlier, later in itertools.pairwise(delays[:5]))


async def test_retry_after_pauses_the_whole_channel(app, clock, channel):
    first = await enrol_patient(app, name="First Patient")
    await enrol_patient(app, name="Second Patient")
    channel.then(RetryLater(FailureCode.TELEGRAM_FLOOD, after=300))
    # Sends already in flight to other recipients cannot be called back; what comes after waits.
    app.dispatcher.batch_size = 1

    await app.dispatcher.run_due()

    assert len(channel.attempts) == 1, "the second welcome must wait for the provider's pause"
    rows = await messages_of(app, first.id)
    assert rows["welcome"].send_at >= clock.now() + timedelta(seconds=300)
    clock.advance(timedelta(seconds=301))
    await app.dispatcher.run_due()
    assert sorted(o.recipient for o in channel.delivered) == ["First Patient", "Second Patient"]


async def test_a_permanent_failure_is_recorded_with_its_reason(app, channel):
    series = await enrol_patient(app)
    channel.then(Failed(FailureCode.TELEGRAM_REJECTED))

    await app.dispatcher.run_due()

    row = (await messages_of(app, series.id))["welcome"]
    assert row.status is MessageStatus.FAILED
    assert row.last_error == "console: telegram.rejected"
    assert row.sent_at is None


async def test_an_unreachable_contact_falls_back_to_the_next_one_once(settings, clock):
    telegram = ScriptedChannel(ChannelName.TELEGRAM, outcomes=[Failed(FailureCode.TELEGRAM_BLOCKED, unreachable=True)])
    sms = ScriptedChannel(ChannelName.SMS)
    app = build_app(settings, clock=clock, channels={telegram.name: telegram, sms.name: sms})
    await create_schema(app.engine)
    try:
        series = await enrol_patient(app, contacts=[(ChannelName.TELEGRAM, "42"), (ChannelName.SMS, "+15550100")])
        await app.dispatcher.run_due()
        clock.advance(timedelta(hours=3))
        await app.dispatcher.run_due()
        rows = await messages_of(app, series.id)
        async with app.sessions() as session:
            contacts = {c.channel: c for c in (await session.exec(select(Contact))).all()}
    finally:
        await app.engine.dispose()

    assert [o.step_key for o in sms.delivered] == ["welcome", "edu-what-is-chronic-pain"]
    assert len(telegram.attempts) == 1, "a blocked contact is not tried again"
    assert rows["welcome"].channel is ChannelName.SMS
    assert contacts[ChannelName.TELEGRAM].reachable is False
    assert contacts[ChannelName.TELEGRAM].status_reason == "telegram.blocked"


async def test_a_step_past_its_not_after_is_skipped_not_sent_late(app, clock, channel):
    series = await enrol_patient(app)
    rows = await messages_of(app, series.id)

    clock.set(rows["reminder-day-1"].not_after + timedelta(minutes=1))
    await app.dispatcher.run_due()

    after = await messages_of(app, series.id)
    assert after["reminder-day-1"].status is MessageStatus.SKIPPED
    assert after["reminder-eve-1"].status is MessageStatus.SKIPPED
    assert "reminder-day-1" not in [o.step_key for o, _ in channel.attempts]


async def test_a_retry_that_would_land_after_not_after_is_skipped(app, clock, channel):
    series = await enrol_patient(app)
    rows = await messages_of(app, series.id)
    clock.set(rows["reminder-day-1"].not_after - timedelta(seconds=10))
    channel.then(*[RetryLater(FailureCode.SMTP_UNAVAILABLE)] * 20)

    await app.dispatcher.run_due()

    row = (await messages_of(app, series.id))["reminder-day-1"]
    assert row.status is MessageStatus.SKIPPED
    assert row.last_error.startswith("skip.too_late")


async def test_a_broken_template_fails_the_message_with_its_file_and_line(settings, clock, tmp_path):
    broken = tmp_path / "templates" / "en"
    broken.mkdir(parents=True)
    (broken / "welcome.text.j2").write_text("Hello {{ patient.first_name }}\n{{ patient.no_such_field }}\n")
    channel = ScriptedChannel()
    app = build_app(
        settings.model_copy(update={"templates_dir": tmp_path / "templates"}),
        clock=clock,
        channels={channel.name: channel},
    )
    await create_schema(app.engine)
    try:
        series = await enrol_patient(app)
        await app.dispatcher.run_due()
        row = (await messages_of(app, series.id))["welcome"]
    finally:
        await app.engine.dispose()

    assert row.status is MessageStatus.FAILED
    assert "welcome.text.j2:2" in row.last_error
    assert "no_such_field" in row.last_error
    assert channel.attempts == []


async def test_a_restart_mid_series_loses_nothing_and_repeats_nothing(settings, clock):
    before_restart = ScriptedChannel()
    app = build_app(settings, clock=clock, channels={before_restart.name: before_restart})
    await create_schema(app.engine)
    series = await enrol_patient(app)
    rows = await messages_of(app, series.id)
    await run_until(app, rows["checkin-2"].send_at)
    # The process dies holding a claim on the next message, which it never delivered.
    upcoming = sorted((m for m in rows.values() if m.send_at > clock.now()), key=lambda m: m.send_at)
    clock.set(upcoming[0].send_at)
    stranded = await app.dispatcher.claim(1)
    await app.engine.dispose()

    after_restart = ScriptedChannel()
    restarted = build_app(settings, clock=clock, channels={after_restart.name: after_restart})
    try:
        clock.advance(restarted.dispatcher.lease + timedelta(seconds=1))
        await restarted.dispatcher.run_due()
        await run_until(restarted, clock.now() + timedelta(days=30))
        final = await statuses(restarted, series.id)
    finally:
        await restarted.engine.dispose()

    first_half = [o.message_id for o in before_restart.delivered]
    second_half = [o.message_id for o in after_restart.delivered]
    assert stranded and stranded[0] in second_half
    assert not set(first_half) & set(second_half), "a message was sent again after the restart"
    assert len(first_half) + len(second_half) == len(rows)
    assert set(final.values()) == {MessageStatus.SENT}


async def test_a_dispatcher_whose_lease_ran_out_does_not_send_the_row(settings, clock):
    slow, other = ScriptedChannel(), ScriptedChannel()
    first = build_app(settings, clock=clock, channels={slow.name: slow})
    second = build_app(settings, clock=clock, channels={other.name: other})
    await create_schema(first.engine)
    try:
        await enrol_patient(first)
        [claimed] = await first.dispatcher.claim(1)
        clock.advance(first.dispatcher.lease + timedelta(seconds=1))  # it stalled past its lease

        late = await first.dispatcher.deliver(claimed)
        await second.dispatcher.run_due()
    finally:
        await first.engine.dispose()
        await second.engine.dispose()

    assert late is None
    assert slow.attempts == []
    assert [o.message_id for o in other.delivered] == [claimed]


async def test_a_process_never_takes_back_a_row_it_is_still_working_on(app, clock, channel):
    series = await enrol_patient(app)
    [claimed] = await app.dispatcher.claim(1)
    # Sent and not yet recorded, say, while the clock passes its lease: it is still this process's.
    clock.advance(app.dispatcher.lease + timedelta(seconds=1))

    await app.dispatcher.run_due()
    during = {m.id: m.status for m in (await messages_of(app, series.id)).values()}[claimed]
    late = await app.dispatcher.deliver(claimed)  # once given up, it goes back to the queue...
    clock.advance(app.dispatcher.lease / 2)
    await app.dispatcher.run_due()  # ...and out, once

    assert during is MessageStatus.SENDING
    assert late is None
    assert [o.message_id for o in channel.delivered].count(claimed) == 1


def test_a_send_never_outlasts_half_the_lease(settings, clock):
    app = build_app(settings.model_copy(update={"claim_lease_seconds": 20}), clock=clock)

    assert app.dispatcher.send_timeout == 10
