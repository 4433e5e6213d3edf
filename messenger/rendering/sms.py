"""How many SMS segments a text costs, and in which encoding it travels.

A text made only of the GSM 03.38 default alphabet travels as GSM-7: 160 septets in a single
message, 153 per segment once it is split (the rest of each segment carries the concatenation
header). Characters of the extension table (``^{}\\[~]|€`` and form feed) are sent as an escape
plus a character, so they cost two septets. One character outside both tables (an emoji, a curly
quote, most accented letters) turns the whole text into UCS-2: 70 UTF-16 code units in a single
message, 67 per segment, and a character outside the Basic Multilingual Plane (most emoji) takes
two units.

An escape pair or a surrogate pair is never split across two segments, so a segment can hold one
unit less than its maximum, as handsets and carriers do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "SmsSegments",
    "non_gsm7_characters",
    "sms_segments",
]

# The GSM 03.38 default alphabet, in table order (0x1B, the escape, is not a character).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ"
    "ÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each costs an escape septet plus its own.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_PER_SEGMENT = 160, 153
UCS2_SINGLE, UCS2_PER_SEGMENT = 70, 67

Encoding = Literal["GSM-7", "UCS-2"]


@dataclass(frozen=True, slots=True)
class SmsSegments:
    encoding: Encoding
    segments: int
    # Septets for GSM-7 (extension characters count two), UTF-16 code units for UCS-2.
    length: int


def non_gsm7_characters(text: str) -> list[str]:
    """The distinct characters of ``text`` that force UCS-2, in order of appearance."""
    return list(dict.fromkeys(ch for ch in text if ch not in GSM7_BASIC and ch not in GSM7_EXTENSION))


def sms_segments(text: str) -> SmsSegments:
    """The encoding, segment count and encoded length of ``text`` (an empty text is 0 segments)."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        costs = [2 if ch in GSM7_EXTENSION else 1 for ch in text]
        return SmsSegments("GSM-7", _count(costs, GSM7_SINGLE, GSM7_PER_SEGMENT), sum(costs))
    costs = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    return SmsSegments("UCS-2", _count(costs, UCS2_SINGLE, UCS2_PER_SEGMENT), sum(costs))


def _count(costs: list[int], single: int, per_segment: int) -> int:
    total = sum(costs)
    if total == 0:
        return 0
    if total <= single:
        return 1
    segments, used = 1, 0
    for cost in costs:
        if used + cost > per_segment:
            segments, used = segments + 1, 0
        used += cost
    return segments
