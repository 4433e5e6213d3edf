"""Redaction: tokens, secrets, e-mail addresses and phone numbers never reach a log line; ordinary numbers do."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from messenger.observability.logging import RedactingFilter, redact

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Telegram bot tokens, bare and inside Bot API URLs (as httpx logs them).
        (f"token {TOKEN}", "token [token]"),
        (
            f'HTTP Request: POST https://api.telegram.org/bot{TOKEN}/getUpdates "HTTP/1.1 200 OK"',
            'HTTP Request: POST https://api.telegram.org/bot[token]/getUpdates "HTTP/1.1 200 OK"',
        ),
        (
            f"http://127.0.0.1:8081/bot{TOKEN}/sendMessage?chat_id=42",
            "http://127.0.0.1:8081/bot[token]/sendMessage?chat_id=42",
        ),
        (
            "https://api.telegram.org/file/bot7000000001%3Aabcdefghijklmnopqrstuvwxyz_-0123/photo.jpg",
            "https://api.telegram.org/file/bot[token]/photo.jpg",
        ),
        # Phone numbers: E.164 and the ways people write them.
        ("+14155550100", "[phone]"),
        ("sms to +14155550100 failed", "sms to [phone] failed"),
        ("whatsapp:+14155550100", "whatsapp:[phone]"),
        ("call +1 (949) 503-1414 today", "call [phone] today"),
        ("+1-949-503-1414", "[phone]"),
        ("+44 20 7946 0958", "[phone]"),
        ("+49 30 901820", "[phone]"),
        ("949-503-1414", "[phone]"),
        ("(949) 503-1414", "[phone]"),
        ("(949)503-1414", "[phone]"),
        ("949.503.1414", "[phone]"),
        ("1-800-555-1212", "[phone]"),
        ("From=whatsapp%3A%2B14155550100&To=%2B14155550199&Body=yes", "From=whatsapp%3A[phone]&To=[phone]&Body=yes"),
        ("Renew Ketamine Infusion, 949-503-1414.", "Renew Ketamine Infusion, [phone]."),
        # E-mail addresses.
        ("jane.doe@example.com", "[email]"),
        ("to: <jane.doe+pain@mail.clinic.example.org>", "to: <[email]>"),
        ("contact JANE_DOE@Example.CO.UK now", "contact [email] now"),
        ("?email=jane.doe%40example.com&x=1", "?email=[email]&x=1"),
        # Twilio credentials and signatures, and other secrets with a name.
        ("auth_token=0123456789abcdef0123456789abcdef", "auth_token=[secret]"),
        ("POST /2010-04-01/Accounts?auth_token=s3cr3t&To=x", "POST /2010-04-01/Accounts?auth_token=[secret]&To=x"),
        ("AuthToken: 'abcdef'", "AuthToken: '[secret]'"),
        ("X-Twilio-Signature: RSOYDt4T1cUTdK1PDd93/VVr8B8=", "X-Twilio-Signature: [secret]"),
        (
            "headers={'X-Twilio-Signature': 'RSOYDt4T1cUTdK1PDd93/VVr8B8='}",
            "headers={'X-Twilio-Signature': '[secret]'}",
        ),
        ('{"x-twilio-signature": "abc+/="}', '{"x-twilio-signature": "[secret]"}'),
        ("Authorization: Basic QUMxMjM6dG9rZW4=", "Authorization: Basic [secret]"),
        ("https://AC0123:authtoken99@api.twilio.com/2010-04-01", "https://AC0123:[secret]@api.twilio.com/2010-04-01"),
        (
            "postgresql://messenger:hunter2@db.internal:5432/messenger",
            "postgresql://messenger:[secret]@db.internal:5432/messenger",
        ),
    ],
)
def test_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "message 12345 (welcome) → sent via telegram",
        "claimed 50 message(s) in 0.512 s",
        "did not answer within 60 s",
        "retry in 3600.0 s (attempt 8/8)",
        "next due 2026-12-01 10:00",
        "send_at=2026-11-30T20:00:00+00:00",
        "2026-12-01T10:00:00.123456Z",
        "quiet hours 21:00–08:00",
        "10:00:00",
        "offset +05:30, -08:00",
        "telegram user 123456789, chat -1001234567890",
        "provider id console-1, SM0123456789abcdef",
        "worker db-host:4242:0a1b2c",
        "listening on http://127.0.0.1:8080",
        "postgresql://postgres@127.0.0.1:5432/messenger",
        "version 22.0.1, build 20261201",
        "1234567890",
        "ids 1, 22, 333, 4444",
        "uuid 123e4567-e89b-12d3-a456-426614174000",
        "rate 1.5e-05",
        "/2010-04-01/Accounts/AC123/Messages.json",
    ],
)
def test_kept(text: str) -> None:
    assert redact(text) == text


def test_redaction_is_idempotent() -> None:
    once = redact(f"bot{TOKEN} +14155550100 jane@example.com auth_token=x")
    assert redact(once) == once


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)
    logger.propagate = True


def test_arguments_are_redacted_after_formatting(captured) -> None:
    logger, stream = captured
    logger.info("sending to %s via %s (message %d)", "+1 (949) 503-1414", f"/bot{TOKEN}/sendMessage", 17)
    assert stream.getvalue() == "INFO sending to [phone] via /bot[token]/sendMessage (message 17)\n"


def test_tracebacks_are_redacted(captured) -> None:
    logger, stream = captured

    def call_provider() -> None:
        raise ConnectionError(f"POST https://api.telegram.org/bot{TOKEN}/sendMessage for jane@example.com")

    try:
        call_provider()
    except ConnectionError:
        logger.exception("send to %s crashed", "+14155550100")
    output = stream.getvalue()
    assert "Traceback (most recent call last)" in output
    assert "ConnectionError: POST https://api.telegram.org/bot[token]/sendMessage for [email]" in output
    assert "send to [phone] crashed" in output
    for secret in (TOKEN, "jane@example.com", "+14155550100", "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"):
        assert secret not in output


def test_stack_info_is_redacted(captured) -> None:
    logger, stream = captured
    logger.warning("write to jane@example.com", stack_info=True)  # the stack shows this line
    output = stream.getvalue()
    assert output.startswith("WARNING write to [email]\nStack (most recent call last):")
    assert 'logger.warning("write to [email]", stack_info=True)' in output
    assert "jane@example.com" not in output


def test_unformattable_arguments_still_log_redacted(captured) -> None:
    logger, stream = captured
    logger.info("expected %d but got", "+14155550100")
    output = stream.getvalue()
    assert "expected %d but got" in output and "[phone]" in output and "+14155550100" not in output
