"""The limits every parser applies, as a table of labelled cases."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from messenger.bot import parsing
from messenger.bot.keyboards import Callback
from messenger.bot.parsing import InputError
from messenger.domain import bounds


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("12", 12, id="plain"),
        pytest.param("²", None, id="superscript-two"),
        pytest.param("٣", None, id="arabic-indic-three"),
        pytest.param("0", None, id="zero"),
        pytest.param("2147483647", 2**31 - 1, id="int32-max"),
        pytest.param("2147483648", None, id="past-int32"),
        pytest.param("9" * 40, None, id="forty-digits"),
        pytest.param(" 1", None, id="space"),
        pytest.param("1\n", None, id="newline"),
    ],
)
def test_ascii_int(text, expected):
    assert bounds.ascii_int(text) == expected


@pytest.mark.parametrize(
    ("name", "known"),
    [
        pytest.param("Europe/Berlin", True, id="iana"),
        pytest.param("UTC", True, id="utc"),
        pytest.param("America", False, id="folder"),
        pytest.param("../../etc/passwd", False, id="path"),
        pytest.param("A/" * 150, False, id="300-characters"),
        pytest.param("<b>x</b>", False, id="markup"),
        pytest.param("Europe/Berlin\x00", False, id="nul"),
    ],
)
def test_known_zone(name, known):
    assert bounds.known_zone(name) is known


def test_split_message_keeps_every_line_and_respects_the_limit():
    text = "\n".join(f"line {n} " + "x" * 50 for n in range(300))
    parts = bounds.split_message(text, limit=1000)
    assert all(len(p) <= 1000 for p in parts)
    assert "\n".join(parts) == text


def test_split_message_cuts_one_overlong_line():
    parts = bounds.split_message("y" * 9000)
    assert [len(p) for p in parts] == [4096, 4096, 808]


def test_echo_is_short_and_flat():
    assert bounds.echo("a\x00b\nc" + "z" * 100) == "ab c" + "z" * 55 + "…"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        pytest.param("9999-12-31 10:00", "input.date_out_of_range", id="year-9999"),
        pytest.param("0001-01-01 00:00", "input.date_out_of_range", id="year-1"),
        pytest.param("２０２６-12-01 10:00", "bad_datetime", id="fullwidth-digits"),
    ],
)
def test_dates_out_of_range_are_refused(text, code):
    with pytest.raises(InputError) as refused:
        parsing.local_datetime(text, ZoneInfo("UTC"))
    assert refused.value.code == code


def test_a_sane_date_is_read():
    assert parsing.local_datetime("2026-12-01 10:00", ZoneInfo("UTC")) == datetime(
        2026, 12, 1, 10, tzinfo=ZoneInfo("UTC")
    )


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('name="a\x00b"', id="nul"),
        pytest.param("name=\x1b[31mred", id="escape"),
        pytest.param("name=a\u202eb", id="bidi-override"),
    ],
)
def test_control_characters_are_refused_at_the_edge(text):
    with pytest.raises(InputError) as refused:
        parsing.key_values(text, parsing.ENROL_KEYS)
    assert refused.value.code == "input.control_characters"


@pytest.mark.parametrize(
    ("data", "decoded"),
    [
        pytest.param("r:12:y", Callback("r", 12, "y"), id="reminder"),
        pytest.param("e:0:tz1", Callback("e", 0, "tz1"), id="conversation"),
        pytest.param("r:²:y", None, id="unicode-digit"),
        pytest.param("r:99999999999:y", None, id="past-int32"),
        pytest.param("r:1:" + "y" * 70, None, id="over-64-bytes"),
        pytest.param(None, None, id="none"),
    ],
)
def test_callback_data(data, decoded):
    assert Callback.decode(data) == decoded


def test_phone_digits_are_ascii():
    with pytest.raises(InputError):
        parsing.phone("+1٥٥٥1234567", "US")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("👨\u200d👩\u200d👧", id="emoji-zwj-sequence"),
        pytest.param("\U000e0001", id="tag-character"),
        pytest.param("\U0001fadf", id="newer-emoji-than-the-unicode-tables"),
        pytest.param("\ue000", id="private-use"),
        pytest.param("line one\nline two\ttab", id="line-breaks-and-tabs"),
    ],
)
def test_what_people_really_type_is_kept(text):
    assert not bounds.has_control_characters(text)
    assert bounds.without_control_characters(text) == text
