"""Facts returned as phrases read as sentences of the reader's locale, escaped exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest

from messenger.domain.wording import Phrase
from messenger.rendering.environment import TemplateEnvironment
from messenger.rendering.strings import BotStrings

TABLE = """
[outer]
one = "Problem: {{ problem }}."
many = "Reasons: {{ reasons | join(', ') }}."

[inner]
typed = "you wrote {{ value }}"
fixed = "a <b>fixed</b> fact"
"""


@pytest.fixture
def strings(tmp_path: Path) -> BotStrings:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "bot.toml").write_text(TABLE, encoding="utf-8")
    return BotStrings(TemplateEnvironment(override_dir=tmp_path))


def test_a_phrase_parameter_becomes_its_sentence_escaped_once(strings: BotStrings) -> None:
    text = strings.get("outer.one", "en", problem=Phrase("inner.typed", {"value": "<i>&"}))
    assert text == "Problem: you wrote &lt;i&gt;&amp;."


def test_the_markup_of_a_phrase_string_survives_the_enclosing_string(strings: BotStrings) -> None:
    assert strings.get("outer.one", "en", problem=Phrase("inner.fixed")) == "Problem: a <b>fixed</b> fact."


def test_a_list_of_phrases_is_joined_by_the_template(strings: BotStrings) -> None:
    reasons = [Phrase("inner.typed", {"value": "9"}), Phrase("inner.fixed")]
    assert strings.get("outer.many", "en", reasons=reasons) == "Reasons: you wrote 9, a <b>fixed</b> fact."


def test_plain_text_is_not_escaped(strings: BotStrings) -> None:
    text = strings.plain("outer.one", "en", problem=Phrase("inner.typed", {"value": "<i>&"}))
    assert text == "Problem: you wrote <i>&."


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        pytest.param(Phrase("course.count", {"expected": 5, "given": 4}), "5 infusions, 4 were given", id="count"),
        pytest.param(Phrase("course.order"), "in order", id="order"),
        pytest.param(Phrase("course.span", {"days": 15, "max_days": 14}), "spans 15 days", id="span"),
        pytest.param(Phrase("escalation.pain", {"value": 9}), "pain 9/10", id="pain"),
        pytest.param(Phrase("escalation.mood", {"value": 1}), "mood 1/5", id="mood"),
        pytest.param(Phrase("escalation.contact"), "asked to be contacted", id="contact"),
    ],
)
def test_every_phrase_the_rules_return_has_an_english_sentence(phrase: Phrase, expected: str) -> None:
    strings = BotStrings(TemplateEnvironment())
    assert expected in strings.get(phrase.key, "en", **phrase.params)
