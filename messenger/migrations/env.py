"""Alembic's environment: runs migrations on the connection it is given, or on a new async engine.

:mod:`messenger.migrations` always hands over an open connection through
``config.attributes["connection"]`` (a sync view of an async connection, inside
``AsyncConnection.run_sync``), so this file never starts an event loop of its own
there. Alembic used directly from synchronous code, with no connection, gets an async
engine for ``sqlalchemy.url`` run under :func:`asyncio.run`.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection, make_url

from messenger.config import async_database_url
from messenger.migrations import migration_engine
from messenger.migrations.autogen import context_options

config = context.config


def _database_url() -> str:
    """The URL the caller handed over, else the one in alembic.ini."""
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: pass one, or set sqlalchemy.url")
    return str(url)


def run_migrations_offline() -> None:
    """Write the SQL to standard output instead of running it (``--sql``)."""
    url = async_database_url(_database_url())
    context.configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **context_options(make_url(url).get_backend_name()),
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, **context_options(connection.dialect.name))
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations(url: str) -> None:
    engine = migration_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        do_run_migrations(connection)
        return
    asyncio.run(run_async_migrations(_database_url()))


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
