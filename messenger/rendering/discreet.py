"""Words a lock-screen preview must not show: an SMS, or an e-mail's subject, is read by whoever
holds the phone.

Matching is case- and accent-insensitive ("INFUSIÓN" is "infusion") and by whole word or phrase,
allowing a plural ending: "Infusions", "infusiones" and "opioids" are caught, "confusion" is not. A phrase matches across any run
of spaces or hyphens ("chronic  pain", "chronic-pain").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

__all__ = ["DEFAULT_SENSITIVE_WORDS", "fold_accents", "sensitive_words_in"]

DEFAULT_SENSITIVE_WORDS: tuple[str, ...] = (
    "ketamine",
    "infusion",
    "chronic pain",
    "fibromyalgia",
    "CRPS",
    "neuralgia",
    "neuropathic",
    "depression",
    "anxiety",
    "PTSD",
    "psychotherapy",
    "NMDA",
    "opioid",
    # Spanish; accents are folded on both sides, so "infusion" also stands for "infusión".
    "ketamina",
    "dolor cronico",
    "fibromialgia",
    "SDRC",
    "neuropatico",
    "neuropatica",
    "depresion",
    "ansiedad",
    "TEPT",
    "psicoterapia",
    "opioide",
)


def sensitive_words_in(text: str, words: Iterable[str] = DEFAULT_SENSITIVE_WORDS) -> list[str]:
    """The entries of ``words`` that occur in ``text``, each once, in order of first occurrence.

    Entries are returned as given in ``words`` (so ``"CRPS"``, whatever the text's case).
    """
    found: list[tuple[int, int, str]] = []
    folded = fold_accents(text)
    for index, word in enumerate(dict.fromkeys(words)):
        match = _pattern(fold_accents(word)).search(folded)
        if match:
            found.append((match.start(), index, word))
    return [word for _, _, word in sorted(found)]


def fold_accents(text: str) -> str:
    """``text`` without combining accents ("infusión" → "infusion"); other characters are kept."""
    decomposed = unicodedata.normalize("NFKD", text)
    return unicodedata.normalize("NFC", "".join(ch for ch in decomposed if not unicodedata.combining(ch)))


@lru_cache(maxsize=256)
def _pattern(word: str) -> re.Pattern[str]:
    parts = [re.escape(part) for part in re.split(r"[\s-]+", word.strip()) if part]
    if not parts:
        return re.compile(r"(?!)")  # an empty entry matches nothing
    body = r"[\s\-]+".join(parts)
    # Word edges that also hold next to digits and underscores ("NMDA-receptor", "PTSD:").
    return re.compile(rf"(?<![^\W_]){body}(?:e?s|'s)?(?![^\W_])", re.IGNORECASE)
