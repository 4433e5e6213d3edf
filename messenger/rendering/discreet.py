"""Words a lock-screen preview must not show: an SMS, or an e-mail's subject, is read by whoever
holds the phone.

Matching is case-insensitive and by whole word or phrase, allowing a plural ending: "Infusions"
and "opioids" are caught, "confusion" is not. A phrase matches across any run
of spaces or hyphens ("chronic  pain", "chronic-pain").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from messenger.rendering.environment import shipped_templates_dir

__all__ = ["default_sensitive_words", "sensitive_words_in"]

# One word or phrase a line; "#" starts a comment.
_WORDS_FILE = "sensitive-words.txt"


@lru_cache(maxsize=1)
def default_sensitive_words() -> tuple[str, ...]:
    """The shipped list of sensitive words (``templates/sensitive-words.txt``)."""
    text = (shipped_templates_dir() / _WORDS_FILE).read_text(encoding="utf-8")
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return tuple(line for line in lines if line)


def sensitive_words_in(text: str, words: Iterable[str] | None = None) -> list[str]:
    """The entries of ``words`` (the shipped list if None) in ``text``, each once, by first occurrence.

    Entries are returned as given in ``words`` (so ``"CRPS"``, whatever the text's case).
    """
    found: list[tuple[int, int, str]] = []
    for index, word in enumerate(dict.fromkeys(default_sensitive_words() if words is None else words)):
        match = _pattern(word).search(text)
        if match:
            found.append((match.start(), index, word))
    return [word for _, _, word in sorted(found)]


@lru_cache(maxsize=256)
def _pattern(word: str) -> re.Pattern[str]:
    parts = [re.escape(part) for part in re.split(r"[\s-]+", word.strip()) if part]
    if not parts:
        return re.compile(r"(?!)")  # an empty entry matches nothing
    body = r"[\s\-]+".join(parts)
    # Word edges that also hold next to digits and underscores ("NMDA-receptor", "PTSD:").
    return re.compile(rf"(?<![^\W_]){body}(?:e?s|'s)?(?![^\W_])", re.IGNORECASE)
