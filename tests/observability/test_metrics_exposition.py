"""Metrics: dispatcher outcomes, queue and scheduler gauges, in the Prometheus text format."""

from __future__ import annotations

import asyncio
import math
import platform
from datetime import UTC, datetime, timedelta
from importlib.metadata import version

import pytest
from prometheus_client.parser import text_string_to_metric_families

from messenger.clock import ManualClock
from messenger.db import create_engine, create_schema, session_factory, transaction
from messenger.domain.enums import ChannelName, MessageStatus, StepKind
from messenger.domain.models import Message, Patient, Series
from messenger.observability.metrics import Metrics, queue_state
from messenger.scheduling.dispatcher import Delivery

T0 = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)


def message(
    step_key: str = "welcome",
    kind: StepKind = StepKind.WELCOME,
    send_at: datetime = T0,
    status: MessageStatus = MessageStatus.PENDING,
) -> Message:
    return Message(
        series_id=1,
        patient_id=1,
        step_key=step_key,
        kind=kind,
        template=step_key,
        due_at=send_at,
        send_at=send_at,
        status=status,
        updated_at=send_at,
    )


def delivery(
    status: MessageStatus,
    *,
    at: datetime,
    channel: ChannelName | None = ChannelName.TELEGRAM,
    send_seconds: float | None = None,
    kind: StepKind = StepKind.WELCOME,
    send_at: datetime = T0,
) -> Delivery:
    return Delivery(
        message=message(kind=kind, send_at=send_at, status=status),
        patient=Patient(name="x", timezone="UTC", created_at=T0),
        status=status,
        at=at,
        channel=channel,
        send_seconds=send_seconds,
    )


def samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    body, _ = metrics.exposition()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return samples(metrics).get((name, frozenset(labels.items())))


async def test_outcomes_are_counted_by_status_channel_and_kind() -> None:
    metrics = Metrics()
    await metrics.on_delivery(delivery(MessageStatus.SENT, at=T0 + timedelta(seconds=3), send_seconds=0.2))
    await metrics.on_delivery(delivery(MessageStatus.SENT, at=T0 + timedelta(seconds=90), send_seconds=0.7))
    await metrics.on_delivery(
        delivery(MessageStatus.SENT, at=T0, channel=ChannelName.SMS, kind=StepKind.REMINDER, send_seconds=1.5)
    )
    await metrics.on_delivery(delivery(MessageStatus.PENDING, at=T0, send_seconds=60.0))  # a retry
    await metrics.on_delivery(delivery(MessageStatus.FAILED, at=T0, channel=ChannelName.SMS))
    await metrics.on_delivery(delivery(MessageStatus.SKIPPED, at=T0, channel=None))
    await metrics.on_delivery(delivery(MessageStatus.HELD, at=T0, channel=None))

    assert value(metrics, "messenger_messages_total", status="sent", channel="telegram", kind="welcome") == 2
    assert value(metrics, "messenger_messages_total", status="sent", channel="sms", kind="reminder") == 1
    assert value(metrics, "messenger_messages_total", status="pending", channel="telegram", kind="welcome") == 1
    assert value(metrics, "messenger_messages_total", status="failed", channel="sms", kind="welcome") == 1
    assert value(metrics, "messenger_messages_total", status="skipped", channel="none", kind="welcome") == 1
    assert value(metrics, "messenger_messages_total", status="held", channel="none", kind="welcome") == 1

    assert value(metrics, "messenger_send_errors_total", channel="telegram", type="retry") == 1
    assert value(metrics, "messenger_send_errors_total", channel="sms", type="failed") == 1
    assert value(metrics, "messenger_send_errors_total", channel="telegram", type="failed") is None
    errors = [key for key in samples(metrics) if key[0] == "messenger_send_errors_total"]
    assert len(errors) == 2  # a skipped step is the series working as designed; held is not an error either


async def test_dispatch_lag_is_clock_time_from_send_at_by_kind_and_only_for_sent() -> None:
    metrics = Metrics()
    await metrics.on_delivery(delivery(MessageStatus.SENT, at=T0 + timedelta(seconds=3)))
    await metrics.on_delivery(delivery(MessageStatus.SENT, at=T0 + timedelta(seconds=90)))
    await metrics.on_delivery(delivery(MessageStatus.SENT, at=T0 + timedelta(seconds=7), kind=StepKind.REMINDER))
    await metrics.on_delivery(delivery(MessageStatus.FAILED, at=T0 + timedelta(hours=5)))
    await metrics.on_delivery(delivery(MessageStatus.PENDING, at=T0 + timedelta(hours=5)))

    lag = "messenger_dispatch_lag_seconds"
    assert value(metrics, f"{lag}_count", kind="welcome") == 2
    assert value(metrics, f"{lag}_sum", kind="welcome") == 93
    assert value(metrics, f"{lag}_bucket", kind="welcome", le="2.5") == 0
    assert value(metrics, f"{lag}_bucket", kind="welcome", le="5.0") == 1
    assert value(metrics, f"{lag}_bucket", kind="welcome", le="60.0") == 1
    assert value(metrics, f"{lag}_bucket", kind="welcome", le="120.0") == 2
    assert value(metrics, f"{lag}_bucket", kind="welcome", le="+Inf") == 2
    assert value(metrics, f"{lag}_count", kind="reminder") == 1
    assert value(metrics, f"{lag}_sum", kind="reminder") == 7


async def test_send_latency_comes_from_send_seconds_per_channel() -> None:
    metrics = Metrics()
    await metrics.on_delivery(delivery(MessageStatus.SENT, at=T0, send_seconds=0.2))
    await metrics.on_delivery(delivery(MessageStatus.PENDING, at=T0, send_seconds=0.7))
    await metrics.on_delivery(delivery(MessageStatus.SENT, at=T0, channel=ChannelName.SMS, send_seconds=3.0))
    await metrics.on_delivery(delivery(MessageStatus.SKIPPED, at=T0, channel=None))  # nothing was sent

    assert value(metrics, "messenger_send_latency_seconds_count", channel="telegram") == 2
    assert value(metrics, "messenger_send_latency_seconds_sum", channel="telegram") == pytest.approx(0.9)
    assert value(metrics, "messenger_send_latency_seconds_bucket", channel="telegram", le="0.25") == 1
    assert value(metrics, "messenger_send_latency_seconds_bucket", channel="telegram", le="1.0") == 2
    assert value(metrics, "messenger_send_latency_seconds_count", channel="sms") == 1
    assert value(metrics, "messenger_send_latency_seconds_count", channel="none") is None


async def test_a_sent_message_ahead_of_the_clock_counts_as_no_lag() -> None:
    metrics = Metrics()
    await metrics.on_delivery(delivery(MessageStatus.SENT, at=T0 - timedelta(seconds=5)))
    assert value(metrics, "messenger_dispatch_lag_seconds_sum", kind="welcome") == 0


def test_queue_and_scheduler_gauges() -> None:
    metrics = Metrics()
    assert math.isnan(value(metrics, "messenger_next_due_seconds"))  # nothing known yet
    assert math.isnan(value(metrics, "messenger_next_due_timestamp_seconds"))
    assert value(metrics, "messenger_scheduler_running") == 0

    metrics.observe_queue(7, -12.5, now=T0)
    metrics.observe_scheduler(True)
    assert value(metrics, "messenger_pending_messages") == 7
    assert value(metrics, "messenger_next_due_seconds") == -12.5
    assert value(metrics, "messenger_next_due_timestamp_seconds") == T0.timestamp() - 12.5
    assert value(metrics, "messenger_scheduler_running") == 1

    metrics.observe_queue(0, None, now=T0)
    assert value(metrics, "messenger_pending_messages") == 0
    assert math.isnan(value(metrics, "messenger_next_due_seconds"))
    assert math.isnan(value(metrics, "messenger_next_due_timestamp_seconds"))


def test_process_python_and_build_info_are_exposed() -> None:
    metrics = Metrics()
    exposed = samples(metrics)
    names = {name for name, _ in exposed}

    assert {"process_resident_memory_bytes", "process_open_fds", "python_gc_collections_total"} <= names
    (info,) = [dict(labels) for name, labels in exposed if name == "python_info"]
    assert info["implementation"] == "CPython"
    (build,) = [dict(labels) for name, labels in exposed if name == "messenger_build_info"]
    assert build == {"version": version("messenger"), "python": platform.python_version()}


def test_telegram_last_success_is_read_at_every_scrape() -> None:
    metrics, last = Metrics(), [None]
    metrics.watch_telegram(lambda: last[0])
    assert math.isnan(value(metrics, "messenger_telegram_last_success_timestamp_seconds"))
    last[0] = T0
    assert value(metrics, "messenger_telegram_last_success_timestamp_seconds") == T0.timestamp()


def test_watch_scheduler_reads_at_every_scrape() -> None:
    metrics, running = Metrics(), [True]
    metrics.watch_scheduler(lambda: running[0])
    assert value(metrics, "messenger_scheduler_running") == 1
    running[0] = False
    assert value(metrics, "messenger_scheduler_running") == 0


async def test_each_instance_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    await first.on_delivery(delivery(MessageStatus.SENT, at=T0))
    assert value(first, "messenger_messages_total", status="sent", channel="telegram", kind="welcome") == 1
    assert value(second, "messenger_messages_total", status="sent", channel="telegram", kind="welcome") is None


def test_exposition_is_prometheus_text() -> None:
    body, content_type = Metrics().exposition()
    assert content_type.startswith("text/plain")
    text = body.decode()
    for name, kind in [
        ("messenger_messages_total", "counter"),
        ("messenger_dispatch_lag_seconds", "histogram"),
        ("messenger_send_latency_seconds", "histogram"),
        ("messenger_send_errors_total", "counter"),
        ("messenger_pending_messages", "gauge"),
        ("messenger_next_due_seconds", "gauge"),
        ("messenger_next_due_timestamp_seconds", "gauge"),
        ("messenger_scheduler_running", "gauge"),
        ("messenger_build_info", "gauge"),
    ]:
        assert f"# TYPE {name} {kind}\n" in text


async def test_watch_queue_reads_pending_rows_before_a_scrape(tmp_path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/m.db")
    try:
        await create_schema(engine)
        sessions = session_factory(engine)
        async with transaction(sessions) as session:
            patient = Patient(name="x", timezone="UTC", created_at=T0)
            session.add(patient)
            await session.flush()
            series = Series(patient_id=patient.pk, definition_key="k", enrolled_at=T0, status_changed_at=T0)
            session.add(series)
            await session.flush()
            for n, (status, minutes) in enumerate(
                [
                    (MessageStatus.PENDING, 30),
                    (MessageStatus.PENDING, -2),
                    (MessageStatus.SENT, -60),
                    (MessageStatus.HELD, -90),
                ]
            ):
                row = message(step_key=f"s{n}", send_at=T0 + timedelta(minutes=minutes), status=status)
                row.series_id, row.patient_id = series.id, patient.id
                session.add(row)
        clock = ManualClock(T0)

        assert await queue_state(sessions, T0) == (2, -120.0)

        metrics = Metrics()
        metrics.watch_queue(sessions, clock)
        assert value(metrics, "messenger_pending_messages") == 0  # not refreshed yet
        await metrics.refresh()
        assert value(metrics, "messenger_pending_messages") == 2
        assert value(metrics, "messenger_next_due_seconds") == -120
        assert value(metrics, "messenger_next_due_timestamp_seconds") == T0.timestamp() - 120
    finally:
        await engine.dispose()


async def test_a_failing_or_hanging_refresh_leaves_the_gauges_and_the_scrape_alone(caplog) -> None:
    metrics = Metrics(refresh_timeout=0.05)
    metrics.observe_queue(5, 10.0)
    never = asyncio.Event()

    async def broken() -> None:
        raise ConnectionRefusedError("db down")

    async def hanging() -> None:
        await never.wait()

    metrics.before_scrape(broken)
    metrics.before_scrape(hanging)
    await metrics.refresh()

    assert value(metrics, "messenger_pending_messages") == 5
    assert value(metrics, "messenger_next_due_seconds") == 10
    assert "ConnectionRefusedError" in caplog.text and "TimeoutError" in caplog.text
