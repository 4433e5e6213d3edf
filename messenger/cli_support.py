"""What every CLI command shares: the consoles, and settings loaded or a one-line error and exit 2."""

from __future__ import annotations

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from messenger.config import Settings
from messenger.domain.hours import HoursError, clinic_hours
from messenger.domain.series import SeriesDefinitionError
from messenger.settings_loading import UnknownSettingError, load_settings

console = Console()
errors = Console(stderr=True)


def settings_or_exit(**overrides: object) -> Settings:
    try:
        settings = load_settings(**overrides)
        clinic_hours(settings)  # a malformed MESSENGER_CLINIC_HOURS stops start-up here, with its sentence
        return settings
    except ValidationError as exc:
        for error in exc.errors():
            name = "MESSENGER_" + "_".join(str(p) for p in error["loc"]).upper()
            message = escape(error["msg"].removeprefix("Value error, "))
            errors.print(f"[red]Configuration error[/]: {name}: {message}", soft_wrap=True)
        raise typer.Exit(2) from None
    except UnknownSettingError as exc:
        errors.print(f"[red]Configuration error[/]: {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None
    except SeriesDefinitionError as exc:
        errors.print(f"[red]Series definition error[/]: {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None
    except HoursError as exc:
        errors.print(f"[red]Configuration error[/]: MESSENGER_CLINIC_HOURS: {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None
