"""Words a lock-screen preview must not show."""

from __future__ import annotations

import re

import pytest

from messenger.rendering.discreet import default_sensitive_words, sensitive_words_in
from messenger.rendering.environment import shipped_templates_dir

# (label, text, found)
CASES = [
    ("clean reminder", "Reminder: visit 2 of 6 is tomorrow at 9:00 AM.", []),
    ("a word", "Your ketamine appointment", ["ketamine"]),
    ("any case", "KETAMINE and Infusion", ["ketamine", "infusion"]),
    ("plural", "Your five infusions", ["infusion"]),
    ("plural with es", "depressions", ["depression"]),
    ("possessive", "the infusion's effect", ["infusion"]),
    ("inside another word", "Sorry for the confusion", []),
    ("prefix of another word", "infusionist", []),
    ("phrase", "Living with chronic pain", ["chronic pain"]),
    ("phrase across spaces and a line break", "chronic\n  pain", ["chronic pain"]),
    ("hyphenated phrase", "chronic-pain clinic", ["chronic pain"]),
    ("phrase split by another word", "chronic back pain", []),
    ("acronym", "CRPS and PTSD support", ["CRPS", "PTSD"]),
    ("acronym in any case", "crps", ["CRPS"]),
    ("acronym before a hyphen", "NMDA-receptor", ["NMDA"]),
    ("acronym inside a word", "ptsdx", []),
    ("next to punctuation", "(opioid-free)", ["opioid"]),
    ("each word once, in order", "anxiety, depression, anxiety", ["anxiety", "depression"]),
    ("in a variable name", "ketamine_clinic", ["ketamine"]),
    ("every default", " ".join(default_sensitive_words()), list(default_sensitive_words())),
]


@pytest.mark.parametrize(("text", "found"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_sensitive_words(text: str, found: list[str]) -> None:
    assert sensitive_words_in(text, default_sensitive_words()) == found


def test_the_default_list() -> None:
    assert set(default_sensitive_words()) == {
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
    }
    assert sensitive_words_in("ketamine infusion") == ["ketamine", "infusion"]


def test_a_clinic_list() -> None:
    words = ["esketamine", "Spravato", "pain clinic", ""]
    assert sensitive_words_in("Your Spravato visit at the pain  clinic", words) == ["Spravato", "pain clinic"]
    assert sensitive_words_in("ketamine", words) == []


def _discreet_templates() -> list:  # type: ignore[type-arg]
    root = shipped_templates_dir()
    return sorted([*root.rglob("*.sms.j2"), *root.rglob("*.email-subject.j2")])


@pytest.mark.parametrize("path", _discreet_templates(), ids=lambda path: str(path.relative_to(shipped_templates_dir())))
def test_what_a_lock_screen_shows_is_discreet(path) -> None:  # type: ignore[no-untyped-def]
    """SMS texts and e-mail subjects, less their placeholders (``{{ infusions }}`` is a name, not text)."""
    text = re.sub(r"{{.*?}}|{%.*?%}|{#.*?#}", " ", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert sensitive_words_in(text) == []
