"""Why ``messenger run`` cannot start, in one sentence naming the setting to change.

An operator reads these on a terminal or in ``docker logs``: one line each, with the
setting to change, never a stack trace, a password or a token. The exit status says
which kind of problem it is (documented in the README):

* 2 — a setting is wrong or missing (the operator must change configuration);
* 3 — something outside is unreachable or busy (database, Telegram, the port);
* 1 — anything else (the log has the detail, redacted).
"""

from __future__ import annotations

import errno
import sqlite3
from enum import IntEnum
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from telegram.error import InvalidToken, NetworkError, TelegramError

from messenger.config import DEFAULT_CLINIC_NAME, DEFAULT_CLINIC_PHONE, Settings
from messenger.domain.series import SeriesDefinitionError
from messenger.migrations import UnversionedDatabaseError, display_url
from messenger.observability.logging import redact

__all__ = ["ExitCode", "StartupFailure", "explain_failure", "preflight"]

TELEGRAM_API = "https://api.telegram.org/bot"


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    CONFIGURATION = 2
    UNREACHABLE = 3


class StartupFailure(Exception):
    """One sentence for the operator, and the exit status it ends the command with."""

    def __init__(self, sentence: str, code: ExitCode = ExitCode.CONFIGURATION) -> None:
        super().__init__(sentence)
        self.sentence, self.code = sentence, code


def preflight(settings: Settings) -> None:
    """Refuse what is sure to fail or to mislead patients, before anything starts."""
    unset = [
        name
        for name, field, article in (
            ("MESSENGER_CLINIC_NAME", "clinic_name", DEFAULT_CLINIC_NAME),
            ("MESSENGER_CLINIC_PHONE", "clinic_phone", DEFAULT_CLINIC_PHONE),
        )
        if field not in settings.model_fields_set and getattr(settings, field) == article
    ]
    if unset:
        raise StartupFailure(
            f"{' and '.join(unset)} {'is' if len(unset) == 1 else 'are'} not set: patients"
            " would be shown the name and phone number of the clinic the shipped article comes from;"
            " set your clinic's own"
        )
    folder = sqlite_folder(settings.database_url)
    if folder is not None and not folder.is_dir():
        raise StartupFailure(
            f"the folder {folder} for the SQLite database does not exist: create it or change MESSENGER_DATABASE_URL"
        )


def sqlite_folder(url: str) -> Path | None:
    """The folder a SQLite file database lives in (None for PostgreSQL or an in-memory database)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database).expanduser().resolve().parent


def explain_failure(exc: BaseException, settings: Settings) -> StartupFailure | None:
    """The sentence for a start-up failure we know; None for one we do not."""
    if isinstance(exc, StartupFailure):
        return exc
    if isinstance(exc, SeriesDefinitionError):
        return StartupFailure(f"a series definition is broken ({exc}): fix the file or MESSENGER_SERIES_DIR")
    if isinstance(exc, InvalidToken):
        return StartupFailure(
            "Telegram rejected the bot token: set MESSENGER_TELEGRAM_TOKEN to the token BotFather gave you"
        )
    if isinstance(exc, NetworkError | TelegramError):
        base = settings.telegram_base_url or TELEGRAM_API
        return StartupFailure(
            f"cannot reach Telegram at {base.split('/bot')[0]} ({_reason(exc)}): "
            "check the network, or MESSENGER_TELEGRAM_BASE_URL",
            ExitCode.UNREACHABLE,
        )
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return StartupFailure(
            f"port {settings.http_port} on {settings.http_host} is already in use: "
            "set MESSENGER_HTTP_PORT to a free port, or stop the program using it",
            ExitCode.UNREACHABLE,
        )
    if isinstance(exc, UnversionedDatabaseError):
        return StartupFailure(str(exc))
    if isinstance(exc, SQLAlchemyError | OSError | sqlite3.Error) or _is_driver_error(exc):
        where = display_url(settings.database_url)
        return StartupFailure(
            f"cannot reach the database at {where} ({_reason(exc)}): check MESSENGER_DATABASE_URL "
            "and that the database server runs",
            ExitCode.UNREACHABLE,
        )
    return None


def _is_driver_error(exc: BaseException) -> bool:
    # asyncpg's own errors (a refused password, a missing database) are not SQLAlchemy's.
    return type(exc).__module__.split(".")[0] in {"asyncpg", "aiosqlite", "psycopg"}


def _reason(exc: BaseException) -> str:
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    return redact(text[:200])
