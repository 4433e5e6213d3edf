"""The series a clinic can enrol patients into: definition files read, validated and kept by key."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from messenger.domain.series import SeriesDefinition, SeriesDefinitionError, StepProblem

SHIPPED_SERIES_DIR = Path(__file__).resolve().parent.parent / "series"


def parse_definition(data: dict[str, Any], source: str) -> SeriesDefinition:
    """Validate raw definition data; errors name ``source``, the step and the problem."""
    try:
        return SeriesDefinition.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = error["loc"]
        step = None
        if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
            raw_steps = data.get("steps") or []
            raw = raw_steps[loc[1]] if loc[1] < len(raw_steps) else {}
            step = str(raw.get("key") if isinstance(raw, dict) and raw.get("key") else f"#{loc[1] + 1}")
            loc = loc[2:]
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, StepProblem):
            raise SeriesDefinitionError(source, cause.problem, cause.step) from None
        field = ".".join(str(part) for part in loc)
        message = error["msg"].removeprefix("Value error, ")
        problem = f"{field}: {message}" if field else message
        raise SeriesDefinitionError(source, problem, step) from None


def load_definition(path: Path) -> SeriesDefinition:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise SeriesDefinitionError(str(path), "not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise SeriesDefinitionError(str(path), f"not valid TOML: {exc}") from None
    return parse_definition(data, str(path))


class SeriesCatalog:
    """The series definitions a clinic can enrol patients into, by key."""

    def __init__(self, definitions: Iterable[SeriesDefinition]) -> None:
        self._by_key: dict[str, SeriesDefinition] = {}
        for definition in definitions:
            self._by_key[definition.key] = definition

    @classmethod
    def load(cls, extra_dir: Path | None = None) -> SeriesCatalog:
        """The shipped definitions, then those in ``extra_dir`` (which may replace them)."""
        return cls(load_definition(path) for path in definition_files(extra_dir))

    def get(self, key: str) -> SeriesDefinition:
        try:
            return self._by_key[key]
        except KeyError:
            known = ", ".join(sorted(self._by_key)) or "none"
            raise KeyError(f"unknown series {key!r} (known: {known})") from None

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def __iter__(self) -> Iterator[SeriesDefinition]:
        return iter(self._by_key.values())


def definition_files(extra_dir: Path | None = None) -> list[Path]:
    dirs = [SHIPPED_SERIES_DIR] + ([extra_dir] if extra_dir else [])
    return [path for directory in dirs for path in sorted(directory.glob("*.toml"))]
