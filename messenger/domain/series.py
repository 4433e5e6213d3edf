"""Series definitions (TOML data) and the pure planning of their steps.

A definition lists the infusions and the steps. Each step names a template, a kind and
*when*: an anchor (``enrolment``, ``infusion N`` or ``each infusion``), an offset, and
optionally a local time of day. :func:`plan` turns a definition plus a patient's dates
into concrete, aware send times. Nothing here touches the database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from messenger.domain.checkin_rules import Escalation, OffsetField
from messenger.domain.enums import QuietPolicy, StepKind
from messenger.domain.timing import Offset, QuietHours, apply_offset, day_begins, local_wall, send_time
from messenger.domain.whatsapp import WhatsAppTemplate
from messenger.domain.wording import Phrase

_ANCHOR = re.compile(r"^(enrolment|each infusion|infusion ([1-9]\d*))$")
_KEY = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class SeriesDefinitionError(ValueError):
    """A definition that cannot be used; the message names the file, the step and the problem."""

    def __init__(self, source: str, problem: str, step: str | None = None) -> None:
        where = f"{source}: step {step!r}" if step else source
        super().__init__(f"{where}: {problem}")
        self.source, self.step, self.problem = source, step, problem


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InfusionPlan(_Strict):
    count: int = Field(ge=1, le=10)
    # Days after the first infusion, one per infusion, first is 0.
    default_days: list[int]
    # The course (first to last infusion) must fit in this window.
    min_span_days: int = Field(ge=0)
    max_span_days: int = Field(ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> InfusionPlan:
        if len(self.default_days) != self.count:
            raise ValueError(f"default_days lists {len(self.default_days)} days for {self.count} infusions")
        if self.default_days[0] != 0 or self.default_days != sorted(set(self.default_days)):
            raise ValueError("default_days must start at 0 and increase")
        if not self.min_span_days <= self.default_days[-1] <= self.max_span_days:
            raise ValueError("default_days do not fit between min_span_days and max_span_days")
        return self


class Step(_Strict):
    key: str
    kind: StepKind
    template: str
    anchor: str = "enrolment"
    offset: Offset = Offset()
    at: time | None = None
    quiet: QuietPolicy = QuietPolicy.DEFER
    # Offset from the anchor after which the step is skipped rather than sent late.
    not_after: Offset | None = None
    # WhatsApp templates by locale, sent outside WhatsApp's 24-hour window (messenger.domain.whatsapp).
    whatsapp: dict[str, WhatsAppTemplate] = Field(default_factory=dict)
    # Due at enrolment when the anchor's time is already past then (the baseline check-in
    # "the evening before the first infusion" for a patient enrolled that very day).
    or_at_enrolment: bool = False

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not _KEY.match(value):
            raise ValueError("key must be lower-case letters, digits and dashes")
        return value

    @field_validator("anchor")
    @classmethod
    def _anchor(cls, value: str) -> str:
        if not _ANCHOR.match(value):
            raise ValueError(f"anchor {value!r}: use 'enrolment', 'infusion N' or 'each infusion'")
        return value

    @field_validator("offset", "not_after", mode="before")
    @classmethod
    def _offset(cls, value: Any) -> Any:
        return Offset.parse(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _sensible(self) -> Step:
        if self.at is not None and self.offset.seconds:
            raise ValueError("with 'at', the offset must be whole days")
        if self.not_after is not None and self.not_after.approximate < self._earliest_due:
            raise ValueError(f"not_after {self.not_after} is before the step's own offset {self.offset}")
        return self

    @property
    def _earliest_due(self) -> timedelta:
        """The earliest the step can fall due after its anchor (with ``at``, up to a day before)."""
        if self.at is None:
            return self.offset.approximate
        return timedelta(days=self.offset.days - 1)

    def infusion_numbers(self, count: int) -> list[int | None]:
        """The infusions this step is anchored to (``[None]`` for enrolment)."""
        match = _ANCHOR.match(self.anchor)
        if match is None:  # the definition's validation admits only anchors that match
            raise ValueError(f"step {self.key!r}: unknown anchor {self.anchor!r}")
        if match.group(1) == "enrolment":
            return [None]
        if match.group(1) == "each infusion":
            return list(range(1, count + 1))
        return [int(match.group(2))]


class SeriesDefinition(_Strict):
    key: str
    title: str
    description: str = ""
    locale: str = "en"
    infusions: InfusionPlan
    escalation: Escalation = Escalation()
    # An unanswered check-in gets one gentle reminder after this long; staff hear of it after as long again.
    checkin_reminder_after: OffsetField = Offset.parse("4h")
    # Clinic-configured text passed to every template as ``series.vars``; a table such as ``[vars.es]`` translates it.
    vars: dict[str, str | dict[str, str]] = Field(default_factory=dict)
    steps: list[Step]

    @model_validator(mode="after")
    def _steps(self) -> SeriesDefinition:
        seen: set[str] = set()
        for step in self.steps:
            for number in step.infusion_numbers(self.infusions.count):
                if number is not None and number > self.infusions.count:
                    raise StepProblem(step.key, f"anchored to infusion {number} of {self.infusions.count}")
                key = step_key(step, number)
                if key in seen:
                    raise StepProblem(step.key, f"duplicate step key {key!r}")
                seen.add(key)
        return self

    def expanded_steps(self) -> Iterable[tuple[str, Step, int | None]]:
        """Every concrete step: ``(step key, step, infusion number or None)``."""
        for step in self.steps:
            for number in step.infusion_numbers(self.infusions.count):
                yield step_key(step, number), step, number

    def default_infusion_times(self, first: datetime, zone: ZoneInfo) -> list[datetime]:
        """Infusion times from the first one and the default spacing, same local time of day."""
        return [apply_offset(first, Offset(days=days), zone) for days in self.infusions.default_days]

    def course_problem(self, infusions: Sequence[datetime], zone: ZoneInfo) -> Phrase | None:
        """Why these infusion times do not make a valid course (``course.*``), or None; spans count local days."""
        plan = self.infusions
        if len(infusions) != plan.count:
            return Phrase("course.count", {"expected": plan.count, "given": len(infusions)})
        if any(b <= a for a, b in pairwise(infusions)):
            return Phrase("course.order")
        span = local_wall(infusions[-1], zone) - local_wall(infusions[0], zone)
        if span > timedelta(days=plan.max_span_days):
            return Phrase("course.span", {"days": span.days, "max_days": plan.max_span_days})
        return None


class StepProblem(ValueError):
    def __init__(self, step: str, problem: str) -> None:
        super().__init__(problem)
        self.step, self.problem = step, problem


def step_key(step: Step, infusion: int | None) -> str:
    """A step's unique key: ``each infusion`` steps get the infusion number appended."""
    return f"{step.key}-{infusion}" if step.anchor == "each infusion" else step.key


@dataclass(frozen=True, slots=True)
class PlannedStep:
    key: str
    kind: StepKind
    template: str
    infusion_number: int | None
    quiet: QuietPolicy
    due_at: datetime
    send_at: datetime
    not_after: datetime | None


def plan(
    definition: SeriesDefinition,
    *,
    enrolled_at: datetime,
    infusions: Sequence[datetime],
    zone: ZoneInfo,
    quiet_hours: QuietHours,
) -> list[PlannedStep]:
    """Every step of ``definition`` for one patient, in send order."""
    planned = [
        plan_step(
            step,
            key=key,
            infusion=number,
            enrolled_at=enrolled_at,
            infusions=infusions,
            zone=zone,
            quiet_hours=quiet_hours,
        )
        for key, step, number in definition.expanded_steps()
    ]
    return sorted(planned, key=lambda p: (p.send_at, p.key))


def plan_step(
    step: Step,
    *,
    key: str,
    infusion: int | None,
    enrolled_at: datetime,
    infusions: Sequence[datetime],
    zone: ZoneInfo,
    quiet_hours: QuietHours,
) -> PlannedStep:
    anchor = enrolled_at if infusion is None else infusions[infusion - 1]
    due = apply_offset(anchor, step.offset, zone, step.at)
    if step.or_at_enrolment:
        due = max(due, enrolled_at)
    send = send_time(due=due, policy=step.quiet, zone=zone, quiet=quiet_hours, not_after=None)
    not_after = None if step.not_after is None else apply_offset(anchor, step.not_after, zone)
    # A reminder due on an earlier day ("Tomorrow: …") is stale once the infusion's own day has
    # begun (after a pause, or a move to later the same day): the same-day reminder covers it.
    if step.kind is StepKind.REMINDER and infusion is not None and due < (begins := day_begins(anchor, zone)):
        not_after = begins if not_after is None else min(not_after, begins)
    return PlannedStep(key, step.kind, step.template, infusion, step.quiet, due, send, not_after)
