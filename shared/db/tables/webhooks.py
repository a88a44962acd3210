"""The outbound webhooks' tables (migration 0023): endpoints, the outbox, deliveries.

An API key registers endpoints (``webhook_endpoints``). Every event a producer may
subscribe to is a row of ``webhook_events`` written in the transaction of the change
that causes it, with one ``webhook_deliveries`` row per endpoint that wants it
(``shared.db.outbox.emit``); the ``mailpipe webhooks`` workers claim due deliveries
as senders claim messages. ``webhook_events`` is append-only: a retry or a replay
delivers the same row again, so its ``webhook-id`` (``evt_<id>``) stays the same.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from shared.db.tables.metadata import metadata
from shared.states import sql_list
from shared.webhooks.events import DUE, DeliveryState, DisabledReason

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("api_key_id", BigInteger, ForeignKey("api_keys.id"), nullable=False),
    Column("url", Text, nullable=False),
    #: The event types it wants (``shared.webhooks.events.EventType``); empty: every type.
    Column("event_types", ARRAY(Text), nullable=False, server_default="{}"),
    #: The topics it wants; empty: every topic (and events of no topic).
    Column("topics", ARRAY(Text), nullable=False, server_default="{}"),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    #: ``shared.webhooks.events.DisabledReason``, set when ``enabled`` went false.
    Column("disabled_reason", Text),
    #: The ``whsec_…`` signing secret, encrypted like smtp_relays.password_encrypted
    #: (``shared.secrets``); shown once, at creation or rotation.
    Column("secret", Text, nullable=False),
    #: The secret before the last rotation, still signing until ``previous_secret_until``.
    Column("previous_secret", Text),
    Column("previous_secret_until", DateTime(timezone=True)),
    #: When its deliveries started failing without a success since; None: not failing.
    Column("failing_since", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(f"disabled_reason IN ({sql_list(set(DisabledReason))})",
                    name="webhook_disabled_reason_valid"),
    #: ``emit``'s look-up: a key's enabled endpoints (none, for most keys).
    Index("webhook_endpoints_key", "api_key_id", postgresql_where=text("enabled")),
)

#: The outbox, append-only. ``data`` is the envelope's ``data``; the envelope
#: (``type``, ``timestamp`` from ``occurred_at``, ``version``) is built on delivery.
webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("api_key_id", BigInteger, nullable=False),
    Column("type", Text, nullable=False),
    Column("message_id", BigInteger),
    Column("topic_id", Text),
    Column("campaign_id", BigInteger),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("data", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    #: Replay by range, and a key's events in time order.
    Index("webhook_events_key_occurred", "api_key_id", "occurred_at"),
    #: A message's events: the delivery claim keeps them in order per endpoint
    #: (shared.db.webhook_deliveries).
    Index("webhook_events_message", "message_id", postgresql_where=text("message_id IS NOT NULL")),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("endpoint_id", BigInteger, ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
           nullable=False),
    #: The event (webhook_events.id). No foreign key: a delivery is only ever inserted from
    #: the event just inserted (``shared.db.outbox``, a test event) or read from its table
    #: (a replay), and retention deletes an event with its deliveries; a per-row check
    #: was most of the outbox's cost while webhook_events was young (before PostgreSQL
    #: first analyzed it, each check read the table whole). As messages' references
    #: (migration 0008), for the same reason.
    Column("event_id", BigInteger, nullable=False),
    Column("state", Text, nullable=False, server_default=DeliveryState.PENDING.value),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("due_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("lease_until", DateTime(timezone=True)),
    Column("worker_id", Text),
    #: The last attempt's HTTP status (None: no answer) and a bounded excerpt (≤ 1 KB).
    Column("last_status", Integer),
    Column("last_response", Text),
    Column("last_error", Text),
    Column("delivered_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(f"state IN ({sql_list(set(DeliveryState))})",
                    name="webhook_delivery_state_valid"),
    #: The claim: an endpoint's due deliveries in due order, pending or with a lease to
    #: check (a claimed row's due_at is its lease's end); by endpoint, so that a worker's
    #: claim, its count of live leases and the scheduler's "which endpoints are due" each
    #: read one endpoint's entries only.
    Index("webhook_deliveries_due", "endpoint_id", "due_at", "id",
          postgresql_where=text(f"state IN ({sql_list(DUE)})")),
    #: An endpoint's deliveries, newest first (GET /v1/webhooks/{id}/deliveries).
    Index("webhook_deliveries_endpoint", "endpoint_id", "id"),
    #: An event's deliveries (ordering per message, retention of old events).
    Index("webhook_deliveries_event", "event_id"),
)
