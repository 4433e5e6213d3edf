"""Errors a person can fix, as a code plus the facts; the sentence comes from templates."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A request the rules refuse. ``code`` names the template ``errors/<code>`` that explains it."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code, params)
        self.code = code
        self.params = params

    def __str__(self) -> str:
        facts = ", ".join(f"{key}={value!r}" for key, value in self.params.items())
        return f"{self.code} ({facts})" if facts else self.code
