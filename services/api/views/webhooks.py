"""How webhook endpoints and their deliveries are shown in API answers (never a secret)."""

from __future__ import annotations

from datetime import datetime

from shared.db.webhook_deliveries import DeliveryRow
from shared.db.webhooks import EndpointRow
from shared.webhooks.signing import webhook_id


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def endpoint_view(row: EndpointRow, *, secret: str | None = None) -> dict:
    """An endpoint; ``secret`` only in the answer that made it (creation, rotation)."""
    view = {
        "id": row.id,
        "url": row.url,
        "eventTypes": row.event_types,
        "topics": row.topics,
        "enabled": row.enabled,
        "disabledReason": row.disabled_reason,
        "failingSince": _time(row.failing_since),
        "previousSecretValidUntil": _time(row.previous_secret_until),
        "createdAt": _time(row.created_at),
        "updatedAt": _time(row.updated_at),
    }
    if secret is not None:
        view["secret"] = secret
    return view


def delivery_view(row: DeliveryRow) -> dict:
    return {
        "id": row.id,
        "eventId": webhook_id(row.event_id),
        "type": row.type,
        "occurredAt": _time(row.occurred_at),
        "state": row.state,
        "attempts": row.attempts,
        "lastStatus": row.last_status,
        "lastResponse": row.last_response,
        "lastError": row.last_error,
        "nextAttemptAt": _time(row.next_attempt_at),
        "deliveredAt": _time(row.delivered_at),
        "createdAt": _time(row.created_at),
    }
