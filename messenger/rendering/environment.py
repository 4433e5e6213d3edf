"""The Jinja environment over ``templates/``: strict, escaped where HTML, per locale.

Template files are named ``<locale>/<template>.<flavour>.j2``, for example
``en/reminder/day-before.telegram.html.j2``. A locale falls back to its language
(``es-MX`` → ``es``) and then to the default locale.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    select_autoescape,
)

from messenger.content import Flavour

_PACKAGED = Path(__file__).resolve().parent.parent / "_templates"
_SOURCE_TREE = Path(__file__).resolve().parent.parent.parent / "templates"


def shipped_templates_dir() -> Path:
    """The shipped templates: inside the installed package, or the source tree's ``templates/``."""
    return _PACKAGED if _PACKAGED.is_dir() else _SOURCE_TREE


class TemplateRenderError(Exception):
    """A template that failed to load or render; names the file and line."""

    def __init__(self, path: str, line: int | None, problem: str) -> None:
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {problem}")
        self.path, self.line, self.problem = path, line, problem


@dataclass(frozen=True, slots=True)
class TemplateRef:
    locale: str
    template: str
    flavour: Flavour

    @property
    def name(self) -> str:
        return f"{self.locale}/{self.template}.{self.flavour.value}.j2"


class TemplateEnvironment:
    def __init__(self, *, override_dir: Path | None = None, default_locale: str = "en") -> None:
        self.search_path = [d for d in (override_dir, shipped_templates_dir()) if d is not None]
        self.default_locale = default_locale
        self._env = Environment(
            loader=FileSystemLoader([str(d) for d in self.search_path]),
            undefined=StrictUndefined,
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            auto_reload=False,
        )

    def locales_for(self, locale: str) -> list[str]:
        chain = [locale, locale.split("-")[0].split("_")[0], self.default_locale]
        return list(dict.fromkeys(chain))

    def resolve(self, template: str, flavour: Flavour, locale: str) -> TemplateRef | None:
        """The first existing file for ``template`` in ``locale``'s fallback chain."""
        for candidate in self.locales_for(locale):
            ref = TemplateRef(candidate, template, flavour)
            if self._exists(ref.name):
                return ref
        return None

    def has(self, template: str, flavour: Flavour, locale: str) -> bool:
        return self.resolve(template, flavour, locale) is not None

    def render(self, template: str, flavour: Flavour, locale: str, context: Mapping[str, Any]) -> str:
        ref = self.resolve(template, flavour, locale)
        if ref is None:
            raise TemplateRenderError(
                f"{self.default_locale}/{template}.{flavour.value}.j2", None, "template not found"
            )
        return self.render_file(ref.name, context)

    def render_localized(self, name: str, locale: str, context: Mapping[str, Any]) -> str:
        """``<locale>/<name>`` (a web page: ``web/note.html.j2``) through ``locale``'s fallback chain."""
        for candidate in self.locales_for(locale):
            if self._exists(f"{candidate}/{name}"):
                return self.render_file(f"{candidate}/{name}", context)
        raise TemplateRenderError(f"{self.default_locale}/{name}", None, "template not found")

    def render_file(self, name: str, context: Mapping[str, Any]) -> str:
        try:
            return self._env.get_template(name).render(context).strip()
        except TemplateSyntaxError as exc:
            raise TemplateRenderError(self._display(exc.filename or name), exc.lineno, exc.message or str(exc)) from exc
        except TemplateNotFound as exc:
            raise TemplateRenderError(name, None, "template not found") from exc
        except TemplateError as exc:
            raise TemplateRenderError(self._display(name), _template_line(exc), str(exc)) from exc

    def compile(self, name: str) -> None:
        """Load ``name``, raising a :class:`TemplateRenderError` for a syntax error."""
        try:
            self._env.get_template(name)
        except TemplateSyntaxError as exc:
            raise TemplateRenderError(self._display(exc.filename or name), exc.lineno, exc.message or str(exc)) from exc

    def template_files(self) -> Iterable[str]:
        """Every template name, each once (an override hides the shipped file of that name)."""
        return sorted(self._env.list_templates(filter_func=lambda name: name.endswith(".j2")))

    def source_path(self, name: str) -> str:
        for directory in self.search_path:
            if (directory / name).is_file():
                return str(directory / name)
        return name

    def _display(self, name: str) -> str:
        return self.source_path(name) if not Path(name).is_absolute() else name

    def _exists(self, name: str) -> bool:
        return any((directory / name).is_file() for directory in self.search_path)


def _template_line(exc: BaseException) -> int | None:
    """The template line a render error happened on (Jinja rewrites the traceback to it)."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.endswith(".j2"):
            line = frame.lineno
    return line
