"""Database migrations (Alembic), shipped inside the package and configured in code.

There is no ``alembic.ini``: :func:`alembic_config` builds the configuration from a
database URL as people write it (``sqlite:///messenger.db``, ``postgresql://…``).

Every function here is a coroutine, safe to await from a running event loop (the
application's start-up, tests). Alembic itself is synchronous, so each call opens one
connection on an async engine and runs the Alembic command inside
``AsyncConnection.run_sync``: the command gets that connection through
``config.attributes["connection"]`` and ``env.py`` migrates on it instead of making an
engine of its own. No thread and no second event loop are involved, and the whole
upgrade runs in one transaction that is committed at the end (PostgreSQL has
transactional DDL; on SQLite the engine here issues ``BEGIN`` itself so the same holds),
and processes that start together migrate one after the other.

Usage::

    await upgrade(settings.database_url)            # to the newest revision
    await downgrade(url, "base")                    # remove every table
    await current_revision(url)                     # "0001", or None for an empty database
    await schema_differences(url)                   # [] when the database matches the models
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import event, inspect, pool
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import SQLModel

from messenger.config import async_database_url
from messenger.domain import bookkeeping, models  # noqa: F401  (registers the tables)
from messenger.migrations.autogen import context_options

__all__ = [
    "MIGRATIONS_DIR",
    "UnversionedDatabaseError",
    "alembic_config",
    "create_revision",
    "current_revision",
    "display_url",
    "downgrade",
    "head_revision",
    "migration_engine",
    "schema_differences",
    "script_directory",
    "stamp",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent
VERSION_TABLE = "alembic_version"

log = logging.getLogger(__name__)
T = TypeVar("T")


class UnversionedDatabaseError(RuntimeError):
    """The database has application tables but no migration history, and they differ from the models."""


def display_url(url: str) -> str:
    """``url`` fit to print or log: the password, if any, is replaced by ``***``."""
    return make_url(url).render_as_string(hide_password=True)


def alembic_config(url: str) -> Config:
    """An Alembic configuration for the database at ``url``; needs no ``alembic.ini``."""
    config = Config(cmd_opts=argparse.Namespace(quiet=True))
    # ConfigParser interpolates "%": escape it (URL-encoded passwords contain it).
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["database_url"] = url
    return config


def script_directory() -> ScriptDirectory:
    """The migration scripts shipped with this version of messenger."""
    return ScriptDirectory(str(MIGRATIONS_DIR), version_locations=[str(MIGRATIONS_DIR / "versions")])


def head_revision() -> str | None:
    """The newest revision shipped, or None if there are none."""
    return script_directory().get_current_head()


def migration_engine(url: str) -> AsyncEngine:
    """An async engine for running migrations on ``url`` (no pooling: it is used once).

    On SQLite, foreign-key enforcement stays off while migrating: batch operations
    rebuild a table by copying it and dropping the original, which enforcement would
    turn into a cascade or a failure (SQLite's documented ALTER TABLE procedure turns
    it off as well). ``BEGIN`` is issued explicitly so DDL is transactional there too.
    """
    engine = create_async_engine(async_database_url(url), poolclass=pool.NullPool)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: object) -> None:
    # Let SQLAlchemy's "begin" event (below) open transactions, not the driver.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=OFF")
    # Wait for a running application's write lock instead of failing at once.
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # A migration takes the write lock up front: a deferred transaction that reads and
    # then writes can fail outright if the application commits in between (WAL).
    writes = connection.get_execution_options().get(_WRITES, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


_WRITES = "messenger_migration_writes"
# PostgreSQL advisory lock held while migrating: processes starting together take turns,
# and the later ones find the work done. (SQLite's BEGIN IMMEDIATE does the same there.)
_MIGRATION_LOCK_KEY = 0x6D657373_656E6772  # "messengr"


async def _run(url: str, work: Callable[..., T], *args: Any, commit: bool = True, **kwargs: Any) -> T:
    """Run ``work(connection, *args, **kwargs)`` on a sync view of one async connection.

    With ``commit`` everything ``work`` did is committed at the end (and rolled back if
    it raises); without, it is always rolled back.
    """
    engine = migration_engine(url)
    try:
        async with engine.connect() as connection:
            if not commit:
                return await connection.run_sync(work, *args, **kwargs)  # rolled back on close
            await connection.execution_options(**{_WRITES: True})
            async with connection.begin():
                if connection.dialect.name == "postgresql":
                    await connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_KEY})")
                return await connection.run_sync(work, *args, **kwargs)
    finally:
        await engine.dispose()


def _command(connection: Connection, url: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    config = alembic_config(url)
    config.attributes["connection"] = connection
    return function(config, *args, **kwargs)


async def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision`` (newest by default); idempotent.

    A database made before migrations existed (``metadata.create_all``) has the tables
    but no ``alembic_version``: if it matches the models exactly it is stamped with the
    newest revision first; otherwise :class:`UnversionedDatabaseError` says what differs.
    """
    await _run(url, _upgrade, url, revision)


def _upgrade(connection: Connection, url: str, revision: str) -> None:
    _adopt_unversioned(connection, url)
    _command(connection, url, command.upgrade, revision)


def _adopt_unversioned(connection: Connection, url: str) -> None:
    tables = set(inspect(connection).get_table_names())
    if VERSION_TABLE in tables or not tables & set(SQLModel.metadata.tables):
        return
    differences = _compare(connection)
    if differences:
        raise UnversionedDatabaseError(
            f"{display_url(url)} has messenger tables but no migration history, and they differ "
            f"from this version's models ({summarise(differences)}). If it was made by an older "
            f"messenger, mark the revision it matches with `messenger db stamp REVISION`, then upgrade."
        )
    log.warning("%s has no migration history but matches the models: stamping it %s", display_url(url), head_revision())
    _command(connection, url, command.stamp, "head")


async def downgrade(url: str, revision: str) -> None:
    """Migrate the database at ``url`` down to ``revision`` (``"base"`` removes every table)."""
    await _run(url, _command, url, command.downgrade, revision)


async def stamp(url: str, revision: str) -> None:
    """Record ``revision`` as the database's revision without running any migration."""
    await _run(url, _command, url, command.stamp, revision)


async def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at; None if it has none (empty, or never migrated)."""
    return await _run(url, _current_revision, commit=False)


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def schema_differences(url: str) -> list[Any]:
    """What autogenerate would change to make the database match the models; [] if nothing.

    The items are Alembic's diff tuples (``("add_column", None, "patient", Column(...))``,
    or lists of ``("modify_type", ...)`` tuples for changed columns).
    """
    return await _run(url, _compare, commit=False)


def _compare(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts=context_options(connection.dialect.name))
    return list(compare_metadata(context, SQLModel.metadata))


def summarise(differences: list[Any], limit: int = 5) -> str:
    """:func:`schema_differences` in a few words: missing tables, then the first other changes."""
    flat = [
        item for difference in differences for item in (difference if isinstance(difference, list) else [difference])
    ]
    missing = [item[1].name for item in flat if item[0] == "add_table"]
    changes = [_describe(item) for item in flat if item[0] != "add_table" and _table_of(item) not in missing]
    parts = [f"missing tables: {', '.join(missing)}"] if missing else []
    parts += changes[:limit]
    if len(changes) > limit:
        parts.append(f"{len(changes) - limit} more changes")
    return "; ".join(parts)


def _table_of(item: tuple[Any, ...]) -> str | None:
    action, *rest = item
    if action.startswith("modify_") or action in {"add_column", "remove_column"}:
        return str(rest[1])
    target = rest[0]
    table = getattr(target, "table", None) if not action.endswith("_fk") else getattr(target, "parent", None)
    return getattr(table, "name", getattr(target, "name", None))


def _describe(item: tuple[Any, ...]) -> str:
    action, *rest = item
    if action.startswith("modify_") or action in {"add_column", "remove_column"}:
        column = rest[2] if action.startswith("modify_") else rest[2].name
        return f"{action} {rest[1]}.{column}"
    table, name = _table_of(item), getattr(rest[0], "name", None)
    return f"{action} {table}.{name}" if name and table != name else f"{action} {table}"


async def create_revision(url: str, message: str, *, autogenerate: bool = True) -> Script | None:
    """Write a new migration script into ``versions/`` and return it.

    With ``autogenerate`` the script holds what the models have and the database at
    ``url`` (which must be at the newest revision) lacks; if there is nothing, no file
    is written and None is returned. Revision ids count up: ``0001``, ``0002``…
    """

    def skip_empty(_context: Any, _revision: Any, directives: list[Any]) -> None:
        if autogenerate and directives[0].upgrade_ops.is_empty():
            directives[:] = []

    script = await _run(
        url,
        _command,
        url,
        command.revision,
        message=message,
        autogenerate=autogenerate,
        rev_id=_next_revision_id(),
        process_revision_directives=skip_empty,
        commit=False,
    )
    if isinstance(script, Sequence):  # a list, empty when skip_empty dropped the revision
        return script[0] if script else None
    return script if isinstance(script, Script) else None


def _next_revision_id() -> str:
    numbers = [
        int(revision.revision.split("_", 1)[0])
        for revision in script_directory().walk_revisions()
        if revision.revision.split("_", 1)[0].isdigit()
    ]
    return f"{max(numbers, default=0) + 1:04d}"
