"""Command-line insights for the operator: export, import, and sample chart, report and PDF files."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from messenger.app import App, build_app
from messenger.clock import Clock, ManualClock
from messenger.config import Settings
from messenger.db import transaction
from messenger.domain.wording import Phrase
from messenger.insights.documents import Insights
from messenger.insights.export_csv import export_zip
from messenger.insights.export_fhir import fhir_bundle
from messenger.insights.importing import ImportPlan, already_enrolled, read_rows
from messenger.rendering.strings import BotStrings
from messenger.services import audit
from messenger.services.enrolment import enrol_many

console = Console()
errors = Console(stderr=True)
T = TypeVar("T")
# Rows enrolled per transaction: the progress bar moves, and a batch stays one bulk insert per table.
IMPORT_BATCH = 500


def with_app(settings: Settings, work: Callable[[App], Awaitable[T]], clock: Clock | None = None) -> T:
    async def run() -> T:
        application = build_app(settings, clock=clock)
        try:
            return await work(application)
        finally:
            await application.engine.dispose()

    return asyncio.run(run())


def insights_of(application: App) -> Insights:
    s = application.settings
    return Insights(
        sessions=application.sessions,
        strings=application.strings,
        clock=application.clock,
        locale=s.default_locale,
        clinic_name=application.clinic.name,
        clinic_zone=s.zone,
    )


def export(settings: Settings, fmt: str, output: Path | None) -> None:
    if fmt not in {"csv", "fhir"}:
        errors.print("[red]--format must be csv or fhir")
        raise typer.Exit(2)

    async def work(application: App) -> tuple[Path, str]:
        now = application.clock.now()
        path = output or Path(f"messenger-export-{now:%Y-%m-%d}.{'zip' if fmt == 'csv' else 'json'}")
        async with transaction(application.sessions) as session:
            if fmt == "csv":
                content, counts = await export_zip(session)
                path.write_bytes(content)
                described = ", ".join(f"{n} {name}" for name, n in counts.items())
            else:
                bundle = await fhir_bundle(session, now=now)
                path.write_text(bundle.model_dump_json(indent=2), encoding="utf-8")
                described = f"{len(bundle.entry or [])} resources"
            audit.record(session, at=now, actor=audit.SYSTEM, action="export", format=fmt, output=path.name)
        return path, described

    path, described = with_app(settings, work)
    console.print(f"[green]Wrote {escape(str(path))}[/]: {escape(described)}")


def import_patients(settings: Settings, path: Path, *, skip_invalid: bool) -> int:
    """Check every row, then enrol; returns the exit code."""
    if not path.is_file():
        errors.print(f"[red]No such file: {escape(str(path))}")
        return 2
    text = path.read_text(encoding="utf-8-sig")

    async def work(application: App) -> int:
        now = application.clock.now()
        plan = read_rows(text, catalog=application.catalog, series_key=settings.default_series, now=now)
        _print_problems(plan, application.strings, settings.default_locale)
        if plan.problems and not skip_invalid:
            errors.print(f"[red]Nothing imported: {len(plan.problems)} problem(s).[/] Fix them, or use --skip-invalid.")
            return 1
        async with application.sessions() as session:
            repeated = await already_enrolled(session, plan.rows)
        new = [row for row in plan.rows if row.line not in repeated]
        with Progress(console=console, transient=False) as progress:
            task = progress.add_task("Enrolling", total=len(new))
            for start in range(0, len(new), IMPORT_BATCH):
                batch = new[start : start + IMPORT_BATCH]
                async with transaction(application.sessions) as session:
                    await enrol_many(
                        session=session,
                        catalog=application.catalog,
                        quiet_hours=application.quiet_hours,
                        requests=[row.request for row in batch],
                        now=now,
                        actor=f"import:{path.name}",
                    )
                progress.advance(task, len(batch))
        console.print(
            f"Enrolled {len(new)}; already enrolled {len(repeated)}; invalid rows skipped "
            f"{len({p.line for p in plan.problems})}."
        )
        return 0

    return with_app(settings, work)


IMPORT_PROBLEMS = {
    "header": "the header must be {expected}",
    "field_count": "expected {expected} fields, found {given}",
    "missing": "a value is required",
    "no_contact": "give a phone number or an e-mail address",
    "invalid": "{value!r} is not valid here",
    "bad_time": "{value!r} is not a time as YYYY-MM-DD HH:MM",
    "in_past": "the first infusion ({value}) is not in the future",
    "first_infusion_missing": "give the first infusion",
    "bad_course": "these infusions do not make a course: {problem}",
}


def _print_problems(plan: ImportPlan, strings: BotStrings, locale: str) -> None:
    for problem in plan.problems:
        params = {
            k: strings.plain(v.key, locale, **v.params) if isinstance(v, Phrase) else v
            for k, v in problem.params.items()
        }
        try:
            what = IMPORT_PROBLEMS[problem.code].format(**params)
        except (KeyError, IndexError):
            what = f"{problem.code} {json.dumps(params, default=str)}"
        errors.print(
            f"[red]line {problem.line}[/], column [bold]{escape(problem.column)}[/]: {escape(what)}",
            highlight=False,
            soft_wrap=True,
        )


def sample_files(
    settings: Settings, *, patient_id: int, days: int, folder: Path, as_of: datetime | None = None
) -> None:
    """Write the progress chart, the cohort report and the summary PDF, as staff receive them (at ``as_of``)."""

    async def work(application: App) -> list[tuple[str, bytes]]:
        insights = insights_of(application)
        progress = await insights.progress(patient_id)
        _figures, report = await insights.report(days)
        summary = await insights.summary(patient_id)
        return [(r.filename, r.content) for r in (progress, report, summary)] + [
            (f"report-{days}d.txt", report.caption.encode())
        ]

    folder.mkdir(parents=True, exist_ok=True)
    for name, content in with_app(settings, work, ManualClock(as_of) if as_of else None):
        (folder / name).write_bytes(content)
        console.print(f"Wrote {escape(str(folder / name))}")
