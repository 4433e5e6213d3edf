"""Stable codes for why a send did not happen, with parameters, instead of a provider's English.

A code names the provider and the cause (``telegram.blocked``, ``twilio.21610``,
``smtp.rejected``); its parameters are short tokens (an HTTP status, an SMTP code, an error
type). The pair is stored as text (``"smtp.rejected code=550 status=5.1.1"``) in a message's
``last_error`` and a contact's ``status_reason``, and staff read it through the sentence
``failures.<code>`` in ``bot.toml``. The provider's own words stay in logs, redacted.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Protocol

__all__ = ["FailureCode", "Params", "describe_failure", "failure_text", "parse_failure"]

# (name, value) pairs, kept as a tuple so outcomes stay hashable and compare by value.
Params = tuple[tuple[str, str], ...]


class FailureCode(StrEnum):
    # Telegram (python-telegram-bot's errors).
    TELEGRAM_BLOCKED = "telegram.blocked"
    TELEGRAM_CHAT_NOT_FOUND = "telegram.chat_not_found"
    TELEGRAM_CHAT_MIGRATED = "telegram.chat_migrated"
    TELEGRAM_REJECTED = "telegram.rejected"
    TELEGRAM_FLOOD = "telegram.flood"
    TELEGRAM_NETWORK = "telegram.network"
    TELEGRAM_TOKEN = "telegram.token"
    TELEGRAM_ERROR = "telegram.error"
    # Twilio: the error codes we act on have their own code; others are twilio.error with code=.
    TWILIO_OPTED_OUT = "twilio.21610"
    TWILIO_INVALID_NUMBER = "twilio.21211"
    TWILIO_NOT_MOBILE = "twilio.21614"
    TWILIO_REGION_DISABLED = "twilio.21408"
    TWILIO_UNDELIVERED = "twilio.30003"
    TWILIO_UNKNOWN_HANDSET = "twilio.30005"
    TWILIO_LANDLINE = "twilio.30006"
    TWILIO_NOT_WHATSAPP = "twilio.63024"
    TWILIO_OUTSIDE_WINDOW = "twilio.63016"
    TWILIO_ERROR = "twilio.error"
    TWILIO_HTTP = "twilio.http"
    TWILIO_RATE_LIMITED = "twilio.rate_limited"
    TWILIO_CREDENTIALS = "twilio.credentials"
    TWILIO_TIMEOUT = "twilio.timeout"
    TWILIO_UNAVAILABLE = "twilio.unavailable"
    # E-mail over SMTP.
    SMTP_INVALID_ADDRESS = "smtp.invalid_address"
    SMTP_INVALID_MESSAGE = "smtp.invalid_message"
    SMTP_REJECTED = "smtp.rejected"
    SMTP_DEFERRED = "smtp.deferred"
    SMTP_SENDER_REFUSED = "smtp.sender_refused"
    SMTP_REFUSED = "smtp.refused"
    SMTP_AUTH = "smtp.auth"
    SMTP_TLS = "smtp.tls"
    SMTP_UNAVAILABLE = "smtp.unavailable"
    SMTP_NOT_SUPPORTED = "smtp.not_supported"
    SMTP_ERROR = "smtp.error"
    # Any channel, seen from the dispatcher.
    CHANNEL_PAUSED = "channel.paused"
    CHANNEL_TIMEOUT = "channel.timeout"
    CHANNEL_CRASHED = "channel.crashed"
    # The dispatcher itself: nothing was handed to a provider.
    NO_REACHABLE_CONTACT = "dispatch.no_reachable_contact"
    TEMPLATE_ERROR = "dispatch.template_error"
    NO_STAFF_CHANNEL = "dispatch.no_staff_channel"
    NO_ONCALL_SMS = "dispatch.no_oncall_sms"
    # Skipped, not failed: sending it now would be wrong or pointless.
    SKIP_ANSWERED = "skip.answered"
    SKIP_NO_CONTACT_IN_TIME = "skip.no_contact_in_time"
    SKIP_OPTED_OUT = "skip.opted_out"
    SKIP_TOO_LATE = "skip.too_late"
    SKIP_ALERT_TAKEN = "skip.alert_taken"

    @property
    def key(self) -> str:
        """The sentence's key in ``bot.toml``: ``failures.twilio_opted_out``."""
        return f"failures.{self.name.lower()}"


_CODES = {code.value: code for code in FailureCode}
_UNSAFE = re.compile(r"[\s=]+")


def failure_text(code: FailureCode, params: Params = ()) -> str:
    """``code`` and ``params`` as stored: ``"smtp.rejected code=550 status=5.1.1"``."""
    return " ".join([code.value, *(f"{name}={_UNSAFE.sub('_', value)}" for name, value in params)])


def parse_failure(text: str | None) -> tuple[FailureCode, dict[str, str]] | None:
    """The code and parameters in a stored reason; None for text that is not one.

    A reason may carry a prefix (the dispatcher writes ``"sms: twilio.21211"``): the code is
    read after the last ``": "``.
    """
    tokens = (text or "").rsplit(": ", 1)[-1].split()
    if not tokens or tokens[0] not in _CODES:
        return None
    params = dict(token.partition("=")[::2] for token in tokens[1:])
    return _CODES[tokens[0]], params


class _Strings(Protocol):
    def plain(self, key: str, locale: str, /, **params: str) -> str: ...


def describe_failure(strings: _Strings, text: str | None, locale: str) -> str:
    """The sentence staff read for a stored reason, as plain text; text that holds no code is kept as it is."""
    parsed = parse_failure(text)
    if parsed is None:
        return text or ""
    code, params = parsed
    return strings.plain(code.key, locale, **params)
