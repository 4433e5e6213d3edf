"""Settings read the environment and refuse what cannot work, with a sentence naming the setting."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from messenger.cli import app as cli
from messenger.config import Settings, async_database_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("sqlite:///messenger.db", "sqlite+aiosqlite:///messenger.db", id="sqlite"),
        pytest.param("postgresql://u:p@db:5432/m", "postgresql+asyncpg://u:p@db:5432/m", id="postgresql"),
        pytest.param("postgres://u:p@db/m", "postgresql+asyncpg://u:p@db/m", id="postgres-alias"),
        pytest.param("postgresql+asyncpg://u@db/m", "postgresql+asyncpg://u@db/m", id="explicit-driver"),
    ],
)
def test_urls_as_people_write_them_get_the_async_driver(url, expected):
    assert async_database_url(url) == expected


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        pytest.param("MESSENGER_DATABASE_URL", "not a url", "not a database URL", id="bad-url"),
        pytest.param("MESSENGER_DATABASE_URL", "mysql://u@h/db", "unsupported database", id="unsupported-db"),
        pytest.param("MESSENGER_DEFAULT_TIMEZONE", "Mars/Base", "unknown time zone", id="bad-zone"),
        pytest.param("MESSENGER_TELEGRAM_TOKEN", "changeme", "placeholder", id="placeholder-token"),
        pytest.param("MESSENGER_OWNER_IDS", "12,abc", "MESSENGER_OWNER_IDS", id="bad-owner-id"),
    ],
)
def test_bad_settings_stop_the_command_with_a_clear_sentence(variable, value, message):
    result = CliRunner().invoke(cli, ["series", "validate"], env={variable: value})

    assert result.exit_code == 2
    assert "Configuration error" in result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("MESSENGER_OWNER_IDS", "11, 22")
    monkeypatch.setenv("MESSENGER_TELEGRAM_TOKEN", "123:abc")
    monkeypatch.setenv("MESSENGER_CLINIC_NAME", "Valley Pain Clinic")

    settings = Settings(_env_file=None)  # type: ignore[call-arg]

    assert settings.owner_ids == [11, 22]
    assert settings.telegram_token is not None and settings.telegram_token.get_secret_value() == "123:abc"
    assert "123:abc" not in repr(settings)
    assert settings.clinic_name == "Valley Pain Clinic"
    assert settings.database_url == "sqlite:///messenger.db"
