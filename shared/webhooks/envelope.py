"""The JSON an endpoint receives: ``{"type", "timestamp", "version", "data"}``.

Built on delivery from the outbox row (``webhook_events``): ``timestamp`` is
when it happened (``occurred_at``, RFC 3339 in UTC), which a receiver may
order events by; ``data`` is the row's as written by ``shared.db.outbox``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from shared.webhooks.events import ENVELOPE_VERSION


def timestamp(at: datetime) -> str:
    """``2030-06-01T09:00:00.123Z``: RFC 3339 in UTC, milliseconds."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def envelope(type_: str, occurred_at: datetime, data: dict) -> dict:
    return {"type": type_, "timestamp": timestamp(occurred_at), "version": ENVELOPE_VERSION,
            "data": data}


def envelope_body(type_: str, occurred_at: datetime, data: dict) -> bytes:
    """The body as sent (and signed)."""
    return orjson.dumps(envelope(type_, occurred_at, data))
