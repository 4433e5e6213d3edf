"""Limits on what comes in from outside: ids, zones, free text, dates, and what is echoed back.

Every parser that reads a person's or a provider's input checks it against these before
anything reaches the database, so a hostile value is refused with a sentence instead of
failing deep inside (``"²".isdigit()`` is true, ``int("²")`` is not; PostgreSQL refuses NUL in
text and ids past 2**31 - 1 in an ``integer`` column).
"""

from __future__ import annotations

import functools
import re
import unicodedata
import zoneinfo
from datetime import datetime

# Row ids are PostgreSQL ``integer`` columns (and SQLite accepts at most 2**63 - 1).
MAX_ROW_ID = 2**31 - 1
# Telegram user and chat ids are stored in ``bigint`` columns; Telegram says they fit in 52 bits.
MAX_TELEGRAM_ID = 2**52
# The longest IANA zone name is 32 characters (America/Argentina/ComodRivadavia).
MAX_ZONE_LENGTH = 64
MAX_NAME_LENGTH = 200
# A free field (a value in ``key=value``, a patient's message) is cut or refused past this.
MAX_FIELD_LENGTH = 1000
MAX_FREE_TEXT_LENGTH = 3000
# An echoed value in an error reply: enough to recognise, never enough to flood a chat.
MAX_ECHO_LENGTH = 60
# Dates a person types: a series runs within weeks of today, never in year 1 or 9999.
MIN_YEAR, MAX_YEAR = 2000, 2100
# Telegram: a message is at most 4,096 characters after entity parsing.
MAX_MESSAGE_LENGTH = 4096

_ASCII_DIGITS = re.compile(r"[0-9]+")
# Control characters (category Cc: NUL, escapes), lone surrogates, and the bidi embeddings,
# overrides and isolates that make a name read differently from what it holds, other than the
# line breaks and tabs people type. Other format characters stay: emoji sequences need U+200D,
# and code points newer than Python's Unicode tables (new emoji) must not be refused.
_ALLOWED_CONTROLS = {"\n", "\r", "\t"}
_BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _is_control(character: str) -> bool:
    if character in _ALLOWED_CONTROLS:
        return False
    return character in _BIDI_CONTROLS or unicodedata.category(character) in {"Cc", "Cs"}


def ascii_int(text: str, *, maximum: int = MAX_ROW_ID) -> int | None:
    """``text`` as a positive integer of ASCII digits up to ``maximum``; None for anything else."""
    if len(text) > len(str(maximum)) or not _ASCII_DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if 0 < value <= maximum else None


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds NUL, another control character or a bidi override (line breaks and tabs are fine)."""
    return any(_is_control(c) for c in text)


def without_control_characters(text: str) -> str:
    """``text`` with control characters (but line breaks and tabs) removed, for text that is kept as sent."""
    return "".join(c for c in text if not _is_control(c))


@functools.cache
def iana_zones() -> frozenset[str]:
    """Every IANA zone name the system knows (read once; the tz database does not change while running)."""
    return frozenset(zoneinfo.available_timezones())


def known_zone(name: str) -> bool:
    """Whether ``name`` is an IANA zone (not a folder such as ``America``, not a path, not markup)."""
    return len(name) <= MAX_ZONE_LENGTH and name in iana_zones()


def sane_year(moment: datetime) -> bool:
    return MIN_YEAR <= moment.year <= MAX_YEAR


def echo(text: str, limit: int = MAX_ECHO_LENGTH) -> str:
    """``text`` as it may be repeated to a person: one line, control characters dropped, cut with an ellipsis."""
    flat = " ".join(without_control_characters(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def split_message(text: str, limit: int = MAX_MESSAGE_LENGTH) -> list[str]:
    """``text`` in parts of at most ``limit`` characters, cut at line breaks where there are any.

    Replies are built line by line (a list, a card), so a line break never falls inside an HTML
    tag; a single line longer than ``limit`` is cut where it must be.
    """
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            parts.append(current)
            candidate = line
        current = candidate
    if current or not parts:
        parts.append(current)
    return parts
