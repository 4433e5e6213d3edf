"""Links to notes: short signed tokens, and a public address that is https (or loopback http)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from messenger.channels.signing import SHORT_MAC, read_token, sign_token
from messenger.config import Settings
from messenger.services.notes import NoteLinks

SECRET = b"note-links-are-signed-with-this-secret-0123456789"
NOW = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)


def test_a_short_token_reads_back_until_it_expires_and_only_as_short() -> None:
    token = sign_token(SECRET, "n42", NOW + timedelta(days=30), mac_bytes=SHORT_MAC)

    assert read_token(SECRET, token, NOW, mac_bytes=SHORT_MAC) == "n42"
    assert read_token(SECRET, token, NOW + timedelta(days=30), mac_bytes=SHORT_MAC) is None
    assert read_token(SECRET, token, NOW) is None  # a full-length MAC is expected there
    assert read_token(b"another-secret-another-secret-0123456789", token, NOW, mac_bytes=SHORT_MAC) is None
    assert len(token) < len(sign_token(SECRET, "n42", NOW + timedelta(days=30)))


def test_note_links_point_to_one_message_and_expire_after_the_configured_days() -> None:
    links = NoteLinks(base_url="https://care.example.org", secret=SECRET, validity=timedelta(days=30))
    link = links.link(message_id=123456, now=NOW)
    token = link.removeprefix("https://care.example.org/n/")

    assert links.message_id(token, now=NOW + timedelta(days=29, hours=23)) == 123456
    assert links.message_id(token, now=NOW + timedelta(days=30)) is None
    # An unsubscribe token (same secret, full MAC, another payload) opens no note.
    assert links.message_id(sign_token(SECRET, "c7", NOW + timedelta(days=1)), now=NOW) is None
    assert len(link) <= 80, link


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://care.example.org/", True),
        ("http://127.0.0.1:8080", True),
        ("http://localhost:8080", True),
        ("http://[::1]:8080", True),
        ("http://care.example.org", False),
        ("http://192.168.1.10:8080", False),
        ("ftp://care.example.org", False),
    ],
    ids=["https", "loopback v4", "localhost", "loopback v6", "plain http", "private http", "not http"],
)
def test_the_public_address_is_https_except_on_loopback(url: str, accepted: bool) -> None:
    if accepted:
        assert Settings(_env_file=None, public_url=url).public_url == url.rstrip("/")  # type: ignore[call-arg]
    else:
        with pytest.raises(ValidationError, match="https://"):
            Settings(_env_file=None, public_url=url)  # type: ignore[call-arg]


def test_note_link_days_defaults_to_thirty(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(_env_file=None).note_link_days == 30  # type: ignore[call-arg]
    monkeypatch.setenv("MESSENGER_NOTE_LINK_DAYS", "7")
    assert Settings(_env_file=None).note_link_days == 7  # type: ignore[call-arg]
