"""The async engine and session factory, built from settings (never at import time)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import ColumnElement, event, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.config import async_database_url
from messenger.domain import bookkeeping, models  # noqa: F401  (registers the tables)

SessionFactory = async_sessionmaker[AsyncSession]


def create_engine(url: str, **kwargs: object) -> AsyncEngine:
    """An async engine for a URL as people write it (``sqlite:///x.db``, ``postgresql://…``)."""
    engine = create_async_engine(async_database_url(url), **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # WAL lets readers proceed while the dispatcher writes; busy_timeout makes a second
    # writer wait for the lock instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # With WAL, NORMAL cannot corrupt the database; a power cut may lose the last commits.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    # Up to 32 MiB of pages per connection (SQLite's default is 2 MiB), taken only as used: an
    # enrolment of many patients inserts across the whole claim index, which evicted and
    # re-read its own pages at the default size.
    cursor.execute("PRAGMA cache_size=-32768")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def create_schema(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)


@asynccontextmanager
async def transaction(sessions: SessionFactory) -> AsyncIterator[AsyncSession]:
    """One session, committed on success and rolled back on error."""
    async with sessions() as session, session.begin():
        yield session


async def upsert(
    session: AsyncSession, table: type[SQLModel], *, key: Any, values: dict[str, Any], update: dict[str, Any]
) -> None:
    """Insert ``values`` into ``table``, or set ``update`` on the row whose ``key`` column matches.

    A value in ``update`` may be a callable: it is given ``excluded`` (the row proposed) and
    returns the expression to set, e.g. ``lambda new: greatest(session, new.until, Row.until)``.
    """
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values)
    resolved = {k: (v(statement.excluded) if callable(v) else v) for k, v in update.items()}
    await session.exec(statement.on_conflict_do_update(index_elements=[key], set_=resolved))


async def insert_new(session: AsyncSession, table: type[SQLModel], *, key: Any, values: dict[str, Any]) -> bool:
    """Insert ``values`` into ``table`` unless a row with the same ``key`` column exists; True if inserted.

    A concurrent insert of the same key waits for the other to commit, then inserts nothing.
    """
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing(index_elements=[key]).returning(key)
    return (await session.exec(statement)).first() is not None


def greatest(session: AsyncSession, *values: Any) -> ColumnElement[Any]:
    """The larger of ``values`` (SQLite's two-argument ``max``, PostgreSQL's ``greatest``)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.greatest(*values)
    return func.max(*values)
