"""Twilio request signatures and signed, expiring unsubscribe tokens."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from multidict import MultiDict

from messenger.channels.signing import (
    read_token,
    sign_token,
    twilio_signature,
    valid_twilio_signature,
)

# The worked example in Twilio's "Webhooks security" guide.
TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}
DOCUMENTED = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_twilio_documented_example() -> None:
    assert twilio_signature(TOKEN, URL, PARAMS) == DOCUMENTED


def test_twilio_sdk_example() -> None:
    # The same request with other numbers, as Twilio's helper libraries test it.
    params = {**PARAMS, "Caller": "+14158675309", "From": "+14158675309"}
    assert twilio_signature(TOKEN, URL, params) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_parameter_order_does_not_matter() -> None:
    shuffled = dict(reversed(list(PARAMS.items())))
    assert twilio_signature(TOKEN, URL, shuffled) == DOCUMENTED


def test_a_valid_signature_is_accepted() -> None:
    assert valid_twilio_signature(TOKEN, URL, PARAMS, DOCUMENTED)


@pytest.mark.parametrize(
    ("token", "url", "params", "signature"),
    [
        ("54321", URL, PARAMS, DOCUMENTED),
        (TOKEN, URL + "&baz=3", PARAMS, DOCUMENTED),
        (TOKEN, URL.replace("https", "http"), PARAMS, DOCUMENTED),
        (TOKEN, URL, {**PARAMS, "Digits": "9999"}, DOCUMENTED),
        (TOKEN, URL, {**PARAMS, "Extra": ""}, DOCUMENTED),
        (TOKEN, URL, PARAMS, DOCUMENTED[:-2]),
        (TOKEN, URL, PARAMS, ""),
        (TOKEN, URL, PARAMS, None),
        ("", URL, PARAMS, DOCUMENTED),
    ],
    ids=[
        "other token",
        "other query",
        "other scheme",
        "changed parameter",
        "added parameter",
        "truncated signature",
        "empty signature",
        "no signature",
        "no token",
    ],
)
def test_anything_else_is_refused(token: str, url: str, params: dict[str, str], signature: str | None) -> None:
    assert not valid_twilio_signature(token, url, params, signature)


def test_the_default_port_may_be_written_or_not() -> None:
    with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2"
    assert valid_twilio_signature(TOKEN, with_port, PARAMS, DOCUMENTED)
    signed_with_port = twilio_signature(TOKEN, with_port, PARAMS)
    assert valid_twilio_signature(TOKEN, URL, PARAMS, signed_with_port)
    assert not valid_twilio_signature(TOKEN, "https://mycompany.com:8443/myapp.php?foo=1&bar=2", PARAMS, DOCUMENTED)


def test_repeated_parameters_are_sorted_by_value() -> None:
    form = MultiDict([("MediaUrl", "https://b.example/2"), ("Body", "hi"), ("MediaUrl", "https://a.example/1")])
    expected = twilio_signature(
        TOKEN,
        URL,
        MultiDict([("Body", "hi"), ("MediaUrl", "https://a.example/1"), ("MediaUrl", "https://b.example/2")]),
    )
    assert twilio_signature(TOKEN, URL, form) == expected
    assert valid_twilio_signature(TOKEN, URL, form, expected)


# ---------------------------------------------------------------------------- unsubscribe tokens

SECRET = b"k" * 32
NOW = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=365)


def test_a_token_round_trips() -> None:
    token = sign_token(SECRET, "contact:123", LATER)
    assert read_token(SECRET, token, NOW) == "contact:123"


def test_tokens_are_url_safe() -> None:
    token = sign_token(SECRET, "contact:123/ü?&=+ .", LATER)
    assert re.fullmatch(r"[A-Za-z0-9_\-]+\.\d+\.[A-Za-z0-9_\-]+", token)
    assert quote(token, safe="") == token
    assert read_token(SECRET, token, NOW) == "contact:123/ü?&=+ ."


def test_a_token_expires() -> None:
    token = sign_token(SECRET, "contact:123", LATER)
    assert read_token(SECRET, token, LATER - timedelta(seconds=1)) == "contact:123"
    assert read_token(SECRET, token, LATER) is None
    assert read_token(SECRET, token, LATER + timedelta(days=1)) is None


def test_any_zone_means_the_same_instant() -> None:
    pacific = timezone(timedelta(hours=-8))
    token = sign_token(SECRET, "contact:123", LATER.astimezone(pacific))
    assert read_token(SECRET, token, (LATER - timedelta(seconds=1)).astimezone(pacific)) == "contact:123"
    assert read_token(SECRET, token, LATER) is None


def _tampered() -> list[tuple[str, str]]:
    token = sign_token(SECRET, "contact:123", LATER)
    payload, expiry, mac = token.split(".")
    other_payload = sign_token(SECRET, "contact:999", LATER).split(".")[0]
    flipped_mac = ("A" if mac[0] != "A" else "B") + mac[1:]
    return [
        ("other payload", f"{other_payload}.{expiry}.{mac}"),
        ("later expiry", f"{payload}.{int(expiry) + 86400}.{mac}"),
        ("changed signature", f"{payload}.{expiry}.{flipped_mac}"),
        ("signature of another token", f"{payload}.{expiry}.{sign_token(SECRET, 'x', LATER).split('.')[2]}"),
        ("signed with another secret", sign_token(b"other-secret", "contact:123", LATER)),
        ("padded signature", f"{token}="),
        ("missing part", f"{payload}.{mac}"),
        ("extra part", f"{token}.x"),
        ("empty", ""),
        ("dots only", ".."),
        ("not base64", f"{payload}.{expiry}.!!!!"),
        ("non-ascii", f"{payload}.{expiry}.{mac[:-1]}é"),
        ("negative expiry", f"{payload}.-1.{mac}"),
    ]


@pytest.mark.parametrize(("label", "token"), _tampered(), ids=[label for label, _ in _tampered()])
def test_tampered_or_malformed_tokens_are_refused(label: str, token: str) -> None:
    assert read_token(SECRET, token, NOW) is None


def test_naive_times_and_empty_secrets_are_mistakes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        sign_token(SECRET, "x", datetime(2027, 1, 1))
    token = sign_token(SECRET, "x", LATER)
    with pytest.raises(ValueError, match="timezone-aware"):
        read_token(SECRET, token, datetime(2027, 1, 1))
    with pytest.raises(ValueError, match="secret"):
        sign_token(b"", "x", LATER)
