"""WebServer: uvicorn inside our own event loop, on a real loopback socket."""

from __future__ import annotations

import logging
import signal
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from messenger.db import SessionFactory, create_engine, session_factory
from messenger.observability.metrics import Metrics
from messenger.web.app import HealthCheck, create_web_app
from messenger.web.server import WebServer


@pytest.fixture
async def sessions(tmp_path) -> AsyncIterator[SessionFactory]:
    engine = create_engine(f"sqlite:///{tmp_path}/m.db")
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
def web_app(sessions) -> Starlette:
    metrics = Metrics()
    metrics.watch_scheduler(lambda: True)
    return create_web_app(health=HealthCheck(sessions=sessions, scheduler_running=lambda: True), metrics=metrics)


async def test_serves_on_a_free_port_and_stops(web_app) -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    sigterm = signal.getsignal(signal.SIGTERM)
    server = WebServer(web_app, host="127.0.0.1", port=0)

    await server.start()
    port = server.port
    try:
        assert port > 0
        assert server.url == f"http://127.0.0.1:{port}"
        assert signal.getsignal(signal.SIGTERM) is sigterm  # the process's handlers are left alone
        async with httpx.AsyncClient(base_url=server.url) as http:
            health = await http.get("/healthz")
            metrics = await http.get("/metrics")
        assert health.status_code == 200
        assert health.json() == {"status": "ok", "database": "ok", "scheduler": "running", "telegram": "off"}
        assert "server" not in health.headers
        assert metrics.status_code == 200 and "messenger_scheduler_running 1.0" in metrics.text
    finally:
        await server.stop()

    assert not server.running
    with pytest.raises(RuntimeError):
        server.port  # noqa: B018
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{port}/healthz")
    # uvicorn did not configure logging for the process.
    assert root.handlers == handlers and root.level == level


async def test_a_busy_port_raises_instead_of_exiting(web_app) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = WebServer(web_app, host="127.0.0.1", port=taken.getsockname()[1])
        with pytest.raises(OSError):
            await server.start()
    assert not server.running
    await server.stop()  # harmless when not started


async def test_start_twice_is_an_error(web_app) -> None:
    server = WebServer(web_app, port=0)
    await server.start()
    try:
        with pytest.raises(RuntimeError, match="already started"):
            await server.start()
    finally:
        await server.stop()


async def test_can_stop_while_a_client_holds_a_keep_alive_connection(web_app) -> None:
    server = WebServer(web_app, port=0)
    await server.start()
    port = server.port
    async with httpx.AsyncClient(base_url=server.url) as http:
        assert (await http.get("/healthz")).status_code == 200
        await server.stop()  # the idle keep-alive connection is closed, not waited on for ever
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
