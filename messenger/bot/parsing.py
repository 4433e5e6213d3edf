"""Parsing what staff type: ``key=value`` pairs with shell-style quoting, dates, ids."""

from __future__ import annotations

import re
import shlex
from datetime import datetime
from zoneinfo import ZoneInfo

from messenger.domain import bounds
from messenger.domain.addresses import Phone, normal_email, parse_phone
from messenger.domain.timing import from_wall
from messenger.services.errors import ServiceError

ENROL_KEYS = ("name", "first", "tz", "series", "lang", "phone", "email", "whatsapp", "infusions")
_LOCALE = re.compile(r"[a-z]{2}(?:[-_][A-Za-z]{2})?")
DATETIME_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S")


class InputError(ServiceError):
    """Input that cannot be understood; ``code`` names the bot string ``staff.<code>``."""


def key_values(text: str, allowed: tuple[str, ...]) -> dict[str, str]:
    """``key=value`` pairs, each key one of ``allowed``, each value free of control characters and bounded."""
    refuse_control_characters(text)
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
        limit = bounds.MAX_NAME_LENGTH if key == "name" else bounds.MAX_FIELD_LENGTH
        if len(value.strip()) > limit:
            raise InputError("input.too_long", key=key, limit=limit)
        pairs[key] = value.strip()
    return pairs


def refuse_control_characters(text: str) -> None:
    """NUL and other control characters are refused at the edge, before any value is stored."""
    if bounds.has_control_characters(text):
        raise InputError("input.control_characters")


def name(text: str) -> str:
    """A patient's name: one line, no control characters, at most 200 characters."""
    refuse_control_characters(text)
    cleaned = " ".join(text.split())
    if not cleaned:
        raise InputError("missing_key", key="name")
    if len(cleaned) > bounds.MAX_NAME_LENGTH:
        raise InputError("input.too_long", key="name", limit=bounds.MAX_NAME_LENGTH)
    return cleaned


def local_datetime(text: str, zone: ZoneInfo) -> datetime:
    """``YYYY-MM-DD HH:MM`` in ``zone`` → an aware UTC instant."""
    cleaned = " ".join(text.split())
    # strptime's digits are Unicode digits: "２０２６" would pass as a year.
    if not cleaned.isascii():
        raise InputError("bad_datetime", value=text)
    for fmt in DATETIME_FORMATS:
        try:
            # Staff type wall-clock time in the patient's zone: naive on purpose, made aware by from_wall.
            wall = datetime.strptime(cleaned, fmt)  # noqa: DTZ007
        except ValueError:
            continue
        # Years near 1 or 9999 overflow once a zone offset or a series' spacing is added.
        if not bounds.sane_year(wall):
            raise InputError("input.date_out_of_range", low=bounds.MIN_YEAR, high=bounds.MAX_YEAR)
        return from_wall(wall, zone)
    raise InputError("bad_datetime", value=text)


def datetimes(text: str, zone: ZoneInfo) -> list[datetime]:
    return [local_datetime(part, zone) for part in text.split(",") if part.strip()]


def positive_int(text: str, *, maximum: int = bounds.MAX_ROW_ID) -> int:
    """A row id (or a count): ASCII digits only, ``#`` allowed in front, within the database's integer range."""
    value = bounds.ascii_int(text.strip().removeprefix("#"), maximum=maximum)
    if value is None:
        raise InputError("bad_number", value=text)
    return value


def telegram_id(text: str) -> int:
    """A Telegram user id, as staff type it to add or remove a colleague."""
    return positive_int(text, maximum=bounds.MAX_TELEGRAM_ID)


def phone(text: str, region: str) -> Phone:
    """A number as staff type it, national formats read in the clinic's ``region``."""
    # Digits of other scripts ("٥٥٥") would be read as numbers by phonenumbers: only ASCII ones are typed here.
    typed = len(text) <= bounds.MAX_FIELD_LENGTH and not bounds.has_control_characters(text)
    number = parse_phone(text, region) if typed and all(c.isascii() for c in text if c.isdigit()) else None
    if number is None:
        raise InputError("bad_phone", value=text)
    return number


def email(text: str) -> str:
    address = None if len(text) > 320 or bounds.has_control_characters(text) else normal_email(text)
    if address is None:
        raise InputError("bad_email", value=text)
    return address


def locale(text: str) -> str:
    if not _LOCALE.fullmatch(text):
        raise InputError("bad_locale", value=text)
    return text


def language(text: str, known: list[str]) -> str:
    """A language the templates speak (``es``, ``es-US`` → ``es``)."""
    base = locale(text.strip()).replace("-", "_").split("_")[0].lower()
    if base not in known:
        raise InputError("unknown_language", value=text, known=", ".join(known))
    return base
