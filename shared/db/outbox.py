"""The outbox: outbound events written in the transaction of the change that causes them.

Every writer of a state or an event a producer may subscribe to calls one of
these in its own transaction, with the rows its conditional UPDATE or INSERT
returned (so a replayed outcome or a duplicate SNS notification, which
returns nothing, emits nothing):

- ``emit(conn, events)``: events built by the caller (``OutboundEvent``);
- ``emit_message_events(conn, items)``: events of messages whose state moved,
  their ``data`` read from the message rows;
- ``emit_stored_events(conn, event_ids)``: SES's and the tracking links' events
  just stored (``events`` rows), their data read from those rows;
- ``complete_campaigns(conn, campaign_ids)``: ``campaign.completed`` for those of the
  campaigns whose last message just left ``created``/``queued``/``sending``.

Each is one INSERT … SELECT however many events (the recorder calls them once per
batch). It writes the ``webhook_events`` rows and one ``pending``
``webhook_deliveries`` row for every enabled endpoint of the event's key whose
event types and topics match (an empty list matches everything). An event of a
key with no enabled endpoint is not written at all: most keys have none, and
the check is one read of the (small) endpoints table per statement. A replay
(``POST /v1/webhooks/{id}/replay``) therefore covers the time the key had an
endpoint; an event one endpoint filters out is still written when the key has
another endpoint, so a later replay with other types finds it.

Locks: none beyond the inserted rows' (and ``complete_campaigns``'s, below);
endpoints are read, not locked (an endpoint created or disabled while the
transaction runs may or may not get its events, as if the change had come a
moment earlier or later).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import BigInteger, DateTime, Text

from shared.broker.payloads import EventType as E
from shared.states import PENDING, UNCLAIMED, CampaignStatus, sql_list
from shared.states import MessageState as S
from shared.webhooks.events import OutboundEventType as T


@dataclass(frozen=True)
class OutboundEvent:
    """One event for the outbox; ``data`` is the envelope's ``data`` (JSON-able)."""

    type: T
    api_key_id: int
    occurred_at: datetime
    data: dict = field(hash=False)
    message_id: int | None = None
    topic_id: str | None = None
    campaign_id: int | None = None


@dataclass(frozen=True)
class Emitted:
    """What one call wrote: outbox rows and deliveries."""

    events: int
    deliveries: int


NOTHING = Emitted(0, 0)

#: Whether the key ``{key}`` has an enabled endpoint: the events of ``e`` below are only
#: those of such keys, so that nothing is built (data) for a key that has none.
_HAS_ENDPOINT = ("EXISTS (SELECT 1 FROM webhook_endpoints p"
                 " WHERE p.api_key_id = {key} AND p.enabled)")

#: Given the events to write as ``e`` (type, api_key_id, occurred_at, data, message_id,
#: topic_id, campaign_id, n: their order), the enabled endpoints of their keys (one read
#: of the endpoints table), the events of those keys written, and their deliveries.
_WRITE = """
    , wanted AS (
        SELECT p.id, p.api_key_id, p.event_types, p.topics
          FROM webhook_endpoints p
         WHERE p.enabled AND p.api_key_id IN (SELECT api_key_id FROM e)
    ), stored AS (
        INSERT INTO webhook_events (api_key_id, type, message_id, topic_id, campaign_id,
                                    occurred_at, data)
        SELECT e.api_key_id, e.type, e.message_id, e.topic_id, e.campaign_id,
               e.occurred_at, e.data
          FROM e
         WHERE e.api_key_id IN (SELECT api_key_id FROM wanted)
         ORDER BY e.n
        RETURNING id, api_key_id, type, topic_id
    ), delivering AS (
        INSERT INTO webhook_deliveries (endpoint_id, event_id)
        SELECT w.id, s.id
          FROM stored s
          JOIN wanted w ON w.api_key_id = s.api_key_id
                       AND (w.event_types = '{}' OR s.type = ANY(w.event_types))
                       AND (w.topics = '{}' OR s.topic_id = ANY(w.topics))
         ORDER BY s.id, w.id
        RETURNING event_id
    )
    SELECT (SELECT count(*) FROM stored), (SELECT count(*) FROM delivering)
"""


def _emitted(conn: Connection, statement, params: dict) -> Emitted:
    return Emitted(*conn.execute(statement, params).one())


_EMIT = text(
    """
    WITH e AS (
        SELECT type, api_key_id, occurred_at, CAST(data AS jsonb) AS data, message_id,
               topic_id, campaign_id, n
          FROM unnest(:types, :keys, :ats, :datas, :message_ids, :topic_ids, :campaign_ids)
               WITH ORDINALITY AS e(type, api_key_id, occurred_at, data, message_id,
                                    topic_id, campaign_id, n)
         WHERE """ + _HAS_ENDPOINT.format(key="e.api_key_id") + """
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


def emit(conn: Connection, events: Sequence[OutboundEvent]) -> Emitted:
    """Write ``events`` to the outbox with their deliveries, in the caller's transaction."""
    if not events:
        return NOTHING
    return _emitted(conn, _EMIT, {
        "types": [e.type.value for e in events],
        "keys": [e.api_key_id for e in events],
        "ats": [e.occurred_at for e in events],
        "datas": [json.dumps(e.data) for e in events],
        "message_ids": [e.message_id for e in events],
        "topic_ids": [e.topic_id for e in events],
        "campaign_ids": [e.campaign_id for e in events],
    })


# --- events of messages -----------------------------------------------------------------

#: The ``data`` every message event carries, read from its row ``m``.
MESSAGE_DATA = """
    jsonb_build_object('messageId', m.id, 'topicId', m.topic_id, 'recipient', m.to_addr,
                       'providerMessageId', m.provider_message_id,
                       'campaignId', m.campaign_id)
"""

#: Types whose data says why: the message's ``error`` as the change left it.
_WITH_ERROR = (T.MESSAGE_FAILED, T.MESSAGE_UNKNOWN, T.MESSAGE_SUPPRESSED)

_EMIT_FOR_MESSAGES = text(
    f"""
    WITH i AS (
        SELECT * FROM unnest(:types, :message_ids, :ats) WITH ORDINALITY
                 AS i(type, message_id, occurred_at, n)
    ), e AS (
        SELECT i.type, m.api_key_id, COALESCE(i.occurred_at, now()) AS occurred_at,
               {MESSAGE_DATA}
               || CASE WHEN i.type IN ({sql_list(_WITH_ERROR)})
                       THEN jsonb_build_object('error', m.error) ELSE '{{}}' END AS data,
               m.id AS message_id, m.topic_id, m.campaign_id, i.n
          FROM i JOIN messages m ON m.id = i.message_id
         WHERE {_HAS_ENDPOINT.format(key="m.api_key_id")}
    )
    """ + _WRITE
).bindparams(
    bindparam("types", type_=ARRAY(Text)),
    bindparam("message_ids", type_=ARRAY(BigInteger)),
    bindparam("ats", type_=ARRAY(DateTime(timezone=True))),
)

#: The event a message's new state is, for the states an outcome or a sweep moves it to
#: (``queued`` again, after a retry, is none).
STATE_EVENTS = {S.SENT: T.MESSAGE_SENT, S.FAILED: T.MESSAGE_FAILED,
                S.UNKNOWN: T.MESSAGE_UNKNOWN, S.SUPPRESSED: T.MESSAGE_SUPPRESSED}


@dataclass(frozen=True)
class MessageEvent:
    """A message's change for ``emit_message_events``."""

    type: T
    message_id: int
    occurred_at: datetime | None = None  # None: now (the transaction's time)


def emit_message_events(conn: Connection, items: Iterable[MessageEvent]) -> Emitted:
    """One event per item, its data read from the message row as the change left it
    (call it after the change: a sent message's provider id is in its ``message.sent``)."""
    items = list(items)
    if not items:
        return NOTHING
    return _emitted(conn, _EMIT_FOR_MESSAGES, {
        "types": [i.type.value for i in items],
        "message_ids": [i.message_id for i in items],
        "ats": [i.occurred_at for i in items],
    })


def emit_state_changes(conn: Connection, states: dict[int, str],
                       at: dict[int, datetime] | None = None) -> Emitted:
    """``emit_message_events`` for messages that moved to ``states`` ({id: new state}),
    for those states that are events (``STATE_EVENTS``), at ``at[id]`` or now."""
    at = at or {}
    return emit_message_events(conn, [
        MessageEvent(STATE_EVENTS[S(state)], message_id, at.get(message_id))
        for message_id, state in sorted(states.items()) if S(state) in STATE_EVENTS])


# --- SES's and the tracking links' events ----------------------------------------------

#: The events rows that are outbound events. SES's Send is ``message.sent`` from the
#: sender's outcome; Reject and Rendering Failure are ``message.failed`` when they move the
#: state (``emit_state_changes``); an unsubscribe is ``message.unsubscribed`` when it adds
#: the suppression (``shared.db.suppressions.unsubscribe_message_recipient``), not per click.
STORED_EVENTS = {E.DELIVERED: T.MESSAGE_DELIVERED, E.BOUNCED: T.MESSAGE_BOUNCED,
                 E.COMPLAINED: T.MESSAGE_COMPLAINED, E.DELAYED: T.MESSAGE_DELIVERY_DELAYED,
                 E.OPENED: T.MESSAGE_OPENED, E.CLICKED: T.MESSAGE_CLICKED}

#: What each type adds to the message's data, from its events row ``v``: the SES details
#: object is ``v.payload -> <key>`` (shared.events.ses.SES_TYPES).
_STORED_DATA = {
    E.DELIVERED: "jsonb_build_object('smtpResponse', v.payload #>> '{delivery,smtpResponse}')",
    E.BOUNCED: """jsonb_build_object(
        'bounceType', v.detail, 'bounceSubType', v.payload #>> '{bounce,bounceSubType}',
        'diagnostic', v.payload #>> '{bounce,bouncedRecipients,0,diagnosticCode}')""",
    E.COMPLAINED: "jsonb_build_object('feedbackType', v.detail)",
    E.DELAYED: """jsonb_build_object(
        'delayType', v.detail,
        'diagnostic', v.payload #>> '{deliveryDelay,delayedRecipients,0,diagnosticCode}')""",
    E.OPENED: "jsonb_build_object('machine', v.machine)",
    E.CLICKED: "jsonb_build_object('url', v.detail, 'machine', v.machine)",
}

_STORED_TYPE = " ".join(f"WHEN '{k}' THEN '{t}'" for k, t in STORED_EVENTS.items())
_STORED_EXTRA = " ".join(f"WHEN '{k}' THEN {sql}" for k, sql in _STORED_DATA.items())

_EMIT_STORED = text(
    f"""
    WITH e AS (
        SELECT CASE v.type {_STORED_TYPE} END AS type, m.api_key_id, v.occurred_at,
               {MESSAGE_DATA} || CASE v.type {_STORED_EXTRA} END AS data,
               m.id AS message_id, m.topic_id, m.campaign_id, v.id AS n
          FROM events v JOIN messages m ON m.id = v.message_id
         WHERE v.id = ANY(:ids)
           AND v.type IN ({sql_list(STORED_EVENTS)})
           AND {_HAS_ENDPOINT.format(key="m.api_key_id")}
    )
    """ + _WRITE
).bindparams(bindparam("ids", type_=ARRAY(BigInteger)))


def emit_stored_events(conn: Connection, event_ids: Sequence[int]) -> Emitted:
    """The outbound events of ``events`` rows this transaction stored (or adopted:
    an SES event that arrived before its message's provider id is emitted when
    it finds its message), in id order."""
    if not event_ids:
        return NOTHING
    return _emitted(conn, _EMIT_STORED, {"ids": sorted(event_ids)})


# --- campaigns --------------------------------------------------------------------------

#: Taken with a campaign's id by whoever checks whether it completed, after every row
#: lock of its transaction (so it never waits for anything but another check): two
#: transactions ending a campaign's last two messages check one after the other, and
#: the second sees the first's commit.
CAMPAIGNS_LOCK = 727_275

_LOCK_CAMPAIGNS = text(
    "SELECT pg_advisory_xact_lock(CAST(:space AS integer), CAST(id % 2147483647 AS integer))"
    "  FROM unnest(:ids) AS id"
).bindparams(bindparam("ids", type_=ARRAY(BigInteger)))

_COMPLETE = text(
    f"""
    WITH done AS (
        UPDATE campaigns c
           SET completed_at = now()
         WHERE c.id = ANY(:ids) AND c.completed_at IS NULL
           AND c.status = '{CampaignStatus.ACTIVE}' AND c.expanded = c.total
           -- Through messages_campaign_unsent, then the few rows being sent.
           AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.campaign_id = c.id
                              AND m.state IN ({sql_list(UNCLAIMED)}))
           AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.campaign_id = c.id
                              AND m.state IN ({sql_list(PENDING - UNCLAIMED)}))
        RETURNING c.id, c.api_key_id, c.topic_id, c.name, c.total, c.duplicates,
                  c.completed_at
    ), e AS (
        SELECT '{T.CAMPAIGN_COMPLETED}' AS type, api_key_id, completed_at AS occurred_at,
               jsonb_build_object('campaignId', id, 'topicId', topic_id, 'name', name,
                                  'total', total, 'duplicates', duplicates) AS data,
               CAST(NULL AS bigint) AS message_id, topic_id, id AS campaign_id, id AS n
          FROM done
    )
    """ + _WRITE
).bindparams(bindparam("ids", type_=ARRAY(BigInteger)))


def complete_campaigns(conn: Connection, campaign_ids: Iterable[int | None]) -> Emitted:
    """Mark completed those of ``campaign_ids`` that are: active, expanded, and with no
    message left ``created``, ``queued`` or ``sending``; emit ``campaign.completed``
    for each, once (``campaigns.completed_at`` is set once, never cleared).

    Call at the end of a transaction that moved messages of these campaigns out of
    those states (or expanded or resumed them), after its last row lock: it takes
    ``CAMPAIGNS_LOCK`` per campaign, in id order.
    """
    ids = sorted({i for i in campaign_ids if i is not None})
    if not ids:
        return NOTHING
    conn.execute(_LOCK_CAMPAIGNS, {"space": CAMPAIGNS_LOCK, "ids": ids})
    return _emitted(conn, _COMPLETE, {"ids": ids})
