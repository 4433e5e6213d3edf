"""`messenger staff add|list|remove`: the real command on both databases, every change audited."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest
from sqlmodel import col, select

from messenger.db import create_engine, session_factory
from messenger.domain.models import AuditEvent
from tests.cli_run import messenger

# A cold interpreter per command, seconds each: outside the fast suite.
pytestmark = pytest.mark.slow


async def audit_trail(database_url: str) -> list[tuple[str, str, dict[str, object]]]:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            rows = await session.exec(select(AuditEvent).order_by(col(AuditEvent.id)))
            return [(row.actor, row.action, row.detail) for row in rows.all()]
    finally:
        await engine.dispose()


async def test_staff_added_listed_and_removed_from_the_command_line(tmp_path: Path, database_url: str) -> None:
    db = {"MESSENGER_DATABASE_URL": database_url}

    empty = await messenger(tmp_path, "staff", "list", **db)
    owner = await messenger(tmp_path, "staff", "add", "1001", "--role", "owner", "--name", "Ana", **db)
    nurse = await messenger(tmp_path, "staff", "add", "1002", **db)
    listed = await messenger(tmp_path, "staff", "list", **db)
    removed = await messenger(tmp_path, "staff", "remove", "1002", **db)
    after = await messenger(tmp_path, "staff", "list", **db)

    assert empty.lines == ["No staff yet: add an owner with `messenger staff add USER_ID --role owner`"]
    assert (owner.code, owner.lines) == (0, ["1001 is now owner"])
    assert (nurse.code, nurse.lines) == (0, ["1002 is now staff"])
    assert listed.lines == ["1001\towner\tAna", "1002\tstaff"]
    assert (removed.code, removed.lines) == (0, ["1002 is no longer staff"])
    assert after.lines == ["1001\towner\tAna"]
    operator = f"cli:{getpass.getuser()}"
    assert await audit_trail(database_url) == [
        (operator, "staff.add", {"staff": 1001, "role": "owner"}),
        (operator, "staff.add", {"staff": 1002, "role": "staff"}),
        (operator, "staff.remove", {"staff": 1002}),
    ]


async def test_the_last_owner_and_strangers_cannot_be_removed(tmp_path: Path, database_url: str) -> None:
    db = {"MESSENGER_DATABASE_URL": database_url}
    await messenger(tmp_path, "staff", "add", "1001", "--role", "owner", **db)

    last = await messenger(tmp_path, "staff", "remove", "1001", **db)
    stranger = await messenger(tmp_path, "staff", "remove", "7777", **db)

    assert (last.code, last.lines) == (1, ["Cannot remove: 1001 is the last owner: add another owner first"])
    assert (stranger.code, stranger.lines) == (1, ["Cannot remove: 7777 is not active staff"])
    assert [action for _, action, _ in await audit_trail(database_url)] == ["staff.add"]


async def test_a_bad_user_id_is_refused_before_the_database(tmp_path: Path) -> None:
    outcome = await messenger(tmp_path, "staff", "add", "²")

    assert outcome.code == 2
    assert "Traceback" not in outcome.stderr
    assert not (tmp_path / "m.db").exists()
