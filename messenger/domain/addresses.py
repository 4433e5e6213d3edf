"""Phone numbers and e-mail addresses as staff type them, checked and normalised before they are stored.

Phone numbers go through ``phonenumbers`` in the clinic's region, so a US clinic's staff can type
"(949) 555-0142" and the contact is stored as "+19495550142". E-mail addresses go through
``email-validator`` (syntax only: enrolment must not wait on DNS).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from phonenumbers import NumberParseException, PhoneNumberType

__all__ = ["LineType", "Phone", "fixed_lines", "normal_email", "parse_phone"]


class LineType(StrEnum):
    MOBILE = "mobile"
    # Most North American numbers: the numbering plan does not tell mobiles from landlines.
    MOBILE_OR_FIXED = "mobile_or_fixed"
    FIXED_LINE = "fixed_line"
    OTHER = "other"


_LINE_TYPES = {
    PhoneNumberType.MOBILE: LineType.MOBILE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE: LineType.MOBILE_OR_FIXED,
    PhoneNumberType.FIXED_LINE: LineType.FIXED_LINE,
}


@dataclass(frozen=True, slots=True)
class Phone:
    e164: str
    line: LineType

    @property
    def may_not_take_sms(self) -> bool:
        """A landline usually cannot receive text messages: staff should check before the first SMS."""
        return self.line is LineType.FIXED_LINE


def parse_phone(text: str, region: str) -> Phone | None:
    """``text`` as a valid number (national formats read in ``region``), or ``None``."""
    cleaned = text.strip()
    if not cleaned or len(cleaned) > 40:
        return None
    try:
        number = phonenumbers.parse(cleaned, region.upper())
    except NumberParseException:
        return None
    # "Possible" (right length for the country), not "valid": the library's tables of assigned ranges lag
    # behind the carriers, and the provider's own answer on the first send is the final word.
    if not phonenumbers.is_possible_number(number):
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return Phone(e164, _LINE_TYPES.get(phonenumbers.number_type(number), LineType.OTHER))


def fixed_lines(numbers: Iterable[str], region: str) -> list[str]:
    """Those of ``numbers`` the numbering plan types as fixed lines (which usually cannot take a text)."""
    parsed = (parse_phone(number, region) for number in numbers)
    return [phone.e164 for phone in parsed if phone is not None and phone.may_not_take_sms]


def normal_email(text: str) -> str | None:
    """``text`` as a deliverable-looking address (domain lower-cased), or ``None``."""
    try:
        return validate_email(text.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        return None
