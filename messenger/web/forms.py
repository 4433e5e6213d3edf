"""Reading a provider's form POST: bounded in size, parsed as sent (repeated names kept), checked for hostile values."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.requests import Request

from messenger.domain import bounds

# Twilio's largest form (an MMS with ten media URLs and a 1,600-character body) is a few KB.
MAX_FORM_BYTES = 64 * 1024
# Telegram's updates are at most a few KB too; a forwarded long message with entities stays far below.
MAX_UPDATE_BYTES = 256 * 1024
# Twilio SIDs are 34 characters; anything much longer is not Twilio's.
MAX_SID_LENGTH = 64
# Fields with a short, known shape ("delivered", "+15551230000", "whatsapp:+1…", "30003"): a longer
# value is not Twilio's, and would not fit the receipt that records it.
_SHORT_FIELDS = {"MessageStatus": 32, "SmsStatus": 32, "From": 64, "To": 64, "ErrorCode": 16}


async def read_limited(request: Request, limit: int) -> bytes | None:
    """The request body, or None once it is longer than ``limit`` (without reading the rest)."""
    declared = request.headers.get("content-length", "")
    if declared and (bounds.ascii_int(declared, maximum=2**62) or 0) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def parse_form(raw: bytes) -> list[tuple[str, str]] | None:
    """``application/x-www-form-urlencoded`` pairs in order, repeated names kept; None if it is not UTF-8."""
    try:
        return parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False, errors="strict")
    except (UnicodeDecodeError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class TwilioForm:
    pairs: list[tuple[str, str]]

    def get(self, name: str) -> str:
        """The first value of ``name`` ("" when absent)."""
        return next((value for key, value in self.pairs if key == name), "")

    @property
    def sid(self) -> str:
        return self.get("MessageSid") or self.get("SmsSid")

    def hostile(self) -> bool:
        """Control characters anywhere, or an id no provider would send: refused before anything is stored."""
        return (
            len(self.sid) > MAX_SID_LENGTH
            or any(len(self.get(name)) > limit for name, limit in _SHORT_FIELDS.items())
            or any(bounds.has_control_characters(f"{key}{value}") for key, value in self.pairs)
        )
