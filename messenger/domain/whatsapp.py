"""A series step's WhatsApp templates: WhatsApp takes free text only within 24 hours of the patient's
last message; outside that window only a template the provider approved (a Twilio Content SID) goes.

A step names one template per locale and maps the template's variables (``{{1}}``, ``{{2}}`` …) to
dotted paths in the same context the Jinja templates see (``patient.first_name``, ``infusion.date``,
``note_link``)::

    [steps.whatsapp.en]
    content_sid = "HX0123456789abcdef0123456789abcdef"
    variables = { 1 = "patient.first_name", 2 = "infusion.date", 3 = "infusion.time" }
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

__all__ = ["CONTEXT_ROOTS", "MissingVariable", "WhatsAppTemplate", "resolve_path"]

_CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
_VARIABLE = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_PATH = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z0-9_]+)*$")
# The top-level names of the template context (messenger.rendering.context.message_context).
CONTEXT_ROOTS = frozenset({"patient", "clinic", "series", "infusions", "infusion", "step", "note_link"})


class WhatsAppTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    content_sid: str
    # Template variable → dotted path into the template context.
    variables: dict[str, str] = {}

    @field_validator("content_sid")
    @classmethod
    def _sid(cls, value: str) -> str:
        if not _CONTENT_SID.match(value):
            raise ValueError(f"content_sid {value!r}: a Twilio Content SID is HX followed by 32 hexadecimal digits")
        return value

    @field_validator("variables")
    @classmethod
    def _variables(cls, value: dict[str, str]) -> dict[str, str]:
        for name, path in value.items():
            if not _VARIABLE.match(name):
                raise ValueError(f"variable {name!r}: use the template's own names (1, 2, … or letters and _)")
            if not _PATH.match(path) or path.split(".")[0] not in CONTEXT_ROOTS:
                roots = ", ".join(sorted(CONTEXT_ROOTS))
                raise ValueError(f"variable {name!r} = {path!r}: a dotted path starting with one of {roots}")
        return value


class MissingVariable(LookupError):
    """A path that leads nowhere in this context (an infusion date on a step with no infusion)."""


def resolve_path(context: Mapping[str, Any], path: str) -> str:
    """The text at ``path`` (``infusion.date``) in ``context``."""
    value: Any = context
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list | tuple) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise MissingVariable(path)
    if value is None or isinstance(value, Mapping | list | tuple):
        raise MissingVariable(path)
    return str(value)
