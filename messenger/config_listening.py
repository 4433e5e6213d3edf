"""Settings for listening to patients: what a patient in crisis is told, opening hours, untaken alerts.

A part of :class:`messenger.config.Settings` (read with the same ``MESSENGER_`` names); apart
only to keep one concept per module.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import NoDecode

from messenger.domain.hours import ClinicHours, HoursError


class ListeningSettings(BaseModel):
    # Said to a patient in crisis at any hour, with the emergency number and the clinic's phone.
    crisis_line: str = "988"
    emergency_number: str = "911"
    # Opening hours in the clinic's zone ("Mon-Fri 08:00-18:00, Sat 09:00-12:00"); unset: always open.
    clinic_hours: str | None = None
    clinic_timezone: str | None = None
    # ISO dates the clinic is closed (holidays), comma-separated.
    clinic_closed: Annotated[list[date], NoDecode] = Field(default_factory=list)
    # Given in the after-hours reply when set.
    after_hours_phone: str | None = None
    # An urgent alert nobody has taken goes out again after this many minutes (and by SMS to on-call).
    alert_renotify_minutes: float = Field(default=10.0, gt=0)
    oncall_phone: str | None = None

    @field_validator("clinic_closed", mode="before")
    @classmethod
    def _dates(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("clinic_hours")
    @classmethod
    def _hours(cls, value: str | None) -> str | None:
        try:
            ClinicHours.parse(value, zone=ZoneInfo("UTC"))
        except HoursError as exc:
            raise ValueError(str(exc)) from None
        return value
