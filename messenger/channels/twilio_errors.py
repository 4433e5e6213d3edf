"""What Twilio's error codes mean for us, and its words made safe to log (no phone number in full)."""

from __future__ import annotations

import re

from messenger.channels.base import Failed
from messenger.channels.failures import FailureCode

__all__ = ["MAX_REASON", "OPTED_OUT_CODES", "UNREACHABLE_CODES", "mask_number", "redact", "twilio_failure"]

# Twilio error codes, as returned when creating a message or in a status callback's ErrorCode.
OPTED_OUT_CODES = frozenset(
    {
        21610,  # Attempt to send to unsubscribed recipient (they replied STOP)
    }
)
UNREACHABLE_CODES = frozenset(
    {
        21211,  # Invalid 'To' phone number
        21614,  # 'To' number is not a valid mobile number
        21408,  # Permission to send an SMS has not been enabled for the region of the 'To' number
        63024,  # Invalid message recipient (WhatsApp: not a WhatsApp user)
        # Reported later, through the status callback:
        30005,  # Unknown destination handset
        30006,  # Landline or unreachable carrier
    }
)

# Twilio error codes with a code of their own; any other is twilio.error with code=<n>.
_CODES = {int(c.value.split(".")[1]): c for c in FailureCode if c.value.split(".")[1].isdigit()}
_PHONE_NUMBER = re.compile(r"\+?\d[\d\s().\-]{5,}\d")
_WHATSAPP = "whatsapp:"
# How much of Twilio's own words a failure's detail keeps (for logs).
MAX_REASON = 300


def mask_number(number: str) -> str:
    """A phone number as logs and reasons may show it: its last two digits only."""
    digits = re.sub(r"\D", "", number)
    return f"…{digits[-2:]}" if digits else "…"


def twilio_failure(code: int | None, message: str, *, status: int | None = None, address: str | None = None) -> Failed:
    """The outcome for a Twilio error ``code`` (from an API answer or a status callback).

    Twilio's own words go to ``detail`` only, with phone numbers in ``message`` (and ``address``,
    however short) cut to their last digits.
    """
    detail = redact(message, address)[:MAX_REASON]
    if code is None:
        params = (("status", str(status)),) if status else ()
        return Failed(FailureCode.TWILIO_HTTP if status else FailureCode.TWILIO_ERROR, params, detail=detail)
    known = _CODES.get(code)
    return Failed(
        known or FailureCode.TWILIO_ERROR,
        () if known else (("code", str(code)),),
        unreachable=code in UNREACHABLE_CODES,
        opted_out=code in OPTED_OUT_CODES,
        detail=detail,
    )


def redact(text: str, address: str | None = None) -> str:
    """``text`` with ``address`` and anything else like a phone number cut to its last two digits."""
    text = " ".join(text.split())
    if address:
        bare = address.strip()
        bare = bare[len(_WHATSAPP) :] if bare.lower().startswith(_WHATSAPP) else bare
        digits = re.sub(r"\D", "", bare)
        for known in sorted({bare, digits} - {""}, key=len, reverse=True):
            if len(known) >= 3:
                text = text.replace(known, mask_number(known))
    return _PHONE_NUMBER.sub(lambda match: mask_number(match.group()), text)
