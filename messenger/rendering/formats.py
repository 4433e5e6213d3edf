"""Dates and times as a person reads them, through Babel, in the patient's language and the clinic's convention.

The clinic sets its convention once (``MESSENGER_LOCALE``, e.g. ``en_US``); a patient's language
(``es``) takes the clinic's territory, so a Spanish-speaking patient of a California clinic reads
``es_US``: "jueves, 3 de diciembre" and "10:00 a.m.".
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_skeleton, format_time

__all__ = ["LocalFormats", "babel_locale", "formats_for"]

# CLDR separates a time from its AM/PM marker (and "a." from "m.") with no-break spaces. They are
# outside the GSM-7 alphabet, so one of them would turn a whole SMS into UCS-2: plain spaces read the same.
_SPACES = str.maketrans({"\u202f": " ", "\u00a0": " "})


def babel_locale(text: str) -> Locale:
    """``en_US``, ``es-US`` or ``es`` as a Babel locale; ``ValueError`` for one Babel does not know."""
    try:
        return Locale.parse(text.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError) as exc:
        raise ValueError(f"unknown locale {text!r} (expected e.g. en_US or es_US)") from exc


@dataclass(frozen=True, slots=True)
class LocalFormats:
    locale: Locale

    def date(self, local: datetime) -> str:
        """The weekday and the day of the month: "Thursday, December 3", "jueves, 3 de diciembre"."""
        weekday = format_date(local, "EEEE", locale=self.locale)
        return f"{weekday}, {self.month_day(local)}".translate(_SPACES)

    def month_day(self, local: datetime) -> str:
        return format_skeleton("MMMMd", local, locale=self.locale).translate(_SPACES)

    def short_date(self, local: datetime) -> str:
        """Month and day, short, for SMS: "Dec 5", "5 dic" (no weekday: "sáb" alone would force UCS-2)."""
        return format_skeleton("MMMd", local, locale=self.locale).translate(_SPACES)

    def weekday(self, local: datetime) -> str:
        return format_date(local, "EEEE", locale=self.locale)

    def time(self, local: datetime) -> str:
        """The time of day in the locale's clock: "10:00 AM", "10:00 a.m.", "10:00"."""
        return format_time(local, "short", locale=self.locale).translate(_SPACES)

    def stamp(self, local: datetime) -> str:
        """A full instant for staff cards: "Tue, Dec 1, 2026, 10:00 AM PST"."""
        day = format_skeleton("yMMMEd", local, locale=self.locale)
        return f"{day}, {self.time(local)} {local.tzname()}".translate(_SPACES)


@lru_cache(maxsize=64)
def formats_for(language: str, clinic_locale: str = "en_US") -> LocalFormats:
    """The formats for a patient who reads ``language`` at a clinic of ``clinic_locale``.

    A language without a territory takes the clinic's (``es`` at an ``en_US`` clinic → ``es_US``);
    one Babel does not know falls back to the clinic's convention.
    """
    clinic = babel_locale(clinic_locale)
    try:
        own = babel_locale(language)
    except ValueError:
        return LocalFormats(clinic)
    if own.territory is None and clinic.territory is not None:
        with contextlib.suppress(ValueError):  # Babel has no such pair: the language alone
            own = babel_locale(f"{own.language}_{clinic.territory}")
    return LocalFormats(own)
