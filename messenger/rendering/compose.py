"""Turn a step's template into the content one channel carries."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from messenger.content import Capabilities, Content, Flavour
from messenger.rendering.environment import TemplateEnvironment, TemplateRenderError

# A flavour a template may leave out, and what stands in for it.
_FALLBACK = {Flavour.SMS: Flavour.TEXT, Flavour.TELEGRAM: Flavour.TEXT, Flavour.EMAIL_TEXT: Flavour.TEXT}


class Composer:
    def __init__(self, environment: TemplateEnvironment) -> None:
        self.environment = environment

    def compose(self, *, template: str, capabilities: Capabilities, locale: str, context: Mapping[str, Any]) -> Content:
        body = self.render(template, capabilities.body, locale, context)
        if len(body) > capabilities.max_length:
            ref = self.environment.resolve(template, capabilities.body, locale)
            raise TemplateRenderError(
                ref.name if ref else template,
                None,
                f"renders to {len(body)} characters; the channel allows {capabilities.max_length}",
            )
        subject = self.render(template, capabilities.subject, locale, context) if capabilities.subject else None
        html_part = self.render(template, capabilities.html, locale, context) if capabilities.html else None
        return Content(body=body, subject=subject, html=html_part)

    def render(self, template: str, flavour: Flavour, locale: str, context: Mapping[str, Any]) -> str:
        env = self.environment
        if env.has(template, flavour, locale) or flavour not in _FALLBACK:
            return env.render(template, flavour, locale, context)
        text = env.render(template, _FALLBACK[flavour], locale, context)
        return html.escape(text, quote=False) if flavour is Flavour.TELEGRAM else text
