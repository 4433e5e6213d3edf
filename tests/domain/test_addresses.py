"""Phone numbers and e-mail addresses as staff type them."""

from __future__ import annotations

import pytest

from messenger.domain.addresses import LineType, fixed_lines, normal_email, parse_phone


@pytest.mark.parametrize(
    ("typed", "e164"),
    [
        pytest.param("(949) 555-0142", "+19495550142", id="us-national"),
        pytest.param("949-503-1414", "+19495031414", id="us-dashes"),
        pytest.param("949.503.1414", "+19495031414", id="us-dots"),
        pytest.param("1 (949) 503-1414", "+19495031414", id="us-with-trunk-prefix"),
        pytest.param("+1 949 503 1414", "+19495031414", id="international"),
        pytest.param("+44 20 7183 8750", "+442071838750", id="abroad"),
    ],
)
def test_national_and_international_numbers_are_stored_e164(typed, e164):
    phone = parse_phone(typed, "US")

    assert phone is not None and phone.e164 == e164


@pytest.mark.parametrize("typed", ["12345", "", "call me", "+1 949 503 14", "9" * 50])
def test_what_is_not_a_number_is_refused(typed):
    assert parse_phone(typed, "US") is None


def test_a_fixed_line_is_told_from_a_mobile():
    assert parse_phone("+44 20 7183 8750", "US").line is LineType.FIXED_LINE  # type: ignore[union-attr]
    assert parse_phone("+44 7911 123456", "US").line is LineType.MOBILE  # type: ignore[union-attr]
    # North American numbers do not say which they are: not flagged.
    assert fixed_lines(["(949) 555-0142", "+44 20 7183 8750", "+44 7911 123456"], "US") == ["+442071838750"]


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        pytest.param(" Ana@Example.ORG ", "Ana@example.org", id="domain-lower-cased"),
        pytest.param("ana@", None, id="no-domain"),
        pytest.param("ana@example", None, id="no-dot"),
        pytest.param("two@@example.org", None, id="two-ats"),
    ],
)
def test_email_addresses_are_validated(typed, stored):
    assert normal_email(typed) == stored
