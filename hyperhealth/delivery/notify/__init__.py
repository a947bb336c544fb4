"""Delivery of alert notifications from the outbox: MQTT (QoS 1) and signed webhooks.

``Dispatcher(store, mqtt_url=...).start()`` delivers in a background thread;
:func:`verify` is what a webhook receiver uses to check the signature header.
"""

from hyperhealth.delivery.notify._dispatcher import DeliveryStats, Dispatcher
from hyperhealth.delivery.notify._retry import GAVE_UP_US, RetryPolicy
from hyperhealth.delivery.notify._sign import (
    ATTEMPT_HEADER,
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    sign,
    verify,
)

__all__ = [
    "ATTEMPT_HEADER",
    "GAVE_UP_US",
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "DeliveryStats",
    "Dispatcher",
    "RetryPolicy",
    "sign",
    "verify",
]
