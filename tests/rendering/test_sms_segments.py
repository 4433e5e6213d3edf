"""SMS encoding and segment counts (GSM 03.38 and UCS-2)."""

from __future__ import annotations

import re

import pytest

from messenger.rendering.environment import shipped_templates_dir
from messenger.rendering.sms import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    SmsSegments,
    non_gsm7_characters,
    sms_segments,
)

# (label, text, encoding, segments, length)
CASES = [
    ("empty", "", "GSM-7", 0, 0),
    ("plain", "Reminder: visit 2 of 6 is tomorrow at 9:00 AM.", "GSM-7", 1, 46),
    ("gsm accents and greek", "Café Ñoño: Δ Ω ß Ä ö ü à è é ù ì ò ¿¡ £ ¥ §", "GSM-7", 1, 43),
    ("ú is not in the GSM alphabet", "Ñandú", "UCS-2", 1, 5),
    ("160 plain", "a" * 160, "GSM-7", 1, 160),
    ("161 plain", "a" * 161, "GSM-7", 2, 161),
    ("306 plain", "a" * 306, "GSM-7", 2, 306),
    ("307 plain", "a" * 307, "GSM-7", 3, 307),
    ("extension chars count double", "{[~^|\\]}€", "GSM-7", 1, 18),
    ("80 euro signs fill one message", "€" * 80, "GSM-7", 1, 160),
    ("81 euro signs need two", "€" * 81, "GSM-7", 2, 162),
    ("an escape pair is not split", "a" * 152 + "€" + "a" * 10, "GSM-7", 2, 164),
    ("emoji forces UCS-2", "See you tomorrow 🙂", "UCS-2", 1, 19),
    ("curly quote forces UCS-2", "We’ll see you", "UCS-2", 1, 13),
    ("accent outside GSM forces UCS-2", "Mañana á las 9", "UCS-2", 1, 14),
    ("70 UCS-2", "ç" * 70, "UCS-2", 1, 70),
    ("71 UCS-2", "ç" * 71, "UCS-2", 2, 71),
    ("134 UCS-2", "ç" * 134, "UCS-2", 2, 134),
    ("135 UCS-2", "ç" * 135, "UCS-2", 3, 135),
    ("35 emoji fill one message", "🙂" * 35, "UCS-2", 1, 70),
    ("a surrogate pair is not split", "ç" * 66 + "🙂" + "ç" * 10, "UCS-2", 2, 78),
]


@pytest.mark.parametrize(
    ("text", "encoding", "segments", "length"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_segments(text: str, encoding: str, segments: int, length: int) -> None:
    assert sms_segments(text) == SmsSegments(encoding, segments, length)  # type: ignore[arg-type]


def test_the_alphabet_tables() -> None:
    assert len(GSM7_BASIC) == 127  # 128 positions, one of which is the escape
    assert len(GSM7_EXTENSION) == 10
    assert not GSM7_BASIC & GSM7_EXTENSION
    assert {"@", "$", "¤", "\n", "\r", " ", "_"} <= GSM7_BASIC
    assert "ç" not in GSM7_BASIC and "`" not in GSM7_BASIC


def test_non_gsm7_characters() -> None:
    assert non_gsm7_characters("We’ll see you 🙂 — at 9’") == ["’", "🙂", "—"]
    assert non_gsm7_characters("{plain} €5") == []


@pytest.mark.parametrize("path", sorted((shipped_templates_dir() / "en").rglob("*.sms.j2")), ids=lambda path: path.name)
def test_shipped_english_sms_templates_stay_gsm7(path) -> None:  # type: ignore[no-untyped-def]
    """One curly quote or dash halves what each segment carries (and doubles the cost)."""
    text = re.sub(r"{{.*?}}|{%.*?%}|{#.*?#}", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert non_gsm7_characters(text) == []
