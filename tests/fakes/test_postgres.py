"""The throwaway PostgreSQL starts, serves the app's driver, and leaves nothing behind."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from .postgres import (
    EXTERNAL_URL_ENV,
    PostgresServer,
    _alive,
    can_start_postgres,
    external_postgres_url,
    find_pg_bin,
    postgres_available,
)

needs_postgres_binaries = pytest.mark.skipif(
    not can_start_postgres(), reason="PostgreSQL server binaries (initdb, pg_ctl) not installed"
)


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


async def _scalar(url: str, sql: str) -> object:
    # The URL as a user writes it, with the async driver the app uses.
    engine = create_async_engine(url.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(sql))).scalar_one()
    finally:
        await engine.dispose()


@needs_postgres_binaries
@pytest.mark.slow
async def test_server_lifecycle() -> None:
    server = PostgresServer()
    server.start()
    try:
        port, directory, pid = server.port, server.directory, server.pid
        assert port is not None and directory is not None and pid is not None
        assert directory.is_dir()
        assert _alive(pid)
        assert server.url == f"postgresql://postgres@127.0.0.1:{port}/postgres"

        url = server.create_database("messenger_check")
        assert url == f"postgresql://postgres@127.0.0.1:{port}/messenger_check"

        version = await _scalar(url, "select version()")
        assert isinstance(version, str) and version.startswith("PostgreSQL 15"), version
        assert await _scalar(url, "select current_database()") == "messenger_check"
        assert await _scalar(url, "show fsync") == "off"

        count_sql = "select count(*) from pg_database where datname = 'messenger_check'"
        assert await _scalar(server.url, count_sql) == 1
        server.drop_database("messenger_check")
        assert await _scalar(server.url, count_sql) == 0
    finally:
        server.stop()

    assert not _accepts_connections(port), f"port {port} still accepts connections after stop()"
    assert not directory.exists(), f"{directory} left behind"
    assert not _alive(pid), f"postmaster {pid} still running"
    server.stop()  # idempotent


@needs_postgres_binaries
@pytest.mark.slow
def test_context_manager_stops_server() -> None:
    with PostgresServer() as server:
        port, directory = server.port, server.directory
        assert port is not None and _accepts_connections(port)
    assert directory is not None and not directory.exists()
    assert not _accepts_connections(port)


@pytest.mark.parametrize("method", ["create_database", "drop_database"])
def test_rejects_unsafe_database_names(method: str) -> None:
    # Names are checked before anything is sent, so no server is needed.
    with pytest.raises(ValueError, match="database name"):
        getattr(PostgresServer(), method)('x"; drop database postgres; --')


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("postgresql://ci@db:5432/ci", "postgresql://ci@db:5432/ci", id="set"),
        pytest.param("  ", None, id="blank"),
        pytest.param(None, None, id="unset"),
    ],
)
def test_external_postgres_url(monkeypatch: pytest.MonkeyPatch, value: str | None, expected: str | None) -> None:
    if value is None:
        monkeypatch.delenv(EXTERNAL_URL_ENV, raising=False)
    else:
        monkeypatch.setenv(EXTERNAL_URL_ENV, value)
    assert external_postgres_url() == expected


@pytest.mark.skipif(external_postgres_url() is None, reason=f"{EXTERNAL_URL_ENV} not set")
async def test_external_server_answers() -> None:
    url = external_postgres_url()
    assert url is not None and postgres_available()
    assert await _scalar(url, "select 1") == 1


def test_find_pg_bin_missing_program_names_it() -> None:
    with pytest.raises(FileNotFoundError, match="no-such-pg-program"):
        find_pg_bin("no-such-pg-program")
