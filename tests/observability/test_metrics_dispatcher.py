"""Metrics wired as a dispatcher listener, on a real dispatcher and database."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime

from prometheus_client.parser import text_string_to_metric_families

from messenger.app import build_app
from messenger.channels.base import RetryLater
from messenger.channels.failures import FailureCode
from messenger.clock import ManualClock
from messenger.config import Settings
from messenger.db import create_schema
from messenger.domain.enums import ChannelName
from messenger.observability.logging import configure_logging
from messenger.observability.metrics import Metrics
from tests.factories import enrol_patient
from tests.fakes.channels import ScriptedChannel

T0 = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)


async def test_dispatcher_outcomes_reach_the_exposition(tmp_path) -> None:
    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path}/m.db")  # type: ignore[call-arg]
    clock = ManualClock(T0)
    channel = ScriptedChannel(ChannelName.CONSOLE).then(RetryLater(FailureCode.TWILIO_TIMEOUT))
    metrics = Metrics()
    app = build_app(settings, clock=clock, channels={channel.name: channel}, listeners=[metrics.on_delivery])
    await create_schema(app.engine)
    metrics.watch_queue(app.sessions, clock)
    metrics.watch_scheduler(lambda: app.alarm.running)
    try:
        await enrol_patient(app)
        await app.dispatcher.run_due()  # the welcome is put off once
        clock.set(await app.dispatcher.next_due_at())
        await app.dispatcher.run_due()  # and sent
        await metrics.refresh()
    finally:
        await app.engine.dispose()

    body, _ = metrics.exposition()
    values = {
        (s.name, frozenset(s.labels.items())): s.value
        for f in text_string_to_metric_families(body.decode())
        for s in f.samples
    }

    def sample(name: str, **labels: str) -> float | None:
        return values.get((name, frozenset(labels.items())))

    assert sample("messenger_messages_total", status="pending", channel="console", kind="welcome") == 1
    assert sample("messenger_messages_total", status="sent", channel="console", kind="welcome") == 1
    assert sample("messenger_send_errors_total", channel="console", type="retry") == 1
    assert sample("messenger_send_latency_seconds_count", channel="console") == 2
    assert sample("messenger_dispatch_lag_seconds_count", kind="welcome") == 1
    assert sample("messenger_pending_messages") > 0  # the rest of the series
    assert sample("messenger_next_due_seconds") > 0
    assert sample("messenger_scheduler_running") == 0  # the alarm was never started


async def test_delivery_log_lines_carry_the_ids_as_fields_and_stay_redacted(tmp_path) -> None:
    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path}/m.db")  # type: ignore[call-arg]
    clock = ManualClock(T0)
    channel = ScriptedChannel(ChannelName.CONSOLE).then(
        RetryLater(FailureCode.TWILIO_TIMEOUT, detail="provider said +14155550100 is busy")
    )
    app = build_app(settings, clock=clock, channels={channel.name: channel})
    await create_schema(app.engine)
    stream = io.StringIO()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    configure_logging(level="INFO", json=True, stream=stream)
    try:
        series = await enrol_patient(app)
        await app.dispatcher.run_due()
    finally:
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
        root.setLevel(level)
        await app.engine.dispose()

    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    about = [r for r in records if r["logger"].startswith("messenger.scheduling.dispatcher") and "message_id" in r]
    assert about, records
    for record in about:
        assert (record["patient_id"], record["series_id"]) == (series.patient_id, series.id)
        assert isinstance(record["message_id"], int)
    assert "+14155550100" not in stream.getvalue()
