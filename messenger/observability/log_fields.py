"""The ids a log line is about, carried as fields of the record, not only inside its text.

A log shipper can then find every line about one patient, message or series by a field
(``patient_id=12``), whatever the wording. The ids live in a context variable: work on
one message binds them once (:func:`log_fields`), and every line logged inside it, by
any module or library, carries them. Ids identify no one outside the database, so they
need no redaction; names, addresses and texts are never bound here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["FIELDS", "LogFieldsFilter", "bind_log_fields", "log_fields"]

FIELDS = ("patient_id", "series_id", "message_id")

_bound: ContextVar[dict[str, int] | None] = ContextVar("messenger_log_fields", default=None)


def bind_log_fields(**ids: int | None) -> None:
    """Add ids for the rest of the enclosing :func:`log_fields` block (or task)."""
    _bound.set({**(_bound.get() or {}), **{key: value for key, value in ids.items() if value is not None}})


@contextmanager
def log_fields(**ids: int | None) -> Iterator[None]:
    """Every record logged inside carries ``ids`` (None values are left out)."""
    token = _bound.set(_bound.get())
    bind_log_fields(**ids)
    try:
        yield
    finally:
        _bound.reset(token)


def current_log_fields() -> dict[str, int]:
    return dict(_bound.get() or {})


class LogFieldsFilter(logging.Filter):
    """Copies the bound ids onto each record; an explicit ``extra=`` of the same name wins."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_bound.get() or {}).items():
            if key not in record.__dict__:
                setattr(record, key, value)
        return True


class HumanFormatter(logging.Formatter):
    """The human format, with the bound ids appended: ``… [patient_id=3 message_id=17]``."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = " ".join(f"{key}={record.__dict__[key]}" for key in FIELDS if key in record.__dict__)
        if not ids:
            return text
        head, newline, rest = text.partition("\n")  # after the message, before a traceback
        return f"{head} [{ids}]{newline}{rest}"
