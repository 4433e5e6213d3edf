"""`templates check` beyond rendering: every language has what a patient reads, reminders keep the clinic's words."""

from __future__ import annotations

from pathlib import Path

from messenger.channels.catalogue import shipped_capabilities
from messenger.domain.catalog import SeriesCatalog
from messenger.rendering.check import check_templates
from messenger.rendering.context import Clinic
from messenger.rendering.environment import TemplateEnvironment

CLINIC = Clinic("Renew Ketamine Infusion", "949-503-1414")


def _problems(override: Path) -> list[str]:
    environment = TemplateEnvironment(override_dir=override)
    return check_templates(environment, SeriesCatalog.load(), CLINIC, capabilities=shipped_capabilities()).problems


def test_the_shipped_spanish_lacks_nothing_english_has() -> None:
    report = check_templates(TemplateEnvironment(), SeriesCatalog.load(), CLINIC, capabilities=shipped_capabilities())

    assert not [p for p in report.problems if "missing" in p or "bot.toml" in p]
    assert report.ok


def test_a_language_that_lacks_a_patient_template_or_string_fails(tmp_path: Path) -> None:
    (tmp_path / "fr").mkdir()
    (tmp_path / "fr" / "welcome.text.j2").write_text("Bonjour {{ patient.first_name }}")

    problems = _problems(tmp_path)

    assert any(p.startswith("fr/reminder/day-before.sms.j2: missing") for p in problems)
    assert any(p.startswith("fr/bot.toml: no 'sms.stopped'") for p in problems)
    assert any(p.startswith("fr/bot.toml: no 'buttons.attend'") for p in problems)
    # Staff pages and staff strings may stay in the clinic's language.
    assert not any("help-staff" in p or "'staff." in p or "'conversation." in p for p in problems)


def test_a_reminder_that_types_out_the_clinics_words_is_flagged(tmp_path: Path) -> None:
    (tmp_path / "en" / "reminder").mkdir(parents=True)
    (tmp_path / "en" / "reminder" / "same-day.sms.j2").write_text(
        "Today at {{ infusion.time }}. An adult must drive you home. Bring {{ series.vars.bring }}, "
        "and {{ series.vars.before }}. Call {{ clinic.phone }}."
    )

    problems = [p for p in _problems(tmp_path) if "same-day.sms.j2" in p]

    assert len(problems) == 2, problems
    assert "does not show the series' 'arrange' text" in problems[0]
    assert "types out the series' 'arrange' text ('drive you home')" in problems[1]


def test_a_spanish_sms_that_turns_ucs2_and_too_long_is_told_which_letters_did_it(tmp_path: Path) -> None:
    (tmp_path / "es").mkdir()
    (tmp_path / "es" / "completion.sms.j2").write_text("Gracias. " + "Su serie terminó, aquí seguimos. " * 4)

    problems = [p for p in _problems(tmp_path) if "completion.sms.j2" in p]

    assert problems == [
        f"{tmp_path}/es/completion.sms.j2: 3 SMS segments (UCS-2, 140 characters); keep it to 2; "
        "'óí' force UCS-2: reword to stay in GSM-7"
    ]
