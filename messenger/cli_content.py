"""The clinic's content on the command line: `messenger templates check` and `messenger series validate`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from messenger.cli_support import console, errors, settings_or_exit
from messenger.domain.catalog import SeriesCatalog, definition_files, load_definition
from messenger.domain.series import SeriesDefinitionError

templates_app = typer.Typer(no_args_is_help=True, help="Work with message templates.")
series_app = typer.Typer(no_args_is_help=True, help="Work with series definitions.")


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
        Clinic(settings.clinic_name, settings.clinic_phone, settings.locale),
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
