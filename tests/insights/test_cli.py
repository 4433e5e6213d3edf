"""``messenger import`` and ``messenger export`` on a real SQLite file, as an operator runs them."""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from messenger.cli import app

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
HEADER = "name,phone,email,timezone,language,first_infusion,infusions"


@pytest.fixture
def workdir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.startswith("MESSENGER_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MESSENGER_DATABASE_URL", f"sqlite:///{tmp_path / 'clinic.db'}")
    assert CliRunner().invoke(app, ["db", "upgrade"]).exit_code == 0
    return tmp_path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, _ANSI.sub("", result.output)


def test_a_file_with_a_bad_row_imports_nothing_unless_told(workdir: Path):
    (workdir / "patients.csv").write_text(
        "\n".join(
            [
                HEADER,
                "Ana Alvarez,+15551230001,,America/New_York,en,2030-01-10 10:00,",
                "Ben Brown,+15551230002,,America/New_York,en,2030-01-10 25:00,",
            ]
        )
    )

    refused, refused_out = run("import", "patients.csv")
    skipped, skipped_out = run("import", "patients.csv", "--skip-invalid")
    again, again_out = run("import", "patients.csv", "--skip-invalid")

    assert refused == 1
    assert "line 3, column first_infusion" in refused_out and "Nothing imported" in refused_out
    assert skipped == 0 and "Enrolled 1; already enrolled 0" in skipped_out
    assert again == 0 and "Enrolled 0; already enrolled 1" in again_out


def test_export_writes_a_csv_zip_and_a_fhir_bundle(workdir: Path):
    (workdir / "patients.csv").write_text(HEADER + "\nAna Alvarez,+15551230001,,UTC,en,2030-01-10 10:00,\n")
    assert run("import", "patients.csv")[0] == 0

    code, out = run("export", "--format", "csv")
    fhir_code, _ = run("export", "--format", "fhir", "--output", "bundle.json")

    zips = list(workdir.glob("messenger-export-*.zip"))
    assert code == 0 and len(zips) == 1, out
    assert "patients.csv" in zipfile.ZipFile(zips[0]).namelist()
    bundle = json.loads((workdir / "bundle.json").read_text())
    assert fhir_code == 0 and bundle["resourceType"] == "Bundle"
    assert sum(1 for e in bundle["entry"] if e["resource"]["resourceType"] == "Appointment") == 5
