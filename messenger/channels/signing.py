"""Signatures: checking that a webhook came from Twilio, and signing one-click unsubscribe links.

Twilio signs every webhook it sends with ``X-Twilio-Signature``: HMAC-SHA1, keyed with the
account's auth token, over the full URL it requested followed by each POST parameter's name and
value, sorted by name (https://www.twilio.com/docs/usage/webhooks/webhooks-security).

Unsubscribe tokens are ``<payload>.<expiry>.<mac>``: the payload and the MAC in unpadded URL-safe
base64, the expiry in Unix seconds, the MAC HMAC-SHA256 over a version tag and the first two
parts. They are safe to put in a URL path or query without further escaping. A token that
travels in a text message may carry a MAC cut to 16 bytes (HMAC-SHA256-128, still far beyond
guessing) so that the link fits one SMS segment.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

__all__ = ["FULL_MAC", "SHORT_MAC", "read_token", "sign_token", "twilio_signature", "valid_twilio_signature"]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_TOKEN_VERSION = b"messenger-token-v1"
FULL_MAC, SHORT_MAC = 32, 16


# --------------------------------------------------------------------------- Twilio webhooks


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """The ``X-Twilio-Signature`` Twilio sends with a form POST of ``params`` to ``url``.

    ``params`` may be a multi-dict (``items()`` yielding a name more than once, as
    ``aiohttp``'s ``request.post()`` does); repeated names are ordered by value, as Twilio does.
    """
    data = url + "".join(name + value for name, value in sorted(_pairs(params)))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def valid_twilio_signature(auth_token: str, url: str, params: Mapping[str, str], signature: str | None) -> bool:
    """Whether ``signature`` is Twilio's for ``url`` and ``params`` (compared in constant time).

    ``url`` must be the public URL Twilio was given, not the one a proxy forwarded to. Twilio
    signs it with or without the default port depending on how the URL was written, so both
    spellings are accepted, like Twilio's own validators do.
    """
    if not signature or not auth_token:
        return False
    expected = signature.encode()
    return any(
        hmac.compare_digest(twilio_signature(auth_token, candidate, params).encode(), expected)
        for candidate in _url_spellings(url)
    )


def _pairs(params: Mapping[str, str]) -> Iterable[tuple[str, str]]:
    for name, value in params.items():
        yield str(name), "" if value is None else str(value)


def _url_spellings(url: str) -> list[str]:
    """``url`` as given, without its default port, and with it."""
    parts = urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme)
    try:
        port = parts.port
    except ValueError:
        return [url]
    if default is None or not parts.hostname or port not in (None, default):
        return [url]
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    without = urlunsplit(parts._replace(netloc=f"{prefix}{host}"))
    with_port = urlunsplit(parts._replace(netloc=f"{prefix}{host}:{default}"))
    return list(dict.fromkeys([url, without, with_port]))


# --------------------------------------------------------------------------- expiring tokens


def sign_token(secret: bytes, payload: str, expires_at: datetime, *, mac_bytes: int = FULL_MAC) -> str:
    """A URL-safe token carrying ``payload`` that :func:`read_token` accepts until ``expires_at``.

    The payload is signed, not encrypted: anyone holding the token can read it. Put an opaque
    identifier in it (a contact id), never an address or a name.
    """
    _check_secret(secret)
    expiry = str(int(_utc(expires_at, "expires_at").timestamp()))
    body = f"{_b64(payload.encode())}.{expiry}"
    return f"{body}.{_b64(_mac(secret, body, mac_bytes))}"


def read_token(secret: bytes, token: str, now: datetime, *, mac_bytes: int = FULL_MAC) -> str | None:
    """The payload of ``token``, or ``None`` if it is malformed, tampered with or expired.

    ``mac_bytes`` must be what the token was signed with: a short token is refused where a full one is expected.
    """
    _check_secret(secret)
    current = _utc(now, "now")
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3 or not all(parts) or not parts[1].isdigit():
        return None
    encoded_payload, expiry, encoded_mac = parts
    mac = _unb64(encoded_mac)
    if mac is None or not hmac.compare_digest(mac, _mac(secret, f"{encoded_payload}.{expiry}", mac_bytes)):
        return None
    if current.timestamp() >= int(expiry):
        return None
    raw = _unb64(encoded_payload)
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _mac(secret: bytes, body: str, mac_bytes: int) -> bytes:
    if mac_bytes not in (FULL_MAC, SHORT_MAC):
        raise ValueError(f"a MAC is {FULL_MAC} or {SHORT_MAC} bytes, not {mac_bytes}")
    return hmac.new(secret, _TOKEN_VERSION + b"." + body.encode("ascii"), hashlib.sha256).digest()[:mac_bytes]


def _check_secret(secret: bytes) -> None:
    if not isinstance(secret, bytes | bytearray) or not secret:
        raise ValueError("the signing secret must be non-empty bytes")


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return moment.astimezone(UTC)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes | None:
    if not text.isascii() or "=" in text:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    # Reject non-canonical spellings (other trailing bits) so one token has one spelling.
    return raw if _b64(raw) == text else None
