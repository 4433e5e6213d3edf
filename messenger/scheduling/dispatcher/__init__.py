"""The dispatcher in parts: outbox SQL, the decision, the retry policy, rendering, delivery events."""

from messenger.scheduling.dispatcher.core import Dispatcher, default_worker_name
from messenger.scheduling.dispatcher.events import Delivery, DeliveryListener, DispatchReport
from messenger.scheduling.dispatcher.render import AttachmentFactory, ButtonFactory, Renderer, StaffDesk
from messenger.scheduling.dispatcher.retry import RetryPolicy

__all__ = [
    "AttachmentFactory",
    "ButtonFactory",
    "Delivery",
    "DeliveryListener",
    "DispatchReport",
    "Dispatcher",
    "Renderer",
    "RetryPolicy",
    "StaffDesk",
    "default_worker_name",
]
