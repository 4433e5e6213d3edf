"""The triage classifier over the shipped English phrase lists: a labelled case table."""

from __future__ import annotations

import pytest

from messenger.domain.triage import Level, PhraseBook, classify
from messenger.rendering.environment import TemplateEnvironment


@pytest.fixture(scope="module")
def book() -> PhraseBook:
    environment = TemplateEnvironment()
    return PhraseBook.load(environment.search_path, environment.locales_for("en"))


CRISIS = Level.CRISIS
URGENT = Level.URGENT
ROUTINE = Level.ROUTINE

CASES = [
    # (label, text, level, negated)
    ("end it all", "I want to end it all", CRISIS, False),
    ("suicidal", "feeling suicidal tonight", CRISIS, False),
    ("kill myself, shouting", "I'M GOING TO KILL MYSELF!!!", CRISIS, False),
    ("misspelt suicidal", "i feel suicidle", CRISIS, False),
    ("misspelt suicide", "thinking about suicde", CRISIS, False),
    ("typo in phrase", "I want to dye", ROUTINE, False),  # a short word must match exactly
    ("curly apostrophe", "I don’t want to live anymore", CRISIS, False),
    ("no apostrophe", "i dont want to be alive", CRISIS, False),
    ("self-harm hyphen", "I have been self-harming again", CRISIS, False),
    ("self harm", "urges to self harm", CRISIS, False),
    ("hurt myself", "scared I'll hurt myself", CRISIS, False),
    ("better off dead", "everyone would be better off dead without me... I mean me", CRISIS, False),
    ("kms", "honestly kms", CRISIS, False),
    ("negated suicidal", "I'm not suicidal, just very tired", ROUTINE, True),
    ("negated want to die", "I don't want to die, I want the pain to stop", ROUTINE, True),
    ("never hurt myself", "I would never hurt myself", ROUTINE, True),
    ("negation far away", "no, I am not ok and I want to end it all", CRISIS, False),
    ("negation in another clause", "No. I want to die", CRISIS, False),
    ("doubt is not denial", "I don't know I want to die", CRISIS, False),
    ("not sure", "not sure I want to live, don't want to live like this", CRISIS, False),
    ("vomiting", "I can't stop vomiting after the infusion", URGENT, False),
    ("vomitting misspelt", "cant stop vomitting", URGENT, False),
    ("driving", "I'm driving home now", URGENT, False),
    ("panic and seeing things", "I'm having a panic attack and seeing things", URGENT, False),
    ("chest pain", "sharp chest pain since this morning", URGENT, False),
    ("breathing", "having trouble breathing", URGENT, False),
    ("breathing misspelt", "having trouble breathng", URGENT, False),
    ("fainted", "I fainted in the kitchen", URGENT, False),
    ("hallucinations", "the hallucinations have not stopped", URGENT, False),
    ("no chest pain", "no chest pain but my arm is sore", ROUTINE, True),
    ("crisis beats urgent", "I keep vomiting and I want to die", CRISIS, False),
    ("ibuprofen", "can I take ibuprofen?", ROUTINE, False),
    ("reschedule", "I need to reschedule", ROUTINE, False),
    ("thanks", "Thank you so much, see you Thursday", ROUTINE, False),
    ("pain killer", "the painkiller is not helping", ROUTINE, False),
    ("die in words", "my phone battery died", ROUTINE, False),
    ("empty", "", ROUTINE, False),
]


SPANISH_CASES = [
    ("quiero morir", "Ya no aguanto el dolor, quiero morir", CRISIS, False),
    ("me quiero morir, sin acentos", "me quiero morir", CRISIS, False),
    ("con acentos", "Ya no puedo más", CRISIS, False),
    ("quitarme la vida", "pienso en quitarme la vida", CRISIS, False),
    ("suicidarme con errata", "he pensado en suisidarme", CRISIS, False),
    ("pensamientos suicidas", "tengo pensamientos suicidas", CRISIS, False),
    ("negado", "No quiero morir, quiero que pare el dolor", ROUTINE, True),
    ("duda no es negación", "No sé si quiero vivir así, no quiero vivir", CRISIS, False),
    ("negación en otra oración", "No. Me quiero morir", CRISIS, False),
    ("cortarme el pelo", "mañana voy a cortarme el pelo", ROUTINE, False),
    ("vómito", "No puedo dejar de vomitar", URGENT, False),
    ("dolor en el pecho", "Tengo dolor en el pecho desde la mañana", URGENT, False),
    ("respirar", "me cuesta respirar", URGENT, False),
    ("manejando", "Estoy manejando a casa", URGENT, False),
    ("sin dolor de pecho", "sin dolor de pecho, solo cansada", ROUTINE, True),
    ("rutina", "¿Puedo tomar ibuprofeno?", ROUTINE, False),
    ("gracias", "Muchas gracias, nos vemos el jueves", ROUTINE, False),
]


@pytest.fixture(scope="module")
def spanish() -> PhraseBook:
    environment = TemplateEnvironment()
    return PhraseBook.load(environment.search_path, environment.locales_for("es"))


@pytest.mark.parametrize(
    ("text", "level", "negated"), [c[1:] for c in SPANISH_CASES], ids=[c[0] for c in SPANISH_CASES]
)
def test_the_spanish_labelled_cases(spanish: PhraseBook, text: str, level: Level, negated: bool) -> None:
    assessment = classify(text, spanish)

    assert (assessment.level, assessment.negated) == (level, negated)


@pytest.mark.parametrize(("text", "level", "negated"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_labelled_cases(book: PhraseBook, text: str, level: Level, negated: bool) -> None:
    assessment = classify(text, book)
    assert (assessment.level, assessment.negated) == (level, negated)


def test_the_lists_are_data_a_clinic_can_override(tmp_path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "triage.toml").write_text('[crisis]\nphrases = ["red button"]\n', encoding="utf-8")
    environment = TemplateEnvironment(override_dir=tmp_path)
    book = PhraseBook.load(environment.search_path, environment.locales_for("en"))

    assert classify("pressing the red button", book).level is CRISIS
    assert classify("I want to end it all", book).level is ROUTINE
