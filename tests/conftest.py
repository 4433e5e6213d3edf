"""Shared fixtures: settings, a database per test on SQLite and on PostgreSQL, an app with a manual clock."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest

from messenger.app import App, build_app
from messenger.clock import ManualClock
from messenger.config import Settings
from messenger.db import create_schema
from messenger.domain.enums import ChannelName
from tests.fakes.channels import ScriptedChannel
from tests.fakes.postgres import PostgresServer, external_postgres_url, postgres_available

# 2026-11-30 12:00 in Los Angeles: a Monday, well clear of DST changes.
T0 = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
_database_names = itertools.count(1)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """Most tests wait on sockets, a Bot API server and subprocesses rather than on the CPU:
    two workers per core, at least four, at most eight (each starts its own PostgreSQL).

    The fast suite (``-m "not slow"``) waits on little and keeps the CPU busy: one worker per core,
    since each worker pays for importing everything once."""
    cores = os.cpu_count() or 1
    if "not slow" in (config.option.markexpr or ""):
        return cores
    return min(8, max(4, 2 * cores))


# Tests through a real Bot API server on loopback (python-telegram-bot polling it over HTTP) run in real
# time, seconds each: they count as slow, so ``pytest -m "not slow"`` stays a quick check.
END_TO_END_FIXTURES = frozenset({"bot_api"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if END_TO_END_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


# Settings of the test run itself, not of the application: a server to use, where screenshots go.
TEST_RUN_SETTINGS = frozenset({"MESSENGER_TEST_POSTGRES_URL", "MESSENGER_SCREENSHOTS_DIR"})


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the settings they pass, never the developer's environment."""
    for name in list(os.environ):
        if name.startswith("MESSENGER_") and name not in TEST_RUN_SETTINGS:
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer | str]:
    """A PostgreSQL 15 server for the whole run: started here, or given by MESSENGER_TEST_POSTGRES_URL."""
    external = external_postgres_url()
    if external:
        yield external
        return
    if not postgres_available():
        if IN_CI:
            pytest.fail("PostgreSQL binaries (initdb, pg_ctl) are missing; .ci/run installs them")
        pytest.skip("PostgreSQL is not installed here")
    with PostgresServer() as server:
        yield server


# The PostgreSQL half is marked slow (a database per test): ``pytest -m "not slow"`` runs the
# SQLite half for a quick check; plain ``pytest`` and CI run both.
@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'messenger.db'}"
        return
    server = request.getfixturevalue("postgres")
    if isinstance(server, str):
        pytest.skip("per-test databases need a server these tests started")
    name = f"t{os.getpid()}_{next(_database_names)}"
    yield server.create_database(name)
    server.drop_database(name)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(_env_file=None, database_url=database_url)  # type: ignore[call-arg]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def channel() -> ScriptedChannel:
    return ScriptedChannel(ChannelName.CONSOLE)


@pytest.fixture
async def app(settings: Settings, clock: ManualClock, channel: ScriptedChannel) -> AsyncIterator[App]:
    """The wired application, scheduler not started: tests move the clock and run the dispatcher."""
    application = build_app(settings, clock=clock, channels={channel.name: channel})
    await create_schema(application.engine)
    yield application
    await application.engine.dispose()
