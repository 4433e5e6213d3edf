"""The ``messenger`` command."""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from sqlmodel import col, func, select

from messenger import __version__
from messenger.cli_staff import staff_app
from messenger.cli_support import console, errors, settings_or_exit
from messenger.clock import SystemClock
from messenger.config import Settings
from messenger.domain.catalog import SeriesCatalog, definition_files, load_definition
from messenger.domain.enums import StaffRole
from messenger.domain.models import Staff
from messenger.domain.series import SeriesDefinitionError
from messenger.migrations.cli import db_app
from messenger.observability.logging import configure_logging
from messenger.startup import ExitCode, StartupFailure, explain_failure, preflight

# Typer's crash printout shows every local variable, settings and bot token included.
if TYPE_CHECKING:
    from messenger.app import App

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    help="Keeps a clinic in touch with its patients.",
)
templates_app = typer.Typer(no_args_is_help=True, help="Work with message templates.")
series_app = typer.Typer(no_args_is_help=True, help="Work with series definitions.")
app.add_typer(templates_app, name="templates")
app.add_typer(series_app, name="series")
app.add_typer(db_app, name="db", help="Database migrations: upgrade, downgrade, current, stamp, revision.")
app.add_typer(staff_app, name="staff")


def _version(value: bool) -> None:
    if value:
        console.print(f"messenger {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    _version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Keeps a clinic in touch with its patients."""


@app.command()
def run(
    log_level: Annotated[str | None, typer.Option(help="DEBUG, INFO, WARNING… (default: MESSENGER_LOG_LEVEL)")] = None,
) -> None:
    """Run the bot, the scheduler, the dispatcher and the web app until Ctrl-C or SIGTERM."""
    settings = settings_or_exit(**({"log_level": log_level} if log_level else {}))
    configure_logging(level=settings.log_level, json=settings.log_json)
    try:
        preflight(settings)
    except StartupFailure as failure:
        raise typer.Exit(_cannot_start(failure)) from None
    raise typer.Exit(asyncio.run(_run(settings)))


def _cannot_start(failure: StartupFailure) -> ExitCode:
    errors.print(f"[red]messenger cannot start[/]: {escape(failure.sentence)}", highlight=False, soft_wrap=True)
    return failure.code


def _failed(exc: BaseException, settings: Settings) -> ExitCode:
    failure = explain_failure(exc, settings)
    if failure is not None:
        return _cannot_start(failure)
    # Unforeseen: the traceback goes through the redacting log handler, never Typer's printout.
    logging.getLogger("messenger").critical("start-up failed", exc_info=exc)
    return _cannot_start(StartupFailure(f"unexpected {type(exc).__name__} (details above)", ExitCode.FAILED))


async def _run(settings: Settings) -> ExitCode:
    from messenger.app import build_app

    try:
        app = build_app(settings, serve_http=True)
    except Exception as exc:
        return _failed(exc, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log = logging.getLogger("messenger")
    try:
        await app.start()
        await _warn_if_useless(app)
    except Exception as exc:
        try:
            await app.stop()
        except Exception:
            log.debug("clean-up after a failed start failed too", exc_info=True)
        return _failed(exc, settings)
    channels = ", ".join(sorted(c.value for c in app.channels))
    log.info(
        "messenger is running (channels: %s; http on %s:%s); Ctrl-C to stop",
        channels,
        settings.http_host,
        app.web.port if app.web else "-",
    )
    try:
        await stop.wait()
        log.info("stopping: no new claims; finishing the sends in flight")
    finally:
        await app.stop()
    return ExitCode.OK


async def _warn_if_useless(app: App) -> None:
    """Say loudly what makes this start do less than an operator expects."""
    log = logging.getLogger("messenger")
    if app.telegram is None:
        log.warning(
            "Telegram is off (MESSENGER_TELEGRAM_TOKEN is not set): no patient or staff member can use the bot; "
            "only SMS, WhatsApp and e-mail are sent"
        )
    async with app.sessions() as session:
        owners = (
            await session.exec(
                select(func.count())
                .select_from(Staff)
                .where(col(Staff.active).is_(True), col(Staff.role) == StaffRole.OWNER)
            )
        ).one()
    if not owners:
        log.warning(
            "no staff owner exists, so nobody can enrol patients: set MESSENGER_OWNER_IDS or run "
            "`messenger staff add USER_ID --role owner`"
        )


@app.command()
def demo(
    seconds: Annotated[float, typer.Option(help="Real seconds the whole series should take.")] = 60.0,
    minutes: Annotated[float | None, typer.Option(help="The same budget in minutes (overrides --seconds).")] = None,
    speed: Annotated[float | None, typer.Option(help="Story seconds per real second (overrides the budget).")] = None,
    timezone: Annotated[str | None, typer.Option(help="The demo patient's IANA time zone.")] = None,
    database: Annotated[str, typer.Option(help="A fresh SQLite file is made for each demo.")] = "messenger-demo.db",
) -> None:
    """Enrol a demo patient and show every message of the series, compressed into about a minute."""
    from messenger.demo import run_demo

    Path(database).unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        Path(database + suffix).unlink(missing_ok=True)
    settings = settings_or_exit(
        database_url=f"sqlite:///{database}", **({"default_timezone": timezone} if timezone else {})
    )
    budget = minutes * 60 if minutes is not None else seconds
    if budget <= 0 or (speed is not None and speed <= 0):
        errors.print("[red]--seconds, --minutes and --speed must be positive")
        raise typer.Exit(2)
    configure_logging(level="WARNING")
    summary = asyncio.run(run_demo(settings, now=SystemClock().now(), seconds=budget, speed=speed, console=console))
    raise typer.Exit(0 if summary.finished else 1)


@templates_app.command("check")
def templates_check() -> None:
    """Render every template of every series, channel flavour and locale with sample data."""
    from messenger.channels.catalogue import shipped_capabilities
    from messenger.rendering.check import check_templates
    from messenger.rendering.context import Clinic
    from messenger.rendering.environment import TemplateEnvironment

    settings = settings_or_exit()
    environment = TemplateEnvironment(override_dir=settings.templates_dir, default_locale=settings.default_locale)
    try:
        catalog = SeriesCatalog.load(settings.series_dir)
    except SeriesDefinitionError as exc:
        errors.print(f"[red]{escape(str(exc))}")
        raise typer.Exit(1) from None
    report = check_templates(
        environment,
        catalog,
        Clinic(settings.clinic_name, settings.clinic_phone),
        capabilities=shipped_capabilities(),
        sensitive_words=settings.sensitive_words,
        whatsapp=settings.twilio_whatsapp_from is not None,
    )
    for notice in report.notices:
        console.print(f"[yellow]![/] {escape(notice)}", highlight=False, soft_wrap=True)
    for problem in report.problems:
        errors.print(f"[red]✗[/] {escape(problem)}", highlight=False, soft_wrap=True)
    longest = ", ".join(f"{flavour.value} {length}" for flavour, length in sorted(report.lengths.items()))
    console.print(f"{report.rendered} renderings checked; longest: {longest or 'none'}")
    if report.sms:
        console.print("SMS texts: " + ", ".join(f"{count} × {kind}" for kind, count in sorted(report.sms.items())))
    if not report.ok:
        errors.print(f"[red]{len(report.problems)} template problem(s)")
        raise typer.Exit(1)
    console.print("[green]All templates render.")


@series_app.command("validate")
def series_validate(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Definition files; default: shipped and MESSENGER_SERIES_DIR.")
    ] = None,
) -> None:
    """Check series definitions; a broken one is named with its step and problem."""
    if not paths:
        settings = settings_or_exit()
        paths = definition_files(settings.series_dir)
    failed = 0
    for path in paths:
        try:
            definition = load_definition(path)
        except (SeriesDefinitionError, OSError) as exc:
            failed += 1
            errors.print(f"[red]✗[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            continue
        steps = sum(1 for _ in definition.expanded_steps())
        console.print(
            f"[green]✓[/] {escape(str(path))}: {escape(repr(definition.key))}, "
            f"{definition.infusions.count} infusions, {steps} steps"
        )
    if failed:
        raise typer.Exit(1)


@app.command("export")
def export_command(
    fmt: Annotated[str, typer.Option("--format", help="csv (a zip of CSV files) or fhir (a FHIR R4B Bundle as JSON)")],
    output: Annotated[Path | None, typer.Option(help="Default: messenger-export-<UTC date>.zip (.json) here.")] = None,
) -> None:
    """Write the clinic's patients, infusions, answers, messages and audit log for use elsewhere."""
    from messenger import cli_insights as insights_cli

    insights_cli.export(settings_or_exit(), fmt, output)


@app.command("import")
def import_command(
    path: Annotated[Path, typer.Argument(help="CSV: name,phone,email,timezone,language,first_infusion,infusions")],
    skip_invalid: Annotated[bool, typer.Option(help="Enrol the valid rows even if some are not.")] = False,
) -> None:
    """Enrol many patients from a CSV file; every row is checked first, and a second import enrols nobody twice."""
    from messenger import cli_insights as insights_cli

    raise typer.Exit(insights_cli.import_patients(settings_or_exit(), path, skip_invalid=skip_invalid))


@app.command("insights")
def insights_command(
    patient: Annotated[int, typer.Option(help="The patient whose chart and summary to write.")] = 1,
    days: Annotated[int, typer.Option(help="The report's period in days.")] = 30,
    folder: Annotated[Path, typer.Option(help="Where to write the files.")] = Path("insights"),
    as_of: Annotated[
        datetime | None, typer.Option(help="Report as at this UTC time (e.g. the end of the demo's story).")
    ] = None,
) -> None:
    """Write a patient's progress chart and summary PDF and the cohort report, as staff receive them."""
    from messenger import cli_insights as insights_cli

    when = as_of.replace(tzinfo=UTC) if as_of else None
    insights_cli.sample_files(settings_or_exit(), patient_id=patient, days=days, folder=folder, as_of=when)


def main() -> None:
    app()
