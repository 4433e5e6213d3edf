"""Short bot sentences and button labels: ``templates/<locale>/bot.toml``, rendered as Telegram HTML."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from typing import Any

from jinja2 import Environment, StrictUndefined, Template
from markupsafe import Markup

from messenger.domain.wording import Phrase
from messenger.rendering.environment import TemplateEnvironment

STRINGS_FILE = "bot.toml"


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat |= _flatten(value, f"{name}.")
        else:
            flat[name] = str(value)
    return flat


class BotStrings:
    """``strings.get("patient.stopped", "en", clinic=...)``; a locale falls back like templates do."""

    def __init__(self, environment: TemplateEnvironment) -> None:
        self.environment = environment
        self._jinja = {
            True: Environment(undefined=StrictUndefined, autoescape=True),
            False: Environment(undefined=StrictUndefined, autoescape=False),
        }
        self._tables: dict[str, dict[str, str]] = {}
        self._compiled: dict[tuple[str, str, bool], Template] = {}

    def get(self, key: str, locale: str, /, **params: Any) -> str:
        """The string as Telegram HTML: what people typed is escaped."""
        return self._render(key, locale, params, html=True)

    def plain(self, key: str, locale: str, /, **params: Any) -> str:
        """The string as plain text (SMS, WhatsApp)."""
        return self._render(key, locale, params, html=False)

    def _render(self, key: str, locale: str, params: dict[str, Any], *, html: bool) -> str:
        params = {name: self._resolve(value, locale, html=html) for name, value in params.items()}
        for candidate in self.environment.locales_for(locale):
            source = self._table(candidate).get(key)
            if source is not None:
                template = self._compiled.get((candidate, key, html))
                if template is None:
                    template = self._compiled[(candidate, key, html)] = self._jinja[html].from_string(source)
                return template.render(params)
        raise KeyError(f"no bot string {key!r} for locale {locale!r}")

    def _resolve(self, value: Any, locale: str, *, html: bool) -> Any:
        """Phrases among the parameters (alone or in a list) become sentences of the same locale."""
        if isinstance(value, Phrase):
            text = self._render(value.key, locale, dict(value.params), html=html)
            # Already escaped once: the enclosing string must not escape it again.
            return Markup(text) if html else text
        if isinstance(value, list | tuple) and any(isinstance(item, Phrase) for item in value):
            return [self._resolve(item, locale, html=html) for item in value]
        return value

    def keys(self, locale: str) -> set[str]:
        return set(self._table(locale))

    def _table(self, locale: str) -> dict[str, str]:
        if locale not in self._tables:
            merged: dict[str, str] = {}
            # The shipped file first, then an override folder's file on top of it.
            for directory in reversed(self.environment.search_path):
                path = directory / locale / STRINGS_FILE
                if path.is_file():
                    merged |= _flatten(tomllib.loads(path.read_text(encoding="utf-8")))
            self._tables[locale] = merged
        return self._tables[locale]
