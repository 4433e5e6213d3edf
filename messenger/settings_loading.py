"""Settings as ``messenger`` loads them: from the environment and ``.env``, every ``MESSENGER_*`` name checked."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from dotenv import dotenv_values

from messenger.config import Settings

__all__ = ["UnknownSettingError", "check_setting_names", "load_settings", "setting_names"]


# The test suite's own variables (MESSENGER_TEST_POSTGRES_URL) are not settings of the app.
_TEST_PREFIX = "MESSENGER_TEST_"


class UnknownSettingError(ValueError):
    """A ``MESSENGER_*`` name that is no setting: a typo would otherwise be ignored silently."""


def setting_names() -> list[str]:
    """Every setting's environment name, ``MESSENGER_…``."""
    prefix = Settings.model_config.get("env_prefix", "")
    return [prefix + name.upper() for name in Settings.model_fields]


def check_setting_names(environ: dict[str, str] | None = None, env_file: Path | None = None) -> None:
    """Raise :class:`UnknownSettingError` for the first ``MESSENGER_*`` name that is no setting."""
    known = setting_names()
    env_file = env_file if env_file is not None else Path(str(Settings.model_config.get("env_file")))
    sources: list[tuple[str, list[str]]] = [("the environment", list((environ or dict(os.environ)).keys()))]
    if env_file.is_file():
        sources.append((str(env_file), list(dotenv_values(env_file).keys())))
    for source, names in sources:
        for name in sorted(names):
            upper = name.upper()
            if upper.startswith("MESSENGER_") and not upper.startswith(_TEST_PREFIX) and upper not in known:
                close = difflib.get_close_matches(upper, known, n=1, cutoff=0.6)
                if close:
                    raise UnknownSettingError(f"{name} (in {source}) is not a setting: did you mean {close[0]}?")
                raise UnknownSettingError(f"{name} (in {source}) is not a setting: .env.example lists them all")


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment and ``.env``; keyword overrides win.

    An unknown ``MESSENGER_*`` name raises :class:`UnknownSettingError`.
    """
    check_setting_names()
    return Settings(**overrides)  # type: ignore[arg-type]
