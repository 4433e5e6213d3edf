"""The CSV zip and the FHIR bundle; importing patients from CSV, row by row and idempotently."""

from __future__ import annotations

import csv
import io
import zipfile

from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import func
from sqlmodel import select

from messenger.db import transaction
from messenger.domain.models import Patient, Series
from messenger.insights.export_csv import columns, export_zip
from messenger.insights.export_fhir import fhir_bundle
from messenger.insights.importing import already_enrolled, read_rows
from messenger.services.enrolment import enrol_many

HEADER = "name,phone,email,timezone,language,first_infusion,infusions"


async def test_the_csv_zip_has_the_documented_columns_and_utc_times(clinic):
    async with clinic.app.sessions() as session:
        content, counts = await export_zip(session)

    archive = zipfile.ZipFile(io.BytesIO(content))
    assert set(archive.namelist()) == {*columns(), "COLUMNS.txt"}
    for name, documented in columns().items():
        rows = list(csv.reader(io.StringIO(archive.read(name).decode())))
        assert rows[0] == list(documented), name
        assert len(rows) - 1 == counts[name]
    infusions = list(csv.DictReader(io.StringIO(archive.read("infusions.csv").decode())))
    assert infusions[0]["scheduled_at"] == "2026-12-02T18:00:00Z"
    answers = list(csv.DictReader(io.StringIO(archive.read("answers.csv").decode())))
    assert [a["after_infusion"] for a in answers if a["question"] == "pain"][:2] == ["0", "1"]
    assert counts["patients.csv"] == 3
    assert b"code_hash" not in content and "code_hash" not in archive.read("COLUMNS.txt").decode()


async def test_the_fhir_bundle_validates_as_r4b(clinic):
    async with clinic.app.sessions() as session:
        bundle = await fhir_bundle(session, now=clinic.now)

    again = Bundle.model_validate_json(bundle.model_dump_json())
    kinds = [entry.resource.get_resource_type() for entry in again.entry]
    assert kinds.count("Patient") == 3
    assert kinds.count("Appointment") == 15
    assert kinds.count("QuestionnaireResponse") == 7
    statuses = [e.resource.status for e in again.entry if e.resource.get_resource_type() == "Appointment"]
    assert statuses.count("noshow") == 1 and statuses.count("cancelled") == 5


def _plan(app, text):
    return read_rows(text, catalog=app.catalog, series_key=app.settings.default_series, now=app.clock.now())


def test_import_reports_each_bad_row_by_line_and_column(app):
    text = "\n".join(
        [
            HEADER,
            "Ana Alvarez,+15551230001,,America/Los_Angeles,en,2026-12-03 10:00,",
            "Ben Brown,555-1234,,America/Los_Angeles,en,2026-12-03 10:00,",
            "Cy Chen,+15551230003,,Mars/Olympus,en,2026-12-03 10:00,",
            ",+15551230004,,America/Los_Angeles,en,tomorrow,",
            "Di Diaz,,di@example.org,America/Los_Angeles,en,2026-12-03 10:00,2026-12-03 10:00;2026-12-04 10:00",
            "Ed Eng,+15551230006,,America/Los_Angeles,en,2026-11-01 10:00,",
        ]
    )
    plan = _plan(app, text)

    assert [row.line for row in plan.rows] == [2]
    found = {(p.line, p.column, p.code) for p in plan.problems}
    assert found == {
        (3, "phone", "invalid"),
        (4, "timezone", "invalid"),
        (5, "name", "missing"),
        (5, "first_infusion", "bad_time"),
        (6, "infusions", "bad_course"),
        (7, "first_infusion", "in_past"),
    }


def test_a_wrong_header_is_line_one(app):
    plan = _plan(app, "name,phone,tz\nAna,+15551230001,UTC\n")

    assert [(p.line, p.code) for p in plan.problems] == [(1, "header")]


async def test_importing_the_same_file_twice_enrols_nobody_twice(app):
    text = "\n".join(
        [HEADER]
        + [f"Patient {n},+1555123{n:04d},,Europe/Madrid,es,2026-12-03 10:00," for n in range(50)]
        + ["Patient 0,+15551230000,,Europe/Madrid,es,2026-12-03 10:00,"]  # the same patient again in the file
    )
    for _ in range(2):
        plan = _plan(app, text)
        async with transaction(app.sessions) as session:
            repeated = await already_enrolled(session, plan.rows)
            await enrol_many(
                session=session,
                catalog=app.catalog,
                quiet_hours=app.quiet_hours,
                requests=[r.request for r in plan.rows if r.line not in repeated],
                now=app.clock.now(),
                actor="import:test",
            )

    async with app.sessions() as session:
        patients = (await session.exec(select(func.count()).select_from(Patient))).one()
        series = (await session.exec(select(func.count()).select_from(Series))).one()
        locale = (await session.exec(select(Patient.locale).limit(1))).one()
    assert (patients, series, locale) == (50, 50, "es")
