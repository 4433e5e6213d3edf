"""A step's WhatsApp templates, and one filled from the template context (the variables the step maps)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from messenger.content import ProviderTemplate
from messenger.domain.series import SeriesDefinition
from messenger.domain.whatsapp import MissingVariable, WhatsAppTemplate, resolve_path
from messenger.rendering.environment import TemplateRenderError

__all__ = ["provider_template", "step_templates"]


def step_templates(definition: SeriesDefinition, step_key: str) -> Mapping[str, WhatsAppTemplate]:
    """The WhatsApp templates, by locale, of the step behind ``step_key`` (none for a system message)."""
    for key, step, _number in definition.expanded_steps():
        if key == step_key:
            return step.whatsapp
    return {}


def provider_template(
    templates: Mapping[str, WhatsAppTemplate], locales: Sequence[str], context: Mapping[str, Any], *, source: str
) -> ProviderTemplate | None:
    """The first template in ``locales`` order with its variables filled from ``context``, if any."""
    for locale in locales:
        template = templates.get(locale)
        if template is None:
            continue
        try:
            variables = tuple((name, resolve_path(context, path)) for name, path in template.variables.items())
        except MissingVariable as exc:
            raise TemplateRenderError(f"{source} whatsapp.{locale}", None, f"{exc.args[0]} has no value here") from None
        return ProviderTemplate(template.content_sid, variables)
    return None
