"""Parsing what staff type: ``key=value`` pairs with shell-style quoting, dates, ids."""

from __future__ import annotations

import re
import shlex
from datetime import datetime
from zoneinfo import ZoneInfo

from messenger.domain.timing import from_wall
from messenger.services.errors import ServiceError

ENROL_KEYS = ("name", "first", "tz", "series", "lang", "phone", "email", "whatsapp", "infusions")
_PHONE = re.compile(r"^\+[1-9]\d{7,14}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LOCALE = re.compile(r"^[a-z]{2}(?:[-_][A-Za-z]{2})?$")
DATETIME_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S")


class InputError(ServiceError):
    """Input that cannot be understood; ``code`` names the bot string ``staff.<code>``."""


def key_values(text: str, allowed: tuple[str, ...]) -> dict[str, str]:
    try:
        tokens = shlex.split(text)
    except ValueError:
        # shlex explains in English; the staff string says the same for every locale.
        raise InputError("bad_quoting") from None
    pairs: dict[str, str] = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        key = key.strip().lower()
        if not sep or key not in allowed:
            raise InputError("unknown_key", key=key or token, allowed=", ".join(allowed))
        pairs[key] = value.strip()
    return pairs


def local_datetime(text: str, zone: ZoneInfo) -> datetime:
    """``YYYY-MM-DD HH:MM`` in ``zone`` → an aware UTC instant."""
    cleaned = " ".join(text.split())
    for fmt in DATETIME_FORMATS:
        try:
            # Staff type wall-clock time in the patient's zone: naive on purpose, made aware by from_wall.
            return from_wall(datetime.strptime(cleaned, fmt), zone)  # noqa: DTZ007
        except ValueError:
            continue
    raise InputError("bad_datetime", value=text)


def datetimes(text: str, zone: ZoneInfo) -> list[datetime]:
    return [local_datetime(part, zone) for part in text.split(",") if part.strip()]


def positive_int(text: str) -> int:
    value = text.strip().lstrip("#")
    if not value.isdigit() or int(value) <= 0 or len(value) > 18:
        raise InputError("bad_number", value=text)
    return int(value)


def phone(text: str) -> str:
    number = re.sub(r"[\s().-]", "", text)
    if not _PHONE.match(number):
        raise InputError("bad_phone", value=text)
    return number


def email(text: str) -> str:
    if not _EMAIL.match(text.strip()) or len(text) > 320:
        raise InputError("bad_email", value=text)
    return text.strip()


def locale(text: str) -> str:
    if not _LOCALE.match(text):
        raise InputError("bad_locale", value=text)
    return text
