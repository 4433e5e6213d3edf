"""``messenger series validate``: good files are summarised, broken ones named with step and problem."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from messenger.cli import app
from messenger.domain.catalog import SHIPPED_SERIES_DIR

SHIPPED_FILE = SHIPPED_SERIES_DIR / "ketamine-chronic-pain.toml"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Default settings only: no MESSENGER_* variables and no .env file in the working directory."""
    for name in list(os.environ):
        if name.startswith("MESSENGER_"):
            monkeypatch.delenv(name)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)


def validate(*args: str | Path, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    runner = CliRunner(env={"COLUMNS": "400", "NO_COLOR": "1", **(env or {})})
    return runner.invoke(app, ["series", "validate", *map(str, args)])


def text(stream: str) -> str:
    """Printed text without colour codes, with any line wrapping undone."""
    return " ".join(_ANSI.sub("", stream).split())


def broken_copy(path: Path) -> Path:
    """The shipped series with the first education step's offset mistyped."""
    shipped_text = SHIPPED_FILE.read_text(encoding="utf-8")
    path.write_text(shipped_text.replace('offset = "2h"', 'offset = "2 hours"', 1), encoding="utf-8")
    return path


def test_no_arguments_validates_the_shipped_series() -> None:
    result = validate()
    assert result.exit_code == 0, result.output
    out = text(result.stdout)
    assert f"✓ {SHIPPED_FILE}: 'ketamine-chronic-pain', 5 infusions, 29 steps" in out
    assert text(result.stderr) == ""


def test_broken_file_is_named_with_step_and_problem(tmp_path: Path) -> None:
    path = broken_copy(tmp_path / "broken.toml")
    result = validate(path)
    assert result.exit_code == 1
    err = text(result.stderr)
    assert f"✗ {path}: step 'edu-what-is-chronic-pain': offset: bad offset '2 hours'" in err
    assert "✓" not in text(result.output)


def test_good_and_bad_files_are_both_reported(tmp_path: Path) -> None:
    bad = broken_copy(tmp_path / "bad.toml")
    result = validate(SHIPPED_FILE, bad)
    assert result.exit_code == 1
    assert f"✓ {SHIPPED_FILE}: 'ketamine-chronic-pain'" in text(result.stdout)
    assert f"✗ {bad}: step 'edu-what-is-chronic-pain'" in text(result.stderr)
    # The runner also mixes both streams into .output, in the order they were written.
    output = text(result.output)
    assert output.index(str(SHIPPED_FILE)) < output.index(str(bad))


def test_every_broken_file_is_reported_not_just_the_first(tmp_path: Path) -> None:
    syntax = tmp_path / "syntax.toml"
    syntax.write_text('key = "x"\ntitle = \n', encoding="utf-8")
    bad = broken_copy(tmp_path / "bad.toml")
    result = validate(syntax, bad)
    assert result.exit_code == 1
    err = text(result.stderr)
    assert f"✗ {syntax}: not valid TOML" in err
    assert f"✗ {bad}: step 'edu-what-is-chronic-pain'" in err


def test_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    result = validate(missing)
    assert result.exit_code == 1
    assert str(missing) in text(result.stderr)


def test_series_dir_setting_is_validated_with_the_shipped_series(tmp_path: Path) -> None:
    series_dir = tmp_path / "series"
    series_dir.mkdir()
    bad = broken_copy(series_dir / "clinic.toml")
    result = validate(env={"MESSENGER_SERIES_DIR": str(series_dir)})
    assert result.exit_code == 1
    assert f"✓ {SHIPPED_FILE}" in text(result.stdout)
    assert f"✗ {bad}: step 'edu-what-is-chronic-pain'" in text(result.stderr)


def test_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('key = "x"\ntitle = "Café"\n'.encode("latin-1"))
    result = validate(path)
    assert result.exit_code == 1
    assert f"✗ {path}" in text(result.stderr)


def test_square_brackets_in_a_problem_are_printed(tmp_path: Path) -> None:
    path = tmp_path / "brackets.toml"
    shipped_text = SHIPPED_FILE.read_text(encoding="utf-8")
    path.write_text(shipped_text.replace('anchor = "enrolment"', 'anchor = "[/x]"', 1), encoding="utf-8")
    result = validate(path)
    assert result.exit_code == 1
    assert f"✗ {path}: step 'welcome': anchor: anchor '[/x]'" in text(result.stderr)


def test_square_brackets_in_a_file_name_are_printed(tmp_path: Path) -> None:
    path = tmp_path / "series [v2].toml"
    path.write_text(SHIPPED_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    result = validate(path)
    assert result.exit_code == 0
    assert f"✓ {path}: 'ketamine-chronic-pain'" in text(result.stdout)
