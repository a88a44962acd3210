"""The outbox: outbound events written in the transaction of the change that causes them.

Every writer of a state or an event a producer may subscribe to calls one of
these in its own transaction, with the rows its conditional UPDATE or INSERT
returned (so a replayed outcome or a duplicate SNS notification, which
returns nothing, emits nothing):

- ``emit(conn, events)``: events built by the caller (``OutboundEvent``);
- ``emit_message_events(conn, type, items)``: events of messages, whose
  ``data`` is read from the message rows in the same statement (one
  INSERT … SELECT per batch, for the recorder).

Either writes, in ONE statement, the ``webhook_events`` rows and one
``pending`` ``webhook_deliveries`` row for every enabled endpoint of the
event's key whose event types and topics match. An event of a key with no
enabled endpoint is not written at all: most keys have none, and the check
is one look at the (small) endpoints table per statement. A replay
(``POST /v1/webhooks/{id}/replay``) therefore covers the time the key had an
endpoint; an event one endpoint filters out is still written when the key
has another endpoint, so a later replay with other types finds it.

Locks: none beyond the inserted rows'; endpoints are read, not locked (an
endpoint created or disabled while the transaction runs may or may not get
its events, as if the change had come a moment earlier or later).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import BigInteger, DateTime, Text

from shared.webhooks.events import OutboundEventType


@dataclass(frozen=True)
class OutboundEvent:
    """One event for the outbox; ``data`` is the envelope's ``data`` (JSON-able)."""

    type: OutboundEventType
    api_key_id: int
    occurred_at: datetime
    data: dict = field(hash=False)
    message_id: int | None = None
    topic_id: str | None = None
    campaign_id: int | None = None


#: The enabled endpoints of the keys in ``e`` (one read of the endpoints table, however
#: many rows), then the events of those keys written, then their deliveries: one per
#: endpoint whose types and topics match (an empty list matches everything).
_WRITE = """
    , wanted AS (
        SELECT p.id, p.api_key_id, p.event_types, p.topics
          FROM webhook_endpoints p
         WHERE p.enabled AND p.api_key_id IN (SELECT DISTINCT api_key_id FROM e)
    ), stored AS (
        INSERT INTO webhook_events (api_key_id, type, message_id, topic_id, campaign_id,
                                    occurred_at, data)
        SELECT e.api_key_id, e.type, e.message_id, e.topic_id, e.campaign_id,
               e.occurred_at, e.data
          FROM e
         WHERE e.api_key_id IN (SELECT api_key_id FROM wanted)
         ORDER BY e.n
        RETURNING id, api_key_id, type, topic_id
    ), delivered AS (
        INSERT INTO webhook_deliveries (endpoint_id, event_id)
        SELECT w.id, s.id
          FROM stored s
          JOIN wanted w ON w.api_key_id = s.api_key_id
                       AND (w.event_types = '{}' OR s.type = ANY(w.event_types))
                       AND (w.topics = '{}' OR s.topic_id = ANY(w.topics))
         ORDER BY s.id, w.id
        RETURNING event_id
    )
    SELECT (SELECT count(*) FROM stored), (SELECT count(*) FROM delivered)
"""

_EMIT = text(
    """
    WITH e AS (
        SELECT type, api_key_id, occurred_at, CAST(data AS jsonb) AS data, message_id,
               topic_id, campaign_id, n
          FROM unnest(:types, :keys, :ats, :datas, :message_ids, :topic_ids, :campaign_ids)
               WITH ORDINALITY AS e(type, api_key_id, occurred_at, data, message_id,
                                    topic_id, campaign_id, n)
    )
    """ + _WRITE
).bindparams(
    bindparam("types", type_=ARRAY(Text)),
    bindparam("keys", type_=ARRAY(BigInteger)),
    bindparam("ats", type_=ARRAY(DateTime(timezone=True))),
    bindparam("datas", type_=ARRAY(Text)),
    bindparam("message_ids", type_=ARRAY(BigInteger)),
    bindparam("topic_ids", type_=ARRAY(Text)),
    bindparam("campaign_ids", type_=ARRAY(BigInteger)),
)


@dataclass(frozen=True)
class Emitted:
    """What one call wrote: outbox rows and deliveries."""

    events: int
    deliveries: int


NOTHING = Emitted(0, 0)


def emit(conn: Connection, events: Sequence[OutboundEvent]) -> Emitted:
    """Write ``events`` to the outbox with their deliveries, in the caller's transaction."""
    if not events:
        return NOTHING
    row = conn.execute(_EMIT, {
        "types": [e.type.value for e in events],
        "keys": [e.api_key_id for e in events],
        "ats": [e.occurred_at for e in events],
        "datas": [json.dumps(e.data) for e in events],
        "message_ids": [e.message_id for e in events],
        "topic_ids": [e.topic_id for e in events],
        "campaign_ids": [e.campaign_id for e in events],
    }).one()
    return Emitted(*row)


#: The ``data`` every message event carries, read from its row; a type adds its own.
MESSAGE_DATA = """
    jsonb_build_object('messageId', m.id, 'topicId', m.topic_id, 'recipient', m.to_addr,
                       'providerMessageId', m.provider_message_id,
                       'campaignId', m.campaign_id)
"""

_EMIT_FOR_MESSAGES = text(
    f"""
    WITH i AS (
        SELECT * FROM unnest(:message_ids, :ats, :extras) WITH ORDINALITY
                 AS i(message_id, occurred_at, extra, n)
    ), e AS (
        SELECT CAST(:type AS text) AS type, m.api_key_id, COALESCE(i.occurred_at, now())
               AS occurred_at, {MESSAGE_DATA} || COALESCE(CAST(i.extra AS jsonb), '{{}}')
               AS data, m.id AS message_id, m.topic_id, m.campaign_id, i.n
          FROM i JOIN messages m ON m.id = i.message_id
    )
    """ + _WRITE
).bindparams(
    bindparam("message_ids", type_=ARRAY(BigInteger)),
    bindparam("ats", type_=ARRAY(DateTime(timezone=True))),
    bindparam("extras", type_=ARRAY(Text)),
)


@dataclass(frozen=True)
class MessageEvent:
    """A message's event for ``emit_message_events``: ``extra`` joins the common data."""

    message_id: int
    occurred_at: datetime | None = None  # None: now (the transaction's time)
    extra: dict | None = field(default=None, hash=False)


def emit_message_events(
    conn: Connection, type: OutboundEventType, items: Sequence[MessageEvent]
) -> Emitted:
    """Write one ``type`` event per item, its data read from the message row, in one
    statement in the caller's transaction (call it after the change, so the data is
    the row as changed: its provider id once sent)."""
    if not items:
        return NOTHING
    row = conn.execute(_EMIT_FOR_MESSAGES, {
        "type": type.value,
        "message_ids": [i.message_id for i in items],
        "ats": [i.occurred_at for i in items],
        "extras": [json.dumps(i.extra) if i.extra else None for i in items],
    }).one()
    return Emitted(*row)
