"""Run the real ``messenger`` command in a subprocess and read its whole output."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

# Long enough for a cold interpreter on a busy machine; a passing run takes about a second.
PATIENCE = 120.0


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return (self.stdout + self.stderr).strip().splitlines()


def command_env(workdir: Path, **settings: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MESSENGER_")}
    env.update({"MESSENGER_HTTP_PORT": "0", "MESSENGER_LOG_LEVEL": "WARNING", "COLUMNS": "80"})
    env.update(settings)
    env["MESSENGER_DATABASE_URL"] = settings.get("MESSENGER_DATABASE_URL", f"sqlite:///{workdir / 'm.db'}")
    return env


async def start(workdir: Path, *args: str, **settings: str) -> asyncio.subprocess.Process:
    """``messenger ARGS`` started with only ``settings`` (and a SQLite file in ``workdir``), output piped."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "messenger",
        *args,
        cwd=workdir,
        env=command_env(workdir, **settings),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def messenger(workdir: Path, *args: str, **settings: str) -> Outcome:
    """Run ``messenger ARGS`` to the end."""
    process = await start(workdir, *args, **settings)
    out, err = await asyncio.wait_for(process.communicate(), PATIENCE)
    assert process.returncode is not None
    return Outcome(process.returncode, out.decode(), err.decode())
