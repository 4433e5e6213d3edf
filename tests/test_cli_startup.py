"""`messenger run` as an operator meets it: the real command in a subprocess, its whole output read.

Each start-up failure is one line that names the setting to change, with a documented
exit status, and never a traceback, a password or a token.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.cli_run import PATIENCE, Outcome, messenger, start
from tests.fakes.bot_api import FakeBotApi

TOKEN = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij"
PASSWORD = "s3cret-pw"
CLINIC = {"MESSENGER_CLINIC_NAME": "Valley Clinic", "MESSENGER_CLINIC_PHONE": "555-0100"}
# A cold interpreter per test, seconds each: outside the fast suite.
pytestmark = pytest.mark.slow


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield int(server.getsockname()[1])


def one_sentence(outcome: Outcome, code: int, *needles: str) -> str:
    """The whole output is one line, starting as every start-up failure does."""
    assert outcome.code == code, outcome
    assert len(outcome.lines) == 1, outcome.lines
    (line,) = outcome.lines
    assert line.startswith("messenger cannot start: "), line
    for needle in needles:
        assert needle in line, line
    assert "Traceback" not in line
    return line


async def test_postgresql_unreachable(tmp_path: Path, closed_port: int) -> None:
    url = f"postgresql://clinic:{PASSWORD}@127.0.0.1:{closed_port}/messenger"

    outcome = await messenger(tmp_path, "run", MESSENGER_DATABASE_URL=url, **CLINIC)

    line = one_sentence(outcome, 3, "cannot reach the database", "MESSENGER_DATABASE_URL", f":{closed_port}/")
    assert PASSWORD not in line


async def test_sqlite_file_in_a_missing_folder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no-such-folder' / 'messenger.db'}"

    outcome = await messenger(tmp_path, "run", MESSENGER_DATABASE_URL=url, **CLINIC)

    one_sentence(outcome, 2, "no-such-folder", "does not exist", "MESSENGER_DATABASE_URL")


async def test_telegram_unreachable(tmp_path: Path, closed_port: int) -> None:
    outcome = await messenger(
        tmp_path,
        "run",
        MESSENGER_TELEGRAM_TOKEN=TOKEN,
        MESSENGER_TELEGRAM_BASE_URL=f"http://127.0.0.1:{closed_port}/bot",
        **CLINIC,
    )

    line = one_sentence(outcome, 3, "cannot reach Telegram", "MESSENGER_TELEGRAM_BASE_URL")
    assert TOKEN.split(":")[1] not in line


async def test_a_token_telegram_rejects_is_named_never_printed(tmp_path: Path) -> None:
    async with FakeBotApi() as api:  # it knows another token
        outcome = await messenger(
            tmp_path, "run", MESSENGER_TELEGRAM_TOKEN=TOKEN, MESSENGER_TELEGRAM_BASE_URL=api.base_url, **CLINIC
        )

    line = one_sentence(outcome, 2, "Telegram rejected the bot token", "MESSENGER_TELEGRAM_TOKEN")
    assert TOKEN.split(":")[1] not in outcome.stdout + outcome.stderr
    assert line


async def test_port_in_use_names_the_port_setting(tmp_path: Path, busy_port: int) -> None:
    outcome = await messenger(tmp_path, "run", **{**CLINIC, "MESSENGER_HTTP_PORT": str(busy_port)})

    one_sentence(outcome, 3, f"port {busy_port}", "already in use", "MESSENGER_HTTP_PORT")


async def test_broken_series_file(tmp_path: Path) -> None:
    series = tmp_path / "series"
    series.mkdir()
    (series / "broken.toml").write_text('key = "x"\n[[steps]\n', encoding="utf-8")

    outcome = await messenger(tmp_path, "run", MESSENGER_SERIES_DIR=str(series), **CLINIC)

    one_sentence(outcome, 2, "broken.toml", "MESSENGER_SERIES_DIR")


@pytest.mark.parametrize(
    ("settings", "unset"),
    [
        pytest.param({}, "MESSENGER_CLINIC_NAME and MESSENGER_CLINIC_PHONE are", id="neither"),
        pytest.param({"MESSENGER_CLINIC_NAME": "Valley Clinic"}, "MESSENGER_CLINIC_PHONE is", id="no-phone"),
        pytest.param({"MESSENGER_CLINIC_PHONE": "555-0100"}, "MESSENGER_CLINIC_NAME is", id="no-name"),
    ],
)
async def test_run_refuses_the_article_clinic_unless_set(tmp_path: Path, settings: dict[str, str], unset: str) -> None:
    outcome = await messenger(tmp_path, "run", **settings)

    one_sentence(outcome, 2, f"{unset} not set", "set your clinic's own")


async def test_an_unknown_setting_in_env_file_names_the_closest(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("MESSENGER_CLINIC_NAM=Valley Clinic\n", encoding="utf-8")

    outcome = await messenger(tmp_path, "run", **CLINIC)

    assert outcome.code == 2
    assert outcome.lines == [
        "Configuration error: MESSENGER_CLINIC_NAM (in .env) is not a setting: did you mean MESSENGER_CLINIC_NAME?"
    ]


async def test_an_unknown_setting_in_the_environment_is_an_error(tmp_path: Path) -> None:
    outcome = await messenger(tmp_path, "series", "validate", MESSENGER_OWNERS_IDS="1")

    assert outcome.code == 2
    assert outcome.lines == [
        "Configuration error: MESSENGER_OWNERS_IDS (in the environment) is not a setting: "
        "did you mean MESSENGER_OWNER_IDS?"
    ]


async def test_version(tmp_path: Path) -> None:
    outcome = await messenger(tmp_path, "--version")

    assert outcome.code == 0
    assert outcome.lines == [f"messenger {version('messenger')}"]


async def test_a_useless_start_warns_then_sigterm_stops_it_cleanly(tmp_path: Path) -> None:
    """No token and no owner: it runs, says so loudly, and SIGTERM ends it with status 0."""
    process = await start(tmp_path, "run", "--log-level", "INFO", **CLINIC)
    assert process.stderr is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(PATIENCE):
            while not seen or "messenger is running" not in seen[-1]:
                line = (await process.stderr.readline()).decode()
                assert line, f"ended before running: {seen}"
                seen.append(line)
        process.send_signal(signal.SIGTERM)
        _, rest = await asyncio.wait_for(process.communicate(), PATIENCE)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    output = "".join(seen) + rest.decode()

    assert process.returncode == 0, output
    warnings = [line for line in output.splitlines() if " WARNING " in line]
    assert any("Telegram is off (MESSENGER_TELEGRAM_TOKEN is not set)" in line for line in warnings), output
    assert any("no staff owner exists" in line and "MESSENGER_OWNER_IDS" in line for line in warnings), output
    assert "Traceback" not in output
