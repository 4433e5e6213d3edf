"""The migrations build exactly the models' schema, on SQLite and on PostgreSQL.

Every database test ends by comparing the database with the models (Alembic's
autogenerate comparison), so a model changed without a migration fails here.
"""

from __future__ import annotations

import ast
import asyncio
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from alembic.script import Script
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlmodel import SQLModel
from typer.testing import CliRunner

import messenger.migrations as migrations
from messenger.db import create_engine, create_schema
from messenger.migrations import (
    UnversionedDatabaseError,
    create_revision,
    current_revision,
    display_url,
    downgrade,
    head_revision,
    schema_differences,
    script_directory,
    upgrade,
)
from messenger.migrations.cli import db_app

MODEL_TABLES = set(SQLModel.metadata.tables)
PASSWORD = "Sup3r-secret_pw"


# ----------------------------------------------------------------------------- helpers


async def run_on(url: str, work: Any) -> Any:
    """Run ``work(sync_connection)`` on the application's own engine for ``url``."""
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            return await connection.run_sync(work)
    finally:
        await engine.dispose()


async def table_names(url: str) -> set[str]:
    return await run_on(url, lambda connection: set(inspect(connection).get_table_names()))


def _snapshot(connection: Connection) -> dict[str, Any]:
    """Everything reflection sees of the application's tables, in comparable form."""
    inspector = inspect(connection)
    tables: dict[str, Any] = {}
    for table in sorted(set(inspector.get_table_names()) - {migrations.VERSION_TABLE}):
        tables[table] = {
            "columns": [
                (
                    column["name"],
                    column["type"].compile(dialect=connection.dialect),
                    column["nullable"],
                    column.get("default"),
                )
                for column in inspector.get_columns(table)
            ],
            "primary_key": inspector.get_pk_constraint(table),
            "foreign_keys": sorted(
                (
                    fk.get("name") or "",
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                )
                for fk in inspector.get_foreign_keys(table)
            ),
            "indexes": sorted(
                (index["name"] or "", tuple(index["column_names"]), bool(index["unique"]))
                for index in inspector.get_indexes(table)
            ),
            "unique": sorted(
                (unique.get("name") or "", tuple(unique["column_names"]))
                for unique in inspector.get_unique_constraints(table)
            ),
        }
    return tables


async def snapshot(url: str) -> dict[str, Any]:
    return await run_on(url, _snapshot)


async def assert_matches_models(url: str) -> None:
    differences = await schema_differences(url)
    assert differences == [], f"the database differs from the models: {differences}"
    assert await table_names(url) - {migrations.VERSION_TABLE} == MODEL_TABLES


def scripts() -> list[Script]:
    """Every migration script, oldest first."""
    return list(reversed(list(script_directory().walk_revisions())))


# ----------------------------------------------------------------------------- the schema


async def test_upgrade_of_an_empty_database_gives_the_models_schema(database_url: str) -> None:
    assert await current_revision(database_url) is None
    await upgrade(database_url)
    assert await current_revision(database_url) == head_revision()
    assert await schema_differences(database_url) == []
    assert await table_names(database_url) == MODEL_TABLES | {migrations.VERSION_TABLE}


async def test_downgrade_to_base_removes_every_table_and_upgrade_restores_them(database_url: str) -> None:
    await upgrade(database_url)
    await downgrade(database_url, "base")
    assert await table_names(database_url) <= {migrations.VERSION_TABLE}
    assert await current_revision(database_url) is None
    await upgrade(database_url)
    assert await current_revision(database_url) == head_revision()
    await assert_matches_models(database_url)


async def test_upgrade_is_idempotent(database_url: str) -> None:
    await upgrade(database_url)
    first = await snapshot(database_url)
    await upgrade(database_url)
    await upgrade(database_url, "head")
    assert await current_revision(database_url) == head_revision()
    assert await snapshot(database_url) == first
    await assert_matches_models(database_url)


async def test_processes_upgrading_at_once_take_turns(database_url: str) -> None:
    # Unserialised, they deadlock or fail on each other's half-made tables.
    await asyncio.wait_for(asyncio.gather(*(upgrade(database_url) for _ in range(3))), timeout=60)
    assert await current_revision(database_url) == head_revision()
    await assert_matches_models(database_url)


async def test_each_revision_downgrades_to_its_predecessor_and_upgrades_again(database_url: str) -> None:
    """The stairway: up one revision, down one, up again, for every revision in order."""
    for script in scripts():
        await upgrade(database_url, script.revision)
        after_upgrade = await snapshot(database_url)
        await downgrade(database_url, script.down_revision or "base")
        assert await current_revision(database_url) == script.down_revision
        await upgrade(database_url, script.revision)
        assert await snapshot(database_url) == after_upgrade, script.revision
    assert await current_revision(database_url) == head_revision()
    await assert_matches_models(database_url)


async def test_create_schema_and_the_migrations_build_the_same_database(database_url: str) -> None:
    """The old path (metadata.create_all) and the migrations: same tables, columns, keys, indexes."""
    engine = create_engine(database_url)
    try:
        await create_schema(engine)
    finally:
        await engine.dispose()
    await assert_matches_models(database_url)
    created = await snapshot(database_url)
    await run_on(database_url, SQLModel.metadata.drop_all)
    assert await table_names(database_url) == set()

    await upgrade(database_url)
    await assert_matches_models(database_url)
    assert await snapshot(database_url) == created


# ----------------------------------------------------------------------------- databases older than migrations


async def test_upgrade_adopts_a_database_made_by_create_schema(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await create_schema(engine)
    finally:
        await engine.dispose()
    assert await current_revision(database_url) is None

    await upgrade(database_url)
    assert await current_revision(database_url) == head_revision()
    # Stamped, not recreated: the migrations' downgrade and upgrade work on it.
    await downgrade(database_url, "base")
    assert await table_names(database_url) <= {migrations.VERSION_TABLE}
    await upgrade(database_url)
    await assert_matches_models(database_url)


async def test_upgrade_refuses_an_unversioned_database_that_differs_from_the_models(database_url: str) -> None:
    await run_on(
        database_url,
        lambda connection: connection.execute(
            text("CREATE TABLE patient (id INTEGER PRIMARY KEY, name VARCHAR(200) NOT NULL)")
        ),
    )

    with pytest.raises(UnversionedDatabaseError, match="no migration history") as raised:
        await upgrade(database_url)

    assert "missing tables: " in str(raised.value) and "add_column patient.locale" in str(raised.value)
    assert "messenger db stamp" in str(raised.value)
    assert await table_names(database_url) == {"patient"}  # left as it was
    assert await current_revision(database_url) is None


# ----------------------------------------------------------------------------- the scripts


def test_there_is_exactly_one_head() -> None:
    heads = script_directory().get_heads()
    assert heads == [head_revision()] and len(heads) == 1


def test_revisions_form_one_numbered_line() -> None:
    previous = None
    for number, script in enumerate(scripts(), start=1):
        assert script.revision == f"{number:04d}"
        assert script.down_revision == previous
        assert Path(script.path).name.startswith(f"{script.revision}_")
        previous = script.revision


@pytest.mark.parametrize("script", scripts(), ids=lambda script: script.revision)
def test_every_migration_has_a_downgrade(script: Script) -> None:
    tree = ast.parse(Path(script.path).read_text(encoding="utf-8"))
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert {"upgrade", "downgrade"} <= set(functions)
    body = [
        statement
        for statement in functions["downgrade"].body
        if not isinstance(statement, ast.Pass)
        and not (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant))
    ]
    assert body, f"{script.path}: downgrade() does nothing"


def test_scripts_do_not_import_application_code() -> None:
    """A migration is a frozen record: renaming an enum or a type later must not break it."""
    for script in scripts():
        source = Path(script.path).read_text(encoding="utf-8")
        assert not re.search(r"^\s*(from|import) (messenger|sqlmodel)\b", source, re.MULTILINE), script.path


# ----------------------------------------------------------------------------- writing new revisions


@pytest.fixture
def scratch_migrations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the migrations folder, so generated scripts never land in the source tree."""
    folder = tmp_path / "migrations"
    shutil.copytree(migrations.MIGRATIONS_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrations, "MIGRATIONS_DIR", folder)
    return folder


async def test_autogenerate_finds_nothing_on_a_migrated_database(database_url: str, scratch_migrations: Path) -> None:
    await upgrade(database_url)
    assert await create_revision(database_url, "nothing to do") is None
    assert sorted(path.name for path in (scratch_migrations / "versions").glob("*.py")) == sorted(
        Path(script.path).name for script in scripts()
    )


async def test_autogenerated_revision_spells_our_types_as_plain_sqlalchemy(
    database_url: str, scratch_migrations: Path
) -> None:
    await upgrade(database_url)
    # Columns of each custom type go missing behind the migrations' back…
    for table, column in (("patient", "created_at"), ("staff", "role"), ("patient", "locale")):
        await run_on(
            database_url,
            lambda connection, t=table, c=column: connection.execute(text(f"ALTER TABLE {t} DROP COLUMN {c}")),
        )

    expected_revision = f"{len(scripts()) + 1:04d}"
    script = await create_revision(database_url, "restore columns")

    # …and the generated script puts them back, written without application imports.
    assert script is not None and script.revision == expected_revision
    assert Path(script.path).parent == scratch_migrations / "versions"
    source = Path(script.path).read_text(encoding="utf-8")
    assert "sa.Column('created_at', sa.DateTime(timezone=True), nullable=False)" in source
    assert "sa.Column('role', sa.String(length=32), nullable=False)" in source
    assert "sa.Column('locale', sa.String(length=16), nullable=False)" in source
    assert source.count("add_column(") == 3, source  # and nothing else: the models match the rest
    assert "messenger" not in source and "sqlmodel" not in source and "UTCDateTime" not in source
    dialect = make_url(database_url).get_backend_name()
    assert ("batch_alter_table" in source) == (dialect == "sqlite")

    await upgrade(database_url)
    assert await current_revision(database_url) == script.revision
    await assert_matches_models(database_url)
    await downgrade(database_url, "-1")
    columns = await run_on(database_url, lambda connection: inspect(connection).get_columns("patient"))
    assert {"created_at", "locale"}.isdisjoint(column["name"] for column in columns)


# ----------------------------------------------------------------------------- messenger db …
# The commands call asyncio.run themselves, so these tests are synchronous.


def invoke(*args: str, url: str) -> Any:
    runner = CliRunner(env={"MESSENGER_DATABASE_URL": url, "COLUMNS": "400", "NO_COLOR": "1"})
    return runner.invoke(db_app, list(args))


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No developer's .env: the command sees only the URL it is given."""
    folder = tmp_path / "cwd"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def test_cli_upgrade_then_current_shows_the_newest_revision(database_url: str, workdir: Path) -> None:
    head = head_revision()
    shown = display_url(database_url)

    result = invoke("upgrade", url=database_url)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"Database upgraded to {head} ({shown})"

    result = invoke("current", url=database_url)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"Database at {head} (newest) ({shown})"
    asyncio.run(assert_matches_models(database_url))

    result = invoke("upgrade", url=database_url)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"Database already at {head} ({shown})"

    result = invoke("downgrade", "base", url=database_url)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"Database downgraded to nothing (no tables) ({shown})"
    result = invoke("current", url=database_url)
    assert "has no revision" in result.stdout and "messenger db upgrade" in result.stdout

    result = invoke("stamp", "head", url=database_url)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"Database stamped {head} ({shown})"


def test_cli_never_prints_the_password(database_url: str, workdir: Path) -> None:
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        # The test server trusts every local connection, so any password is accepted.
        url = url.set(password=PASSWORD)
    with_password = url.render_as_string(hide_password=False)

    for args in (["upgrade"], ["current"], ["downgrade", "base"]):
        result = invoke(*args, url=with_password)
        assert result.exit_code == 0, result.output
        assert PASSWORD not in result.stdout + result.stderr
        if url.password:
            assert "***" in result.stdout
    result = invoke("upgrade", url=with_password)
    assert result.exit_code == 0, result.output
    asyncio.run(assert_matches_models(database_url))


def test_display_url_hides_the_password() -> None:
    shown = display_url(f"postgresql://messenger:{PASSWORD}@db.internal:5432/messenger")
    assert shown == "postgresql://messenger:***@db.internal:5432/messenger"
    assert display_url("sqlite:///messenger.db") == "sqlite:///messenger.db"


def test_cli_reports_an_unreachable_database_in_one_line_without_the_password(workdir: Path) -> None:
    # Port 1 on the loopback: nothing listens there, the connection is refused at once.
    result = invoke("upgrade", url=f"postgresql://messenger:{PASSWORD}@127.0.0.1:1/messenger")
    assert result.exit_code == 1
    assert PASSWORD not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Database upgrade failed (postgresql://messenger:***@127.0.0.1:1/messenger): ")


def test_cli_reports_a_bad_setting_in_one_line(workdir: Path) -> None:
    result = invoke("current", url="mysql://root@localhost/messenger")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Configuration error: MESSENGER_DATABASE_URL: unsupported database")
