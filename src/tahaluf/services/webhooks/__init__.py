"""Webhooks: members register URLs that the hub calls, signed with HMAC and
retried with back-off, when their content matches, a review of their
submission is decided or one of their items is disputed.

* :mod:`.registration` — :class:`WebhookService`: add, list, show, delete,
  deliveries (what the ``/v1/webhooks`` routes and ``tahaluf webhooks`` call).
* :mod:`.events` — the :class:`Outbox` events are queued in and the
  :class:`Notifier` services write them through.
* :mod:`.addresses` — which URLs are accepted and which addresses are called.
* :mod:`.transport` — signing, the guarded HTTP client, one signed POST.
* :mod:`.delivery` — :func:`deliver_due` and :func:`run_deliverer`.
"""

from tahaluf.ports.vocabulary import DELIVERY_STATUSES
from tahaluf.ports.webhooks import DeliveryRecord, WebhookRecord
from tahaluf.services.webhooks.addresses import MAX_URL_CHARS, check_url, url_warnings
from tahaluf.services.webhooks.delivery import (
    KEEP_DELIVERIES_S,
    LEASE_S,
    MAX_ATTEMPTS,
    backoff_s,
    deliver_due,
    run_deliverer,
)
from tahaluf.services.webhooks.events import EVENTS, Notifier, Outbox, emit, outbox_for
from tahaluf.services.webhooks.registration import (
    MAX_WEBHOOKS_PER_MEMBER,
    Deliveries,
    Registered,
    WebhookService,
    check_events,
    delete_webhook,
    deliveries_of,
    new_secret,
    register,
    webhook,
    webhooks_of,
)
from tahaluf.services.webhooks.transport import (
    MAX_RESPONSE_BYTES,
    SIGNATURE_TOLERANCE_S,
    TIMEOUT_S,
    make_client,
    sign,
    verify_signature,
)

__all__ = [
    "DELIVERY_STATUSES",
    "EVENTS",
    "KEEP_DELIVERIES_S",
    "LEASE_S",
    "MAX_ATTEMPTS",
    "MAX_RESPONSE_BYTES",
    "MAX_URL_CHARS",
    "MAX_WEBHOOKS_PER_MEMBER",
    "SIGNATURE_TOLERANCE_S",
    "TIMEOUT_S",
    "Deliveries",
    "DeliveryRecord",
    "Notifier",
    "Outbox",
    "Registered",
    "WebhookRecord",
    "WebhookService",
    "backoff_s",
    "check_events",
    "check_url",
    "delete_webhook",
    "deliver_due",
    "deliveries_of",
    "emit",
    "make_client",
    "new_secret",
    "outbox_for",
    "register",
    "run_deliverer",
    "sign",
    "url_warnings",
    "verify_signature",
    "webhook",
    "webhooks_of",
]
