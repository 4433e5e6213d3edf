"""Templates: every shipped one renders; a broken one is named with its file and line."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from messenger.channels.catalogue import shipped_capabilities
from messenger.cli import app as cli
from messenger.content import Flavour
from messenger.domain.catalog import SeriesCatalog
from messenger.rendering.check import check_templates
from messenger.rendering.context import Clinic, sample_context
from messenger.rendering.environment import TemplateEnvironment

CLINIC = Clinic("Renew Ketamine Infusion", "949-503-1414")


def test_every_shipped_template_renders_with_sample_data():
    report = check_templates(TemplateEnvironment(), SeriesCatalog.load(), CLINIC, capabilities=shipped_capabilities())

    assert report.problems == []
    steps = sum(1 for d in SeriesCatalog.load() for _ in d.expanded_steps())
    assert report.rendered >= steps * 2  # at least text and Telegram for every step


def test_the_check_command_passes_on_the_shipped_templates():
    result = CliRunner().invoke(cli, ["templates", "check"])

    assert result.exit_code == 0, result.output
    assert "All templates render" in result.output


@pytest.mark.parametrize(
    ("source", "line", "problem"),
    [
        pytest.param("Hi {{ patient.first_name }}\n{{ patient.nickname }}\n", 2, "nickname", id="undefined"),
        pytest.param("Hi\n\n{% if %}\n", 3, "Expected an expression", id="syntax"),
        pytest.param("{{ clinic.name | no_such_filter }}", 1, "no_such_filter", id="unknown-filter"),
    ],
)
def test_a_broken_template_fails_the_check_naming_file_and_line(tmp_path, monkeypatch, source, line, problem):
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "welcome.text.j2").write_text(source)
    monkeypatch.setenv("MESSENGER_TEMPLATES_DIR", str(tmp_path))

    result = CliRunner().invoke(cli, ["templates", "check"])

    assert result.exit_code == 1
    assert f"{tmp_path / 'en' / 'welcome.text.j2'}:{line}" in result.output
    assert problem in result.output


def test_html_flavours_escape_what_people_typed_and_text_flavours_keep_it():
    environment = TemplateEnvironment()
    definition = SeriesCatalog.load().get("ketamine-chronic-pain")
    context = sample_context(
        definition, clinic=CLINIC, step_key="welcome", kind=definition.steps[0].kind, infusion_number=None
    )
    context["patient"]["first_name"] = "<i>Ana</i> & Co"

    html = environment.render("welcome", Flavour.TELEGRAM, "en", context)
    text = environment.render("welcome", Flavour.TEXT, "en", context)

    assert "&lt;i&gt;Ana&lt;/i&gt; &amp; Co" in html
    assert "<i>Ana</i>" not in html
    assert "<i>Ana</i> & Co" in text


def test_a_locale_falls_back_to_its_language_then_to_english(tmp_path):
    (tmp_path / "es").mkdir()
    (tmp_path / "es" / "welcome.text.j2").write_text("Hola {{ patient.first_name }}")
    environment = TemplateEnvironment(override_dir=tmp_path)
    context = {"patient": {"first_name": "Ana"}}

    assert environment.render("welcome", Flavour.TEXT, "es-MX", context) == "Hola Ana"
    assert environment.resolve("completion", Flavour.TEXT, "es-MX").locale == "en"


@pytest.mark.parametrize(
    ("file", "source", "word"),
    [
        pytest.param(
            "reminder/same-day.sms.j2",
            "Your ketamine visit is today at {{ infusion.time }}.",
            "'ketamine'",
            id="sms-names-the-drug",
        ),
        pytest.param(
            "education/imaging.email-subject.j2",
            "About your Fibromyalgia",
            "'fibromyalgia'",
            id="subject-names-a-diagnosis",
        ),
        pytest.param("welcome.sms.j2", "Welcome to {{ clinic.name }}", "'ketamine'", id="clinic-name-in-sms"),
    ],
)
def test_the_check_catches_a_sensitive_word_on_a_discreet_channel(tmp_path, monkeypatch, file, source, word):
    target = tmp_path / "en" / file
    target.parent.mkdir(parents=True)
    target.write_text(source)
    monkeypatch.setenv("MESSENGER_TEMPLATES_DIR", str(tmp_path))

    result = CliRunner().invoke(cli, ["templates", "check"])

    assert result.exit_code == 1
    problem = next(line for line in result.output.splitlines() if f"{target}: shows" in line)
    assert word in problem.lower() and "on a discreet channel" in problem


def test_the_check_reports_sms_segments_and_refuses_a_third(tmp_path, monkeypatch):
    target = tmp_path / "en" / "completion.sms.j2"
    target.parent.mkdir(parents=True)
    target.write_text("Thank you. " * 40)  # 439 GSM-7 characters once trimmed: three segments
    monkeypatch.setenv("MESSENGER_TEMPLATES_DIR", str(tmp_path))

    result = CliRunner().invoke(cli, ["templates", "check"])

    assert result.exit_code == 1
    assert "3 SMS segments (GSM-7, 439 characters)" in result.output


def test_shipped_sms_texts_fit_two_gsm7_segments():
    report = check_templates(TemplateEnvironment(), SeriesCatalog.load(), CLINIC, capabilities=shipped_capabilities())

    assert report.sms, "the shipped series has SMS texts"
    assert set(report.sms) <= {"GSM-7, 1 segment(s)", "GSM-7, 2 segment(s)"}
