"""``messenger db …``: migrate the configured database (MESSENGER_DATABASE_URL)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from alembic.util import CommandError
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from sqlalchemy.exc import SQLAlchemyError

from messenger.config import UnknownSettingError, load_settings
from messenger.migrations import (
    MIGRATIONS_DIR,
    UnversionedDatabaseError,
    create_revision,
    current_revision,
    display_url,
    downgrade,
    head_revision,
    stamp,
    upgrade,
)

T = TypeVar("T")

db_app = typer.Typer(no_args_is_help=True, help="Migrate the database (MESSENGER_DATABASE_URL).")

console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)


def database_url_or_exit() -> str:
    try:
        return load_settings().database_url
    except ValidationError as exc:
        problems = "; ".join(
            f"MESSENGER_{'_'.join(str(part) for part in error['loc']).upper()}: "
            + error["msg"].removeprefix("Value error, ")
            for error in exc.errors()
        )
        errors.print(f"[red]Configuration error[/]: {escape(problems)}")
        raise typer.Exit(2) from None
    except UnknownSettingError as exc:
        errors.print(f"[red]Configuration error[/]: {escape(str(exc))}")
        raise typer.Exit(2) from None


def run_or_exit(work: Coroutine[Any, Any, T], doing: str, url: str) -> T:
    """Run ``work``; a database or migration failure is one line on stderr and exit status 1."""
    try:
        return asyncio.run(work)
    except (CommandError, UnversionedDatabaseError, SQLAlchemyError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        errors.print(f"[red]{doing} failed[/] ({escape(display_url(url))}): {escape(reason)}")
        raise typer.Exit(1) from None


def describe(revision: str | None) -> str:
    return revision if revision is not None else "nothing (no tables)"


@db_app.command("upgrade")
def upgrade_command(
    revision: Annotated[str, typer.Argument(help="Revision to reach; default: the newest.")] = "head",
) -> None:
    """Migrate the database up to the newest revision (or REVISION). Safe to repeat."""
    url = database_url_or_exit()
    before = run_or_exit(current_revision(url), "Database upgrade", url)
    run_or_exit(upgrade(url, revision), "Database upgrade", url)
    after = run_or_exit(current_revision(url), "Database upgrade", url)
    where = escape(display_url(url))
    if after == before:
        console.print(f"Database already at {describe(after)} ({where})")
    else:
        console.print(f"Database upgraded to {describe(after)} ({where})")


@db_app.command("downgrade")
def downgrade_command(
    revision: Annotated[str, typer.Argument(help="Revision to go back to; 'base' removes every table.")],
) -> None:
    """Migrate the database down to REVISION (data in dropped tables and columns is lost)."""
    url = database_url_or_exit()
    run_or_exit(downgrade(url, revision), "Database downgrade", url)
    after = run_or_exit(current_revision(url), "Database downgrade", url)
    console.print(f"Database downgraded to {describe(after)} ({escape(display_url(url))})")


@db_app.command("current")
def current_command() -> None:
    """Show the database's revision and whether it is the newest."""
    url = database_url_or_exit()
    revision = run_or_exit(current_revision(url), "Reading the revision", url)
    head = head_revision()
    where = escape(display_url(url))
    if revision is None:
        console.print(f"Database has no revision; the newest is {head}: run `messenger db upgrade` ({where})")
    elif revision == head:
        console.print(f"Database at {revision} (newest) ({where})")
    else:
        console.print(f"Database at {revision}; the newest is {head}: run `messenger db upgrade` ({where})")


@db_app.command("stamp")
def stamp_command(
    revision: Annotated[str, typer.Argument(help="Revision the database's schema already matches.")],
) -> None:
    """Record REVISION as the database's revision without changing any table."""
    url = database_url_or_exit()
    run_or_exit(stamp(url, revision), "Database stamp", url)
    after = run_or_exit(current_revision(url), "Database stamp", url)
    console.print(f"Database stamped {describe(after)} ({escape(display_url(url))})")


@db_app.command("revision")
def revision_command(
    message: Annotated[str, typer.Option("-m", "--message", help="What it does, e.g. 'add invite note'.")],
    empty: Annotated[
        bool, typer.Option("--empty", help="Write a blank script (a data migration) instead of comparing.")
    ] = False,
) -> None:
    """For developers: write a migration with what the models have and the database lacks.

    The database must be at the newest revision (`messenger db upgrade` first).

    Run it in a source checkout: the script is written into messenger/migrations/versions/.
    """
    if "site-packages" in Path(MIGRATIONS_DIR).parts:
        where = escape(str(MIGRATIONS_DIR))
        errors.print(f"[red]{where} is an installed copy[/]: run this in a source checkout")
        raise typer.Exit(2)
    url = database_url_or_exit()
    script = run_or_exit(create_revision(url, message, autogenerate=not empty), "Generating a revision", url)
    if script is None:
        where = escape(display_url(url))
        console.print(f"No differences between the models and the database: no revision written ({where})")
        return
    console.print(f"Wrote revision {script.revision}: {escape(script.path)}")
    console.print("Read it before committing: check names, types, and what a downgrade loses.")
