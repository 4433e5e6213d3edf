"""The dispatcher in parts: outbox SQL, loading, the decision, retries, rendering, delivery, recording, events."""

from messenger.scheduling.dispatcher.base import default_worker_name
from messenger.scheduling.dispatcher.core import Dispatcher
from messenger.scheduling.dispatcher.events import Delivery, DeliveryListener, DispatchReport
from messenger.scheduling.dispatcher.render import AttachmentFactory, ButtonFactory, OncallPhone, Renderer, StaffDesk
from messenger.scheduling.dispatcher.retry import RetryPolicy

__all__ = [
    "AttachmentFactory",
    "ButtonFactory",
    "Delivery",
    "DeliveryListener",
    "DispatchReport",
    "Dispatcher",
    "OncallPhone",
    "Renderer",
    "RetryPolicy",
    "StaffDesk",
    "default_worker_name",
]
