"""Webhook endpoints written straight to the table, and what the outbox holds: for the
tests of what emits outbound events (the endpoints API has its own tests)."""

from __future__ import annotations

from sqlalchemy import insert, text

from shared.db.tables import webhook_endpoints


def add_endpoint(engine, key_id: int, **values) -> int:
    """An enabled endpoint of ``key_id`` wanting every event (``values`` sets columns)."""
    with engine.begin() as conn:
        return conn.execute(insert(webhook_endpoints).values(
            api_key_id=key_id, url="https://hooks.example.com/in", secret="sealed", **values,
        ).returning(webhook_endpoints.c.id)).scalar_one()


def outbox(engine, types: set[str] | None = None) -> list[tuple]:
    """(type, message id, data) of every outbox row (of ``types``), in order."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT type, message_id, data FROM webhook_events ORDER BY id"))
        return [tuple(r) for r in rows if types is None or r.type in types]


def outbox_types(engine, message_id: int | None = None) -> list[str]:
    """The types of the outbox rows (of one message), in order."""
    return [t for t, m, _ in outbox(engine) if message_id is None or m == message_id]


def pending_deliveries(engine) -> list[tuple]:
    """(endpoint id, event type) of every pending delivery, in order."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT d.endpoint_id, e.type FROM webhook_deliveries d"
            " JOIN webhook_events e ON e.id = d.event_id WHERE d.state = 'pending'"
            " ORDER BY d.id"))]
