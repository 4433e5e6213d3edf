"""A sentence named by code, with its facts: the rules say *what*, templates say it in words."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Phrase:
    """The bot string ``key`` (``section.name`` in ``templates/<locale>/bot.toml``) and its parameters.

    Code below the edge returns phrases; the bot and the web app render them for the reader's
    locale, so the same fact reads as a sentence in any language the clinic ships.
    """

    key: str
    params: Mapping[str, Any] = field(default_factory=dict)
