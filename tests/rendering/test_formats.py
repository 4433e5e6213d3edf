"""Dates and times as a person reads them, per language and clinic convention (Babel)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from messenger.config import Settings
from messenger.rendering.formats import formats_for
from messenger.rendering.sms import sms_segments

LA = ZoneInfo("America/Los_Angeles")
THURSDAY = datetime(2026, 12, 3, 10, 0, tzinfo=LA)
SATURDAY_1PM = datetime(2026, 12, 5, 13, 0, tzinfo=LA)


@pytest.mark.parametrize(
    ("language", "clinic", "date", "time"),
    [
        pytest.param("en", "en_US", "Thursday, December 3", "10:00 AM", id="us-english"),
        pytest.param("es", "en_US", "jueves, 3 de diciembre", "10:00 a.m.", id="spanish-at-a-us-clinic"),
        pytest.param("es-MX", "en_US", "jueves, 3 de diciembre", "10:00 a.m.", id="own-territory-wins"),
        pytest.param("en", "en_GB", "Thursday, 3 December", "10:00", id="british-clinic"),
        pytest.param("xx", "en_US", "Thursday, December 3", "10:00 AM", id="unknown-language-takes-the-clinics"),
    ],
)
def test_dates_follow_the_language_and_the_clinics_convention(language, clinic, date, time):
    formats = formats_for(language, clinic)

    assert (formats.date(THURSDAY), formats.time(THURSDAY)) == (date, time)


def test_no_break_spaces_become_spaces_so_sms_stays_gsm7():
    formats = formats_for("es", "en_US")
    text = f"{formats.short_date(SATURDAY_1PM)} {formats.time(SATURDAY_1PM)}"

    assert text == "5 dic 1:00 p.m."
    assert sms_segments(text).encoding == "GSM-7"


def test_staff_read_a_full_stamp_in_the_clinics_convention():
    assert formats_for("en", "en_US").stamp(THURSDAY) == "Thu, Dec 3, 2026, 10:00 AM PST"


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        pytest.param("locale", "xx_YY", "unknown locale", id="bad-locale"),
        pytest.param("phone_region", "ZZ", "unknown phone region", id="bad-region"),
    ],
)
def test_settings_refuse_an_unknown_locale_or_region(field, value, error):
    with pytest.raises(ValueError, match=error):
        Settings(_env_file=None, **{field: value})


def test_settings_normalise_locale_and_region():
    settings = Settings(_env_file=None, locale="es-US", phone_region="us")

    assert (settings.locale, settings.phone_region) == ("es_US", "US")
