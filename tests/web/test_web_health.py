"""/healthz and /metrics, through the ASGI app (no sockets)."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from messenger.bot.reachability import TelegramReachability
from messenger.clock import ManualClock
from messenger.db import SessionFactory, create_engine, session_factory
from messenger.observability.metrics import Metrics
from messenger.web.app import HealthCheck, create_web_app
from tests.conftest import T0


@pytest.fixture
async def sessions(tmp_path) -> AsyncIterator[SessionFactory]:
    engine = create_engine(f"sqlite:///{tmp_path}/m.db")
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A loopback port that accepts connections and never says a word."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def client(app) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://messenger.test")


async def test_healthy(sessions) -> None:
    app = create_web_app(health=HealthCheck(sessions=sessions, scheduler_running=lambda: True), metrics=None)
    async with client(app) as http:
        response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "scheduler": "running", "telegram": "off"}
    assert response.headers["cache-control"] == "no-store"


async def test_scheduler_stopped_is_503(sessions) -> None:
    app = create_web_app(health=HealthCheck(sessions=sessions, scheduler_running=lambda: False), metrics=None)
    async with client(app) as http:
        response = await http.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unhealthy", "database": "ok", "scheduler": "stopped", "telegram": "off"}


async def test_scheduler_check_that_raises_counts_as_stopped(sessions) -> None:
    def broken() -> bool:
        raise RuntimeError("no scheduler")

    app = create_web_app(health=HealthCheck(sessions=sessions, scheduler_running=broken), metrics=None)
    async with client(app) as http:
        response = await http.get("/healthz")
    assert (response.status_code, response.json()["scheduler"]) == (503, "stopped")


async def test_database_refusing_connections_is_503_without_details(closed_port, caplog) -> None:
    url = f"postgresql://messenger:hunter2@127.0.0.1:{closed_port}/messenger"
    engine = create_engine(url)
    try:
        health = HealthCheck(sessions=session_factory(engine), scheduler_running=lambda: True)
        app = create_web_app(health=health, metrics=None)
        async with client(app) as http:
            first = await http.get("/healthz")
            second = await http.get("/healthz")
    finally:
        await engine.dispose()

    assert first.status_code == second.status_code == 503
    assert first.json() == {"status": "unhealthy", "database": "unreachable", "scheduler": "running", "telegram": "off"}
    for leaked in ("hunter2", str(closed_port), "127.0.0.1", "postgresql", "refused", "Error"):
        assert leaked not in first.text
    # The log says why, once per outage, and never shows the password.
    warnings = [r for r in caplog.records if "database unreachable" in r.getMessage()]
    assert len(warnings) == 1
    assert "hunter2" not in caplog.text


async def test_database_that_never_answers_is_503_after_the_timeout(silent_server) -> None:
    engine = create_engine(f"postgresql://messenger:hunter2@127.0.0.1:{silent_server}/messenger")
    try:
        health = HealthCheck(sessions=session_factory(engine), scheduler_running=lambda: True, timeout=0.2)
        async with client(create_web_app(health=health, metrics=None)) as http:
            response = await http.get("/healthz")
    finally:
        await engine.dispose()
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


async def test_database_recovers(sessions, closed_port, caplog) -> None:
    caplog.set_level(logging.INFO, logger="messenger.web.app")
    broken = create_engine(f"postgresql://messenger@127.0.0.1:{closed_port}/messenger")
    health = HealthCheck(sessions=session_factory(broken), scheduler_running=lambda: True)
    try:
        assert (await health.check()).database == "unreachable"
    finally:
        await broken.dispose()
    health.sessions = sessions
    assert (await health.check()).healthy
    assert "database reachable again" in caplog.text


async def test_metrics_endpoint(sessions) -> None:
    metrics = Metrics()
    metrics.watch_scheduler(lambda: True)
    refreshed: list[bool] = []

    async def hook() -> None:
        refreshed.append(True)
        metrics.observe_queue(3, 42.0)

    metrics.before_scrape(hook)
    app = create_web_app(health=HealthCheck(sessions=sessions, scheduler_running=lambda: True), metrics=metrics)
    async with client(app) as http:
        response = await http.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert refreshed == [True]
    values = {s.name: s.value for f in text_string_to_metric_families(response.text) for s in f.samples if not s.labels}
    assert values["messenger_pending_messages"] == 3
    assert values["messenger_next_due_seconds"] == 42
    assert values["messenger_scheduler_running"] == 1


async def test_no_metrics_route_without_metrics(sessions) -> None:
    app = create_web_app(health=HealthCheck(sessions=sessions, scheduler_running=lambda: True), metrics=None)
    async with client(app) as http:
        assert (await http.get("/metrics")).status_code == 404


async def test_extra_routes_are_served(sessions) -> None:
    async def webhook(_request) -> PlainTextResponse:  # type: ignore[no-untyped-def]
        return PlainTextResponse("thanks")

    app = create_web_app(
        health=HealthCheck(sessions=sessions, scheduler_running=lambda: True),
        metrics=Metrics(),
        routes=[Route("/webhooks/twilio", webhook, methods=["POST"])],
    )
    async with client(app) as http:
        assert (await http.post("/webhooks/twilio")).text == "thanks"
        assert (await http.get("/webhooks/twilio")).status_code == 405
        assert (await http.get("/healthz")).status_code == 200


async def test_telegram_failing_past_its_grace_is_503_with_the_last_success(sessions) -> None:
    clock = ManualClock(T0)
    telegram = TelegramReachability(clock)
    health = HealthCheck(
        sessions=sessions, scheduler_running=lambda: True, telegram=telegram, telegram_grace=timedelta(minutes=2)
    )
    app = create_web_app(health=health, metrics=None)
    async with client(app) as http:
        telegram.answered()
        answered = await http.get("/healthz")
        clock.advance(timedelta(minutes=1))
        telegram.failed()
        blip = await http.get("/healthz")
        clock.advance(timedelta(minutes=1, seconds=1))
        telegram.failed()
        down = await http.get("/healthz")
        telegram.answered()
        back = await http.get("/healthz")

    last_ok = "2026-11-30T20:00:00Z"
    assert (answered.status_code, answered.json()["telegram"], answered.json()["telegram_last_ok"]) == (
        200,
        "ok",
        last_ok,
    )
    assert (blip.status_code, blip.json()["telegram"]) == (200, "ok")  # within the grace
    assert down.status_code == 503
    assert down.json() == {
        "status": "unhealthy",
        "database": "ok",
        "scheduler": "running",
        "telegram": "unreachable",
        "telegram_last_ok": last_ok,
    }
    assert (back.status_code, back.json()["telegram"]) == (200, "ok")
