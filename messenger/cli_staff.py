"""``messenger staff add|list|remove``: staff managed from the command line, audited.

The command line is how the first owner is made when ``MESSENGER_OWNER_IDS`` was not
set, and how an owner who lost their Telegram account is replaced. Whoever can run it
can read the database already, so it needs no owner; the audit trail names the
operating-system account that ran it.
"""

from __future__ import annotations

import asyncio
import getpass
import os
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messenger.cli_support import settings_or_exit
from messenger.clock import SystemClock
from messenger.config import Settings
from messenger.db import create_engine, session_factory, transaction
from messenger.domain.enums import StaffRole
from messenger.domain.models import Staff
from messenger.migrations import upgrade
from messenger.services import audit
from messenger.services.errors import ServiceError
from messenger.services.staff import grant_staff, list_staff, revoke_staff
from messenger.startup import ExitCode, explain_failure

T = TypeVar("T")

# Telegram user ids are positive and below 2**52 (Telegram's own bound).
MAX_TELEGRAM_ID = 2**52

staff_app = typer.Typer(no_args_is_help=True, help="Staff who may use the bot's admin commands (audited).")
console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)

UserId = Annotated[int, typer.Argument(help="The person's Telegram user id.", min=1, max=MAX_TELEGRAM_ID)]


def _operator() -> str:
    try:
        return audit.cli_actor(getpass.getuser())
    except (KeyError, OSError):  # a numeric container user has no name
        return audit.cli_actor(f"uid {os.getuid()}")


def _in_database(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction on the configured database; a failure is one sentence."""

    async def run() -> T:
        engine = create_engine(settings.database_url)
        try:
            if settings.auto_migrate:
                await upgrade(settings.database_url)
            async with transaction(session_factory(engine)) as session:
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except ServiceError:
        raise
    except Exception as exc:
        failure = explain_failure(exc, settings)
        if failure is None:
            raise
        errors.print(f"[red]Cannot change staff[/]: {escape(failure.sentence)}")
        raise typer.Exit(failure.code) from None


@staff_app.command("add")
def add(
    user_id: UserId,
    role: Annotated[StaffRole, typer.Option(help="owner: may also manage staff.")] = StaffRole.STAFF,
    name: Annotated[str | None, typer.Option(help="A name to recognise them by in /staff list.")] = None,
) -> None:
    """Let a Telegram user run the staff commands (or change their role)."""
    settings, actor = settings_or_exit(), _operator()

    async def work(session: AsyncSession) -> Staff:
        return await grant_staff(
            session=session, clock=SystemClock(), actor=actor, telegram_user_id=user_id, role=role, name=name
        )

    row = _in_database(settings, work)
    console.print(f"{row.telegram_user_id} is now {row.role.value}")


@staff_app.command("list")
def list_command() -> None:
    """Active staff, owners first."""
    settings = settings_or_exit()
    rows = _in_database(settings, list_staff)
    if not rows:
        console.print("No staff yet: add an owner with `messenger staff add USER_ID --role owner`")
        return
    for row in sorted(rows, key=lambda r: (r.role is not StaffRole.OWNER, r.telegram_user_id)):
        # Tab-separated, for scripts; rich would expand the tabs.
        typer.echo(f"{row.telegram_user_id}\t{row.role.value}\t{row.name or ''}".rstrip())


@staff_app.command("remove")
def remove(user_id: UserId) -> None:
    """Take the staff commands away from a Telegram user (the last owner cannot be removed)."""
    settings, actor = settings_or_exit(), _operator()

    async def work(session: AsyncSession) -> Staff:
        owners = await session.exec(
            select(Staff.telegram_user_id).where(col(Staff.active).is_(True), col(Staff.role) == StaffRole.OWNER)
        )
        if list(owners.all()) == [user_id]:
            raise ServiceError("staff_last_owner")
        return await revoke_staff(session=session, clock=SystemClock(), actor=actor, telegram_user_id=user_id)

    try:
        row = _in_database(settings, work)
    except ServiceError as error:
        sentence = (
            f"{user_id} is the last owner: add another owner first"
            if error.code == "staff_last_owner"
            else f"{user_id} is not active staff"
        )
        errors.print(f"[red]Cannot remove[/]: {sentence}")
        raise typer.Exit(ExitCode.FAILED) from None
    console.print(f"{row.telegram_user_id} is no longer staff")
