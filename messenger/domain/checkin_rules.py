"""What a series says about check-ins: when an answer needs the clinic, and when silence is chased."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from messenger.domain.timing import Offset


def _offset(value: Any) -> Any:
    return Offset.parse(value) if isinstance(value, str) else value


# An offset written in a definition as text ("4h", "1d2h").
OffsetField = Annotated[Offset, BeforeValidator(_offset)]


class Escalation(BaseModel):
    """When a check-in answer is worth a call from the clinic."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pain_at_least: int = Field(default=8, ge=0, le=10)
    mood_at_most: int = Field(default=1, ge=1, le=5)
    contact_requested: bool = True
    # Pain this many points above the patient's own first check-in is escalated too.
    pain_rise: int = Field(default=2, ge=1, le=10)
