"""The decision for a claimed row, as a labelled case table: no database, no channel."""

from __future__ import annotations

from datetime import timedelta

import pytest

from messenger.domain.alerts import ONCALL_STEP
from messenger.domain.enums import ChannelName, MessageStatus, SeriesStatus, StepKind
from messenger.domain.models import Contact, Message
from messenger.scheduling.dispatcher.decision import (
    NO_REACHABLE_CONTACT,
    Close,
    PageOncall,
    Paused,
    Send,
    SendToStaff,
    WaitForContact,
    decide,
)
from tests.conftest import T0

TG, SMS = ChannelName.TELEGRAM, ChannelName.SMS
WAIT = timedelta(minutes=30)
PAGE = {"series_id": None, "kind": StepKind.ALERT, "step_key": ONCALL_STEP, "alert_id": 9, "not_after": None}
NO_SERIES = {"series_status": None, "has_definition": False, "contacts": []}


def row(**changes: object) -> Message:
    values: dict[str, object] = {
        "id": 1,
        "series_id": 1,
        "patient_id": 1,
        "step_key": "reminder-day-1",
        "kind": StepKind.REMINDER,
        "template": "reminder/day",
        "infusion_number": 1,
        "due_at": T0,
        "send_at": T0,
        "not_after": T0 + timedelta(hours=2),
    }
    return Message(**(values | changes))


def contact(channel: ChannelName, *, ok: bool = True, opted_out: bool = False) -> Contact:
    return Contact(
        id=hash(channel) % 1000, patient_id=1, channel=channel, address="x", reachable=ok, opted_out=opted_out
    )


CASES = {
    "due, reachable: send to the contacts in order": (
        {},
        {"contacts": [contact(TG), contact(SMS)]},
        lambda d: isinstance(d, Send) and [c.channel for c in d.contacts] == [TG, SMS],
    ),
    "a dead contact is left out": (
        {},
        {"contacts": [contact(TG, ok=False), contact(SMS)]},
        lambda d: isinstance(d, Send) and [c.channel for c in d.contacts] == [SMS],
    ),
    "series paused: held": ({}, {"series_status": SeriesStatus.PAUSED}, Close(MessageStatus.HELD, "series paused")),
    "series cancelled: cancelled": (
        {},
        {"series_status": SeriesStatus.CANCELLED},
        Close(MessageStatus.CANCELLED, "series cancelled"),
    ),
    "unknown series definition: cancelled": (
        {},
        {"has_definition": False},
        Close(MessageStatus.CANCELLED, "series active"),
    ),
    "past not-after: skipped, not sent late": (
        {"not_after": T0 - timedelta(minutes=1)},
        {},
        Close(MessageStatus.SKIPPED, "past its not-after time"),
    ),
    "fallback copy of an answered reminder: skipped": (
        {"only_channel": SMS},
        {"answered": {1}, "contacts": [contact(TG), contact(SMS)]},
        Close(MessageStatus.SKIPPED, "skip.answered"),
    ),
    "fallback copy goes on its channel only": (
        {"only_channel": SMS},
        {"contacts": [contact(TG), contact(SMS)]},
        lambda d: isinstance(d, Send) and [c.channel for c in d.contacts] == [SMS],
    ),
    "no contact linked yet: wait, without an attempt": (
        {},
        {"contacts": [], "channels": [TG]},
        WaitForContact(T0 + WAIT),
    ),
    "no contact linked and the wait passes not-after: skipped": (
        {"not_after": T0 + timedelta(minutes=10)},
        {"contacts": []},
        Close(MessageStatus.SKIPPED, "skip.no_contact_in_time"),
    ),
    "a contact only on a channel this process lacks counts as not linked": (
        {},
        {"contacts": [contact(SMS)], "channels": [TG]},
        WaitForContact(T0 + WAIT),
    ),
    "every contact opted out: skipped": (
        {},
        {"contacts": [contact(TG, opted_out=True)]},
        Close(MessageStatus.SKIPPED, "skip.opted_out"),
    ),
    "every contact dead: failed": (
        {},
        {"contacts": [contact(TG, ok=False), contact(SMS, ok=False)]},
        Close(MessageStatus.FAILED, NO_REACHABLE_CONTACT),
    ),
    "the first contact's channel is paused: back at the end of the pause": (
        {},
        {"contacts": [contact(TG)], "paused": {TG: T0 + timedelta(seconds=40)}},
        Paused(T0 + timedelta(seconds=40)),
    ),
    "a pause already over does not hold it": (
        {},
        {"contacts": [contact(TG)], "paused": {TG: T0 - timedelta(seconds=1)}},
        lambda d: isinstance(d, Send),
    ),
    "staff alert: to the staff chat, whatever the series": (
        {"series_id": None, "kind": StepKind.ALERT, "staff_chat_id": 77, "not_after": None},
        {"series_status": None, "has_definition": False, "contacts": []},
        SendToStaff(77),
    ),
    "staff alert while Telegram is paused: waits": (
        {"series_id": None, "kind": StepKind.ALERT, "staff_chat_id": 77},
        {"series_status": None, "paused": {TG: T0 + timedelta(seconds=5)}},
        Paused(T0 + timedelta(seconds=5)),
    ),
    "staff alert without Telegram: failed, said why": (
        {"series_id": None, "kind": StepKind.ALERT, "staff_chat_id": 77},
        {"series_status": None, "channels": [SMS]},
        Close(MessageStatus.FAILED, "dispatch.no_staff_channel"),
    ),
    "on-call page: to the on-call phone, whatever the series and contacts": (PAGE, NO_SERIES, PageOncall()),
    "on-call page whose alert was taken: skipped": (
        PAGE,
        NO_SERIES | {"alert_taken": True},
        Close(MessageStatus.SKIPPED, "skip.alert_taken"),
    ),
    "on-call page without an on-call number: failed, said why": (
        PAGE,
        NO_SERIES | {"oncall_number": False},
        Close(MessageStatus.FAILED, "dispatch.no_oncall_sms"),
    ),
    "on-call page without SMS: failed, said why": (
        PAGE,
        NO_SERIES | {"channels": [TG]},
        Close(MessageStatus.FAILED, "dispatch.no_oncall_sms"),
    ),
    "on-call page while SMS is paused: waits": (
        PAGE,
        NO_SERIES | {"paused": {SMS: T0 + timedelta(seconds=5)}},
        Paused(T0 + timedelta(seconds=5)),
    ),
    "a staff copy of an alert keyed like the page still goes to its chat": (
        PAGE | {"staff_chat_id": 77},
        NO_SERIES,
        SendToStaff(77),
    ),
}


@pytest.mark.parametrize(("message", "given", "expected"), list(CASES.values()), ids=list(CASES))
def test_decision(message: dict, given: dict, expected: object) -> None:
    inputs = {
        "series_status": SeriesStatus.ACTIVE,
        "has_definition": True,
        "contacts": [contact(TG)],
        "answered": set(),
        "channels": [TG, SMS],
        "paused": {},
        "now": T0,
        "contact_wait": WAIT,
        "alert_taken": False,
        "oncall_number": True,
    } | given
    decision = decide(message=row(**message), **inputs)
    if callable(expected):
        assert expected(decision), decision
    else:
        assert decision == expected
