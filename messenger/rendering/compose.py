"""Turn a step's template into the content one channel carries."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

from markupsafe import Markup

from messenger.content import Capabilities, Content, Flavour
from messenger.rendering.environment import TemplateEnvironment, TemplateRenderError

# A flavour a template may leave out, and what stands in for it.
_FALLBACK = {Flavour.SMS: Flavour.TEXT, Flavour.TELEGRAM: Flavour.TEXT, Flavour.EMAIL_TEXT: Flavour.TEXT}
# The document every e-mail's HTML part is placed in: ``templates/<locale>/layout/document.email.html.j2``.
EMAIL_LAYOUT = "layout/document"
_HTML_DOCUMENT = re.compile(r"<html[\s>]|<!doctype\s+html", re.IGNORECASE)


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
        if html_part is not None and capabilities.html is Flavour.EMAIL_HTML:
            html_part = self.email_document(html_part, title=subject or "", locale=locale)
        return Content(body=body, subject=subject, html=html_part)

    def email_document(self, fragment: str, *, title: str, locale: str) -> str:
        """``fragment`` inside the locale's e-mail layout; a template that is a whole document stays as it is."""
        if _HTML_DOCUMENT.search(fragment):
            return fragment
        context = {"title": title, "content": Markup(fragment), "lang": locale}
        return self.environment.render(EMAIL_LAYOUT, Flavour.EMAIL_HTML, locale, context)

    def render(self, template: str, flavour: Flavour, locale: str, context: Mapping[str, Any]) -> str:
        env = self.environment
        if env.has(template, flavour, locale) or flavour not in _FALLBACK:
            return env.render(template, flavour, locale, context)
        text = env.render(template, _FALLBACK[flavour], locale, context)
        return html.escape(text, quote=False) if flavour is Flavour.TELEGRAM else text
