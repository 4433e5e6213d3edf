"""Process logging: one handler on the root logger, human or JSON lines, always redacted.

Log lines leave the process (journald, a log shipper, a support ticket), so nothing
that identifies a patient or unlocks an account may reach them. :class:`RedactingFilter`
sits on the handler and rewrites every record's final text, arguments and traceback
included, before any formatter sees it:

* Telegram bot tokens (``123456:ABC…``, also inside ``/bot<token>/getUpdates`` URLs) → ``[token]``
* passwords in URLs (``scheme://user:password@host``), ``auth_token=…``,
  ``X-Twilio-Signature: …`` and ``Authorization: …`` values → ``[secret]``
* e-mail addresses → ``[email]``
* phone numbers: E.164 (``+14155550100``, also written ``+1 (949) 503-1414`` or URL-encoded
  ``%2B14155550100``) and North American national forms (``949-503-1414``, ``(949) 503-1414``,
  ``949.503.1414``) → ``[phone]``

Ordinary numbers stay readable: ids, counts, durations, dates, times and offsets.
National numbers written with bare spaces (``030 1234567``) cannot be told from
ordinary numbers and are not recognised; addresses are logged by id, not by value.
"""

from __future__ import annotations

import json as jsonlib
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from messenger.observability.log_fields import HumanFormatter, LogFieldsFilter

__all__ = ["JsonFormatter", "RedactingFilter", "configure_logging", "redact"]

HUMAN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Libraries that log every request or job run at INFO: noise at our volume, and their
# request lines carry URLs (Telegram's carry the bot token).
NOISY_LOGGERS = ("apscheduler", "httpx", "httpcore", "aiosqlite")

# Keep the name of a secret, replace its value.
_NAMED_SECRET = re.compile(
    r"""(?ix)
    (\b(?:auth[_-]?token|x-twilio-signature)["']?\s*[:=]\s*["']?)
    [^\s"'&,;)}\[\]]+
    """
)
_AUTHORIZATION = re.compile(
    r"""(?ix)
    (\b(?:proxy-)?authorization["']?\s*[:=]\s*["']?(?:(?:basic|bearer|token)\s+)?)
    [^\s"',;)}\[\]]+
    """
)
_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s/:@\"']*:)[^\s/@\"']+(@)")
_TOKEN = re.compile(r"\d{5,}(?::|%3[Aa])[A-Za-z0-9_-]{30,}")
# Also URL-encoded (``%40``, ``%2B``), as in the form bodies of provider webhooks.
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+(?:@|%40)(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}")
# E.164: "+", then 8–15 digits, optionally grouped by spaces, dots, dashes or brackets.
_PHONE_INTERNATIONAL = re.compile(r"(?:(?<![\w+])\+|%2[Bb])\d(?:[ .()-]{0,2}\d){7,14}(?!\d)")
# North American national forms. Groups must be separated the way people write them,
# so ISO dates (2026-12-01), times and plain counts never match.
_PHONE_NATIONAL = re.compile(
    r"""(?x)
    (?<![\w.+-])
    (?:1[ .-])?
    (?: \(\d{3}\)\ ?\d{3}[ .-]\d{4}
      | \d{3}-\d{3}-\d{4}
      | \d{3}\.\d{3}\.\d{4}
    )
    (?![\w-])(?!\.\d)
    """
)

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (_TOKEN, "[token]"),
    (_URL_PASSWORD, r"\1[secret]\2"),
    (_NAMED_SECRET, r"\1[secret]"),
    (_AUTHORIZATION, r"\1[secret]"),
    (_EMAIL, "[email]"),
    (_PHONE_INTERNATIONAL, "[phone]"),
    (_PHONE_NATIONAL, "[phone]"),
)


def redact(text: str) -> str:
    """``text`` with bot tokens, secrets, e-mail addresses and phone numbers replaced."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(item) for item in value]
    return value


_traceback_formatter = logging.Formatter()


class RedactingFilter(logging.Filter):
    """Rewrites a record's final message, traceback and stack text through :func:`redact`.

    Install it on a handler (not a logger): handler filters see records propagated
    from every logger, a logger's filters only its own.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # bad arguments: keep the line, never let the raw args through unredacted
            message = f"{record.msg!s} [could not format arguments {record.args!r}]"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = _traceback_formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's ANSI-coloured duplicate of the message
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts`` (ISO-8601 UTC), ``level``, ``logger``, ``message``,
    ``exc`` (a traceback, if any) and any JSON-serialisable ``extra=`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            payload["exc"] = record.exc_text
        if record.stack_info:
            payload["stack"] = record.stack_info
        for key, value in record.__dict__.items():
            if key in _RECORD_ATTRIBUTES or key in payload or key.startswith("_"):
                continue
            value = _redact_value(value)
            try:
                jsonlib.dumps(value, allow_nan=False)
            except (TypeError, ValueError):
                continue
            payload[key] = value
        return jsonlib.dumps(payload, ensure_ascii=False)


class _Handler(logging.StreamHandler[TextIO]):
    """The handler :func:`configure_logging` installs (so a second call can replace it)."""


def configure_logging(*, level: str = "INFO", json: bool = False, stream: TextIO | None = None) -> None:
    """Send all logging to one redacting handler on the root logger (stderr unless ``stream``).

    Calling it again replaces the handler an earlier call (or :func:`logging.basicConfig`)
    installed; handlers others attached (a test runner's) are left in place.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r} (expected DEBUG, INFO, WARNING, ERROR or CRITICAL)")
    handler = _Handler(stream if stream is not None else sys.stderr)
    handler.addFilter(LogFieldsFilter())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if json else HumanFormatter(HUMAN_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        if isinstance(old, _Handler) or type(old) is logging.StreamHandler:
            root.removeHandler(old)
            if isinstance(old, _Handler):
                old.close()
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
