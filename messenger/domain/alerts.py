"""Which staff alerts wait for someone to take them, and which of those always go out on their own."""

from __future__ import annotations

from messenger.domain.models import Message

# Alerts someone should say they have in hand ("I'm on it"), though not urgent enough to be sent again.
TAKEN_KEYS = frozenset({"escalation"})
# Alerts that carry a file (the end-of-course summary PDF): each goes as its own document.
DOCUMENT_KEYS = frozenset({"summary"})
_ALERT_STEP = "alert-"


def goes_alone(message: Message) -> bool:
    """An urgent alert is never part of a digest: its button and its later edits are about it alone.
    A check-in's escalation may join a digest when many wait: in a burst, one message beats sixty."""
    key = message.step_key.removeprefix(_ALERT_STEP)
    return key in DOCUMENT_KEYS or (message.alert_id is not None and key not in TAKEN_KEYS)
