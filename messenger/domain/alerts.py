"""Which staff alerts wait for someone to take them, which of those always go out on their own, and the
page to the on-call phone."""

from __future__ import annotations

from messenger.domain.enums import ChannelName
from messenger.domain.models import Message

# Alerts someone should say they have in hand ("I'm on it"), though not urgent enough to be sent again.
TAKEN_KEYS = frozenset({"escalation"})
# Alerts that carry a file (the end-of-course summary PDF): each goes as its own document.
DOCUMENT_KEYS = frozenset({"summary"})
_ALERT_STEP = "alert-"
# An urgent alert nobody took, texted to the on-call phone: an alert row with no staff chat. The row names
# no number: the number is configuration (MESSENGER_ONCALL_PHONE), read by the dispatcher when it goes.
ONCALL_STEP = f"{_ALERT_STEP}oncall"
# Its text: a bot string, in the staff's language; it goes by SMS.
ONCALL_TEMPLATE = "inbox.oncall_sms"
ONCALL_CHANNEL = ChannelName.SMS


def goes_alone(message: Message) -> bool:
    """An urgent alert is never part of a digest: its button and its later edits are about it alone.
    A check-in's escalation may join a digest when many wait: in a burst, one message beats sixty."""
    key = message.step_key.removeprefix(_ALERT_STEP)
    return key in DOCUMENT_KEYS or (message.alert_id is not None and key not in TAKEN_KEYS)


def is_oncall_page(message: Message) -> bool:
    """The row is the page to the on-call phone (a staff alert's copies carry their staff chat)."""
    return message.step_key == ONCALL_STEP and message.staff_chat_id is None


def goes_to_staff(message: Message) -> bool:
    """The row is for staff (a staff chat, or the on-call phone), not for the patient: it is retried
    for as long as it takes, never dropped, and its failure is no patient's undelivered message."""
    return message.staff_chat_id is not None or is_oncall_page(message)
