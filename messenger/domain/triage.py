"""Triage of what a patient writes: crisis, urgent medical or routine, from phrase lists per locale.

Pure: the phrase lists are data (``templates/<locale>/triage.toml``) and the classifier
reads nothing else, so a labelled case table can test it without a database or a bot.
Matching is forgiving on purpose (one or two typos in a long word, apostrophes optional):
a crisis missed costs far more than an emergency number shown once too often.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

TRIAGE_FILE = "triage.toml"
# How many words before a phrase a negation still applies to ("I am not at all suicidal").
NEGATION_REACH = 3
_NOT_WORD = re.compile(r"[^\w\s]")
# A negation reaches no further than its clause: "No, I want to die" is not negated.
_CLAUSE_END = re.compile(r"[.,;:!?¡¿()\n]+")


class Level(StrEnum):
    CRISIS = "crisis"
    URGENT = "urgent"
    ROUTINE = "routine"


@dataclass(frozen=True, slots=True)
class Assessment:
    level: Level
    # The phrase that decided it, as the list spells it (None for routine).
    phrase: str | None = None
    # A crisis or urgent phrase was there but negated ("I'm not suicidal"): still for a person.
    negated: bool = False

    @property
    def urgent(self) -> bool:
        return self.level is not Level.ROUTINE


def words(text: str) -> list[str]:
    """Lower-case words, accents folded, apostrophes and punctuation removed ("Don't!" → "dont", "Sí" → "si")."""
    folded = unicodedata.normalize("NFKD", text.lower().replace("’", "'").replace("'", ""))
    return _NOT_WORD.sub(" ", "".join(ch for ch in folded if not unicodedata.combining(ch))).split()


@dataclass(frozen=True, slots=True)
class PhraseBook:
    crisis: tuple[tuple[str, ...], ...]
    urgent: tuple[tuple[str, ...], ...]
    negations: frozenset[str]
    # Words that, after a negation, make it doubt rather than denial ("I don't know, I want to die").
    doubts: frozenset[str]
    # The phrases as written, for reporting which one matched.
    spelled: dict[tuple[str, ...], str]

    @classmethod
    def from_lists(
        cls, *, crisis: Iterable[str], urgent: Iterable[str], negations: Iterable[str], doubts: Iterable[str] = ()
    ) -> PhraseBook:
        spelled: dict[tuple[str, ...], str] = {}
        for phrase in (*crisis, *urgent):
            spelled.setdefault(tuple(words(phrase)), phrase)
        return cls(
            crisis=tuple(dict.fromkeys(tuple(words(p)) for p in crisis if words(p))),
            urgent=tuple(dict.fromkeys(tuple(words(p)) for p in urgent if words(p))),
            negations=frozenset(w for n in negations for w in words(n)),
            doubts=frozenset(w for d in doubts for w in words(d)),
            spelled=spelled,
        )

    @classmethod
    def load(cls, directories: Sequence[Path], locales: Sequence[str]) -> PhraseBook:
        """The first locale in ``locales`` that has a ``triage.toml`` in any directory (first directory wins)."""
        for locale in locales:
            for directory in directories:
                path = directory / locale / TRIAGE_FILE
                if path.is_file():
                    data = tomllib.loads(path.read_text(encoding="utf-8"))
                    return cls.from_lists(
                        crisis=data.get("crisis", {}).get("phrases", []),
                        urgent=data.get("urgent", {}).get("phrases", []),
                        negations=data.get("negations", {}).get("words", []),
                        doubts=data.get("negations", {}).get("doubts", []),
                    )
        raise FileNotFoundError(f"no {TRIAGE_FILE} for locales {list(locales)}")


def classify(text: str, book: PhraseBook) -> Assessment:
    """Crisis beats urgent beats routine; a negated match alone makes the message routine but flagged."""
    clauses = [words(clause) for clause in _CLAUSE_END.split(text)]
    negated_phrase: str | None = None
    for level, phrases in ((Level.CRISIS, book.crisis), (Level.URGENT, book.urgent)):
        for phrase in phrases:
            for tokens in clauses:
                for start in _occurrences(tokens, phrase):
                    if _negated(tokens[max(0, start - NEGATION_REACH) : start], book):
                        negated_phrase = negated_phrase or book.spelled[phrase]
                        continue
                    return Assessment(level, book.spelled[phrase])
    return Assessment(Level.ROUTINE, negated_phrase, negated=negated_phrase is not None)


def _occurrences(tokens: Sequence[str], phrase: Sequence[str]) -> Iterable[int]:
    width = len(phrase)
    for start in range(len(tokens) - width + 1):
        if all(_same_word(tokens[start + i], phrase[i]) for i in range(width)):
            yield start


def _negated(before: Sequence[str], book: PhraseBook) -> bool:
    """A negation shortly before the phrase, in its clause, not followed by doubt ("not sure", "no sé")."""
    last = max((i for i, token in enumerate(before) if token in book.negations), default=None)
    return last is not None and not any(token in book.doubts for token in before[last + 1 :])


def _same_word(typed: str, listed: str) -> bool:
    if typed == listed:
        return True
    # Short words must match exactly: "die" and "dye", "cut" and "cat" are different words.
    shortest = min(len(typed), len(listed))
    allowed = 2 if shortest >= 8 else 1 if shortest >= 5 else 0
    return allowed > 0 and abs(len(typed) - len(listed)) <= allowed and _distance(typed, listed, allowed) <= allowed


def _distance(a: str, b: str, limit: int) -> int:
    """Edit distance with transpositions (optimal string alignment), giving up past ``limit``."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


class PhraseBooks:
    """One phrase book per locale, loaded on first use (a locale without its own list uses its fallback)."""

    def __init__(self, directories: Sequence[Path], locales_for: Callable[[str], Sequence[str]]) -> None:
        self.directories = list(directories)
        self.locales_for = locales_for
        self._books: dict[str, PhraseBook] = {}

    def __call__(self, locale: str) -> PhraseBook:
        if locale not in self._books:
            self._books[locale] = PhraseBook.load(self.directories, self.locales_for(locale))
        return self._books[locale]
