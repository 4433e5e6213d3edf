"""Is this row sendable now, to which contacts, or why not — a pure function of what was loaded."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from messenger.channels.failures import FailureCode, failure_text
from messenger.domain.alerts import ONCALL_CHANNEL, is_oncall_page
from messenger.domain.enums import ChannelName, MessageStatus, SeriesStatus, StepKind
from messenger.domain.models import Contact, Message


class Reach(Enum):
    """How a patient can be reached on the channels this process has."""

    REACHABLE = "reachable"
    NOT_LINKED = "not linked"  # no contact on a configured channel yet (invite not opened)
    OPTED_OUT = "opted out"
    LOST = "lost"  # every contact is unreachable


@dataclass(frozen=True, slots=True)
class Send:
    """Send to the first of these contacts that takes it (a dead one hands over to the next)."""

    contacts: tuple[Contact, ...]


@dataclass(frozen=True, slots=True)
class SendToStaff:
    chat_id: int


@dataclass(frozen=True, slots=True)
class PageOncall:
    """Text the on-call phone about an urgent alert nobody took (the number is the settings', not the row's)."""


@dataclass(frozen=True, slots=True)
class Close:
    """Not sent, and not to be tried again as it is (held rows come back when the series resumes)."""

    status: MessageStatus
    reason: str


@dataclass(frozen=True, slots=True)
class WaitForContact:
    """The patient has not linked a contact yet: look again at ``until``, without using up an attempt."""

    until: datetime


@dataclass(frozen=True, slots=True)
class Paused:
    """The channel it would go on asked every sender to slow down: back in the queue until then."""

    until: datetime


Decision = Send | SendToStaff | PageOncall | Close | WaitForContact | Paused

NO_REACHABLE_CONTACT = failure_text(FailureCode.NO_REACHABLE_CONTACT)
STAFF_CHANNEL = ChannelName.TELEGRAM


def reach_of(contacts: Sequence[Contact]) -> Reach:
    """``contacts`` are the patient's contacts on configured channels."""
    if any(c.reachable and not c.opted_out for c in contacts):
        return Reach.REACHABLE
    if not contacts:
        return Reach.NOT_LINKED
    if all(c.opted_out for c in contacts):
        return Reach.OPTED_OUT
    return Reach.LOST


def contacts_for(message: Message, contacts: Sequence[Contact], channels: Collection[ChannelName]) -> list[Contact]:
    """The patient's contacts the row may go to, in the patient's order: on a configured channel, and on
    its only channel if it has one."""
    return [c for c in contacts if c.channel in channels and message.only_channel in (None, c.channel)]


def first_usable(message: Message, contacts: Sequence[Contact], channels: Collection[ChannelName]) -> Contact | None:
    """The contact the row would be sent to first, if any can take it."""
    return next((c for c in contacts_for(message, contacts, channels) if c.reachable and not c.opted_out), None)


def decide(
    *,
    message: Message,
    series_status: SeriesStatus | None,
    has_definition: bool,
    contacts: Sequence[Contact],
    answered: Collection[int],
    channels: Collection[ChannelName],
    paused: Mapping[ChannelName, datetime],
    now: datetime,
    contact_wait: timedelta,
    alert_taken: bool,
    oncall_number: bool,
) -> Decision:
    """What to do with a claimed row. ``contacts`` are all the patient's, in the patient's order;
    ``alert_taken``: the alert an on-call page is about was taken; ``oncall_number``: this process has one."""
    if message.staff_chat_id is not None:
        return _to_staff(message.staff_chat_id, channels, paused, now)
    if is_oncall_page(message):
        return _to_oncall(alert_taken, oncall_number and ONCALL_CHANNEL in channels, paused, now)
    # A note (a staff reply, a check-in reminder) belongs to no series: only the contacts decide.
    note = message.kind is StepKind.DIRECT
    if series_status is SeriesStatus.PAUSED and not note:
        return Close(MessageStatus.HELD, "series paused")
    if (series_status is not SeriesStatus.ACTIVE or not has_definition) and not note:
        state = series_status.value if series_status is not None else "missing"
        return Close(MessageStatus.CANCELLED, f"series {state}")
    if message.not_after is not None and now > message.not_after:
        return Close(MessageStatus.SKIPPED, "past its not-after time")
    if message.only_channel is not None and message.infusion_number in answered:
        return Close(MessageStatus.SKIPPED, failure_text(FailureCode.SKIP_ANSWERED))
    configured = contacts_for(message, contacts, channels)
    usable = tuple(c for c in configured if c.reachable and not c.opted_out)
    match reach_of(configured):
        case Reach.NOT_LINKED:
            until = now + contact_wait
            if message.not_after is not None and until > message.not_after:
                return Close(MessageStatus.SKIPPED, failure_text(FailureCode.SKIP_NO_CONTACT_IN_TIME))
            return WaitForContact(until)
        case Reach.OPTED_OUT:
            return Close(MessageStatus.SKIPPED, failure_text(FailureCode.SKIP_OPTED_OUT))
        case Reach.LOST:
            return Close(MessageStatus.FAILED, NO_REACHABLE_CONTACT)
    return _unless_paused(usable[0].channel, paused, now, Send(usable))


def _to_staff(
    chat_id: int, channels: Collection[ChannelName], paused: Mapping[ChannelName, datetime], now: datetime
) -> Decision:
    if STAFF_CHANNEL not in channels:
        return Close(MessageStatus.FAILED, failure_text(FailureCode.NO_STAFF_CHANNEL))
    return _unless_paused(STAFF_CHANNEL, paused, now, SendToStaff(chat_id))


def _to_oncall(taken: bool, configured: bool, paused: Mapping[ChannelName, datetime], now: datetime) -> Decision:
    # Once someone has the alert in hand, paging on-call would only wake them for nothing.
    if taken:
        return Close(MessageStatus.SKIPPED, failure_text(FailureCode.SKIP_ALERT_TAKEN))
    if not configured:
        return Close(MessageStatus.FAILED, failure_text(FailureCode.NO_ONCALL_SMS))
    return _unless_paused(ONCALL_CHANNEL, paused, now, PageOncall())


def _unless_paused(
    channel: ChannelName, paused: Mapping[ChannelName, datetime], now: datetime, go: Decision
) -> Decision:
    """``go``, unless the channel it would use asked every sender to slow down until later than now."""
    pause = paused.get(channel)
    if pause is not None and pause > now:
        return Paused(pause)
    return go
