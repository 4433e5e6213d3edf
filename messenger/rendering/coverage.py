"""What ``templates check`` asks of every language and of reminders, beyond rendering.

* Every other locale has each patient-facing template and bot string the default locale has: a
  Spanish patient must never get an English fallback in the middle of a Spanish series.
* Reminders show the clinic's own words (the series' ``bring`` / ``arrange`` / ``before``) from the
  series, in every flavour: a template that types them out goes stale the day the clinic changes them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from messenger.rendering.environment import TemplateEnvironment
from messenger.rendering.strings import BotStrings

__all__ = ["PATIENT_STRING_SECTIONS", "hard_coded_vars", "missing_translations"]

# Bot strings a patient reads: whole sections, and single patient-facing keys of mostly-staff sections.
PATIENT_STRING_SECTIONS = ("patient.", "sms.", "web.", "menu.", "language.", "listening.", "listening_sms.")
PATIENT_STRING_KEYS = frozenset(
    {
        "errors.invite_invalid",
        "errors.button_not_yours",
        "errors.infusion_started",
        "errors.answer_invalid",
        *(f"buttons.{k}" for k in ("attend", "reschedule", "yes", "no", "stop_yes", "stop_no")),
        *(f"buttons.mood_{n}" for n in range(1, 6)),
    }
)
# Staff-only pages under bot/; every other template is something a patient receives or opens.
STAFF_PAGES = frozenset(
    f"bot/{name}.telegram.html.j2"
    for name in ("enrolled", "help-staff", "inbox", "patient", "patients", "staff", "stats")
)
REMINDER_VARS = ("bring", "arrange", "before")
# Three words in a row from the clinic's text, in a reminder rendered without it, mean it was typed in.
_RUN = 3


def _is_patient_string(key: str) -> bool:
    return key.startswith(PATIENT_STRING_SECTIONS) or key in PATIENT_STRING_KEYS


def missing_translations(environment: TemplateEnvironment, strings: BotStrings) -> list[str]:
    default = environment.default_locale
    files = [
        Path(name).relative_to(default).as_posix()
        for name in environment.template_files()
        if name.startswith(f"{default}/")
    ]
    patient_files = [f for f in files if f not in STAFF_PAGES]
    patient_keys = sorted(k for k in strings.keys(default) if _is_patient_string(k))
    problems: list[str] = []
    for locale in environment.locales():
        if locale == default:
            continue
        problems += [
            f"{locale}/{name}: missing ({default} has it; a patient reading {locale} would get {default})"
            for name in patient_files
            if environment.localized_file(name, locale) != f"{locale}/{name}"
        ]
        have = strings.keys(locale)
        problems += [f"{locale}/bot.toml: no {key!r} ({default} has it)" for key in patient_keys if key not in have]
    return problems


def sentinel_vars(names: Iterable[str]) -> dict[str, str]:
    return {name: f"⟦{name}⟧" for name in names}


def hard_coded_vars(text: str, rendered_vars: Mapping[str, str], real_vars: Mapping[str, Any]) -> list[str]:
    """Problems of one reminder rendered with ``rendered_vars`` (sentinels) in place of the clinic's ``real_vars``."""
    problems = []
    words = _words(text)
    for name in REMINDER_VARS:
        if name not in real_vars:
            continue
        if rendered_vars[name] not in text:
            problems.append(f"does not show the series' {name!r} text")
        value = _words(str(real_vars[name]))
        runs = {" ".join(value[i : i + _RUN]) for i in range(len(value) - _RUN + 1)}
        typed = next((run for run in runs if run in " ".join(words)), None)
        if typed:
            problems.append(f"types out the series' {name!r} text ({typed!r}) instead of using series.vars.{name}")
    return problems


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", text.lower())
