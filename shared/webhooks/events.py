"""The outbound event types, in one place, and the envelope's version.

A producer subscribes an endpoint to some of these (``webhook_endpoints.event_types``,
empty for every type). Each is written to the outbox (``webhook_events``) in the
transaction of the change that causes it (``shared.db.outbox.emit``), and reaches
the endpoint as ``{"type", "timestamp", "version", "data"}``.
"""

from __future__ import annotations

from enum import StrEnum

#: The envelope's ``version``: bumped only when a field changes meaning or goes away.
ENVELOPE_VERSION = 1


class OutboundEventType(StrEnum):
    """What happened, as a subscriber names it (``webhook_events.type``)."""

    MESSAGE_SENT = "message.sent"
    MESSAGE_DELIVERED = "message.delivered"
    MESSAGE_DELIVERY_DELAYED = "message.delivery_delayed"
    MESSAGE_BOUNCED = "message.bounced"
    MESSAGE_COMPLAINED = "message.complained"
    MESSAGE_FAILED = "message.failed"
    MESSAGE_UNKNOWN = "message.unknown"
    MESSAGE_SUPPRESSED = "message.suppressed"
    MESSAGE_OPENED = "message.opened"
    MESSAGE_CLICKED = "message.clicked"
    MESSAGE_UNSUBSCRIBED = "message.unsubscribed"
    CAMPAIGN_COMPLETED = "campaign.completed"
    KEY_PAUSED = "key.paused"
    TOPIC_PAUSED = "topic.paused"
    WEBHOOK_TEST = "webhook.test"


class DeliveryState(StrEnum):
    """One event's delivery to one endpoint: claimed like a message."""

    PENDING = "pending"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    FAILED = "failed"


#: Waiting for a worker, or claimed by one whose lease may run out: the claim's index.
DUE = frozenset({DeliveryState.PENDING, DeliveryState.DELIVERING})


class DisabledReason(StrEnum):
    """Why an endpoint is disabled (``webhook_endpoints.disabled_reason``)."""

    GONE = "gone"            # it answered 410
    FAILING = "failing"      # every delivery failed for 5 days
    MANUAL = "manual"        # its key or an operator disabled it
