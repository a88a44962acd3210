"""The recorder's event writes: store each event once, move states, suppress.

An event names its message either by id (tracking hits) or by the id SES
gave it (``messages.provider_message_id``). An SES event can arrive before
the sender's outcome that records that id: it is stored with no message
(an orphan) and adopted when the outcome lands (``adopt_orphan_events``).

Event insertion and adoption both take ``EVENTS_LOCK`` (a transaction-level
advisory lock) first. Without it, an outcome committing while an orphan is
being inserted would leave each transaction blind to the other and the
orphan unadopted forever; with it, whichever runs second sees the first.
Both take it before any row lock (``record_outcomes`` takes it before it
applies outcomes), so the two cannot deadlock on message rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.types import BigInteger, Text

from shared.broker.payloads import Event, EventType
from shared.db.outbox import emit_state_changes, emit_stored_events
from shared.db.traffic import count_events
from shared.states import BY_ID_STATE
from shared.states import MessageState as S

EVENTS_LOCK = 727_273

#: The state an event moves its message to, and the states it may move from.
#: States only move forward (sent < delivered < bounced < complained), so
#: events arriving out of order (a Delivery after a Complaint) change nothing.
#: An ``unknown`` message an event reaches (matched by its tag: ``_INSERT_EVENTS``)
#: was sent after all: SES's events move it as they move a ``sent`` one.
TRANSITIONS: dict[EventType, tuple[S, tuple[S, ...]]] = {
    EventType.SENT: (S.SENT, (S.UNKNOWN,)),
    EventType.DELIVERED: (S.DELIVERED, (S.SENT, S.UNKNOWN)),
    EventType.REJECTED: (S.FAILED, (S.SENT, S.UNKNOWN)),
    EventType.RENDERING_FAILED: (S.FAILED, (S.SENT, S.UNKNOWN)),
    EventType.BOUNCED: (S.BOUNCED, (S.SENT, S.DELIVERED, S.UNKNOWN)),
    EventType.COMPLAINED: (S.COMPLAINED, (S.SENT, S.DELIVERED, S.BOUNCED, S.UNKNOWN)),
}
_RANK = {S.SENT: 0, S.DELIVERED: 1, S.FAILED: 2, S.BOUNCED: 3, S.COMPLAINED: 4}
_ERRORS = {
    EventType.REJECTED: "rejected by SES",
    EventType.RENDERING_FAILED: "SES could not render",
}


@dataclass(frozen=True)
class StoredEvent:
    """An event row this transaction wrote (or adopted)."""

    id: int
    message_id: int | None
    type: str
    detail: str | None


def lock_events(conn: Connection) -> None:
    """Serialise event insertion with orphan adoption until this transaction ends."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": EVENTS_LOCK})


#: The message id SES's event carries in the tag every send has (``mail.tags``, as
#: shared.transports.ses_content writes it), when it is one.
_TAGGED_ID = """CASE WHEN e.payload #>> '{mail,tags,mailpipe-message,0}' ~ '^[0-9]{1,18}$'
                      THEN (e.payload #>> '{mail,tags,mailpipe-message,0}')::bigint END"""

_INSERT_EVENTS = text(
    f"""
    WITH e AS (
        SELECT * FROM jsonb_to_recordset(:rows) AS e(
            message_id bigint, type text, at double precision, provider_message_id text,
            sns_message_id text, detail text, machine boolean, payload jsonb)
    ), tagged AS (
        -- SES's id names no message, but its tag names one whose send ended unknown
        -- (the outcome that would have recorded the id was lost): it was sent, as SES's id.
        UPDATE messages m
           SET provider_message_id = e.provider_message_id, updated_at = now()
          FROM e
         WHERE m.id = {_TAGGED_ID}
           AND m.{BY_ID_STATE} = '{S.UNKNOWN}' AND m.provider_message_id IS NULL
           AND e.provider_message_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM messages x
                            WHERE x.provider_message_id = e.provider_message_id)
        RETURNING m.id, m.provider_message_id
    )
    INSERT INTO events (message_id, type, occurred_at, provider_message_id, sns_message_id,
                        detail, machine, payload)
    SELECT COALESCE((SELECT m.id FROM messages m WHERE m.id = e.message_id),
                    (SELECT m.id FROM messages m
                      WHERE m.provider_message_id = e.provider_message_id
                      ORDER BY m.id LIMIT 1),
                    (SELECT t.id FROM tagged t
                      WHERE t.provider_message_id = e.provider_message_id LIMIT 1)),
           e.type, to_timestamp(e.at), e.provider_message_id, e.sns_message_id,
           e.detail, e.machine, NULLIF(e.payload, 'null'::jsonb)
      FROM e
    ON CONFLICT (sns_message_id) DO NOTHING
    RETURNING id, message_id, type, detail
    """
).bindparams(bindparam("rows", type_=JSONB))


def insert_events(
    conn: Connection, events: list[Event], machine: dict[int, bool] | None = None
) -> list[StoredEvent]:
    """Store ``events`` and apply what they mean; returns the rows actually inserted.

    ``machine[i]`` marks ``events[i]`` as a prefetcher's or scanner's hit.
    An event whose SNS MessageId is already stored is skipped (ON CONFLICT
    DO NOTHING on the unique index), so a redelivered or replayed
    notification changes nothing. For SES events, takes ``EVENTS_LOCK``, then
    row locks on the messages whose state changes (in id order); then
    ``TRAFFIC_LOCK`` to count them in the dashboard's rollups.
    """
    if not events:
        return []
    machine = machine or {}
    rows = [
        _without_nul({
            "message_id": e.message_id, "type": e.type.value, "at": e.at,
            "provider_message_id": e.provider_message_id, "sns_message_id": e.sns_message_id,
            "detail": e.detail, "machine": machine.get(i, False), "payload": e.payload,
        })
        for i, e in enumerate(events)
    ]
    if any(e.provider_message_id for e in events):
        # Only SES events can be orphans or move states; tracking hits need no lock.
        lock_events(conn)
    stored = [StoredEvent(*r) for r in conn.execute(_INSERT_EVENTS, {"rows": rows})]
    _consequences(conn, stored)
    return stored


def _without_nul(value):
    """``value`` with NUL characters dropped from every string.

    PostgreSQL text and jsonb cannot hold NUL; a user agent or payload with
    one would fail the batch on every retry, so it is dropped, not refused.
    """
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


_ADOPT_ORPHANS = text(
    """
    UPDATE events e
       SET message_id = m.id
      FROM messages m
     WHERE m.id = ANY(:ids)
       AND m.provider_message_id IS NOT NULL
       AND e.message_id IS NULL
       AND e.provider_message_id = m.provider_message_id
    RETURNING e.id, e.message_id, e.type, e.detail
    """
).bindparams(bindparam("ids", type_=ARRAY(BigInteger)))


def adopt_orphan_events(conn: Connection, message_ids: list[int]) -> list[StoredEvent]:
    """Attach orphan events to ``message_ids`` (just recorded as sent) and apply them.

    Call in the transaction that recorded the provider ids, which took
    ``EVENTS_LOCK`` (``lock_events``) before its first row lock (see the
    module docstring); updates the orphans through the partial index
    ``events_orphans``.
    """
    if not message_ids:
        return []
    adopted = [StoredEvent(*r) for r in conn.execute(_ADOPT_ORPHANS, {"ids": message_ids})]
    _consequences(conn, adopted)
    return adopted


def _consequences(conn: Connection, stored: list[StoredEvent]) -> None:
    """What ``stored`` events (just inserted or adopted) mean: states moved and addresses
    suppressed (``apply_consequences``); the dashboard's rollups, messages these events
    start a measure for and those they failed (``shared.db.traffic.count_events``); the
    outbox, an outbound event per event of a message and a ``message.failed`` per
    message they failed (``shared.db.outbox``)."""
    moved = apply_consequences(conn, stored)
    matched = [e.id for e in stored if e.message_id is not None]
    count_events(conn, matched, sorted(i for i, state in moved.items() if state == S.FAILED))
    emit_stored_events(conn, matched)
    emit_state_changes(conn, moved)


_MOVE_STATES = text(
    """
    WITH t AS (
        SELECT * FROM unnest(:ids, :states, :froms, :errors) AS t(id, state, froms, error)
    )
    UPDATE messages m
       SET state = t.state,
           error = COALESCE(t.error, m.error),
           updated_at = now()
      FROM t
     WHERE m.id = t.id AND m.state = ANY(string_to_array(t.froms, ','))
    RETURNING m.id, m.state
    """
).bindparams(
    bindparam("ids", type_=ARRAY(BigInteger)),
    bindparam("states", type_=ARRAY(Text)),
    bindparam("froms", type_=ARRAY(Text)),
    bindparam("errors", type_=ARRAY(Text)),
)

#: The addresses SES names in a bounce or complaint (a message with Cc or
#: several To may bounce for one of them only), else the message's recipient.
_SUPPRESS_FROM_EVENTS = text(
    """
    WITH s AS (
        SELECT * FROM unnest(:event_ids, :reasons) AS s(event_id, reason)
    ), named AS (
        SELECT e.id AS event_id, lower(trim(r->>'emailAddress')) AS address
          FROM s JOIN events e ON e.id = s.event_id,
               jsonb_array_elements(CASE
                   WHEN jsonb_typeof(e.payload #> '{bounce,bouncedRecipients}') = 'array'
                       THEN e.payload #> '{bounce,bouncedRecipients}'
                   WHEN jsonb_typeof(e.payload #> '{complaint,complainedRecipients}') = 'array'
                       THEN e.payload #> '{complaint,complainedRecipients}'
                   ELSE '[]'::jsonb END) AS r
         WHERE jsonb_typeof(r) = 'object' AND r->>'emailAddress' LIKE '%@%'
    )
    INSERT INTO suppressions (api_key_id, address, reason, message_id)
    SELECT m.api_key_id, COALESCE(n.address, lower(m.to_addr)), s.reason, m.id
      FROM s
      JOIN events e ON e.id = s.event_id
      JOIN messages m ON m.id = e.message_id
      LEFT JOIN named n ON n.event_id = s.event_id
    ON CONFLICT (api_key_id, address) DO NOTHING
    """
).bindparams(bindparam("event_ids", type_=ARRAY(BigInteger)),
             bindparam("reasons", type_=ARRAY(Text)))


def apply_consequences(conn: Connection, stored: list[StoredEvent]) -> dict[int, str]:
    """Move message states and suppress addresses for ``stored`` events; {id: new state}.

    Hard bounces and complaints suppress, for the message's API key, the
    addresses they name (else the message's recipient); soft bounces do not.
    Conditional updates only, so applying the same events again changes nothing.
    """
    targets: dict[int, tuple[str, tuple[str, ...], str | None]] = {}
    suppress: dict[int, str] = {}
    for event in stored:
        if event.message_id is None:
            continue
        kind = EventType(event.type)
        if kind in TRANSITIONS:
            state, froms = TRANSITIONS[kind]
            current = targets.get(event.message_id)
            if current is None or _RANK[state] > _RANK[current[0]]:
                error = (f"{_ERRORS[kind]}: {event.detail or 'no reason given'}"
                         if kind in _ERRORS else None)
                targets[event.message_id] = (state, froms, error)
        if kind is EventType.COMPLAINED:
            suppress[event.id] = "complaint"
        elif kind is EventType.BOUNCED and event.detail == "hard":
            suppress[event.id] = "bounce"
    moved: dict[int, str] = {}
    if targets:
        ids = sorted(targets)
        rows = conn.execute(_MOVE_STATES, {
            "ids": ids,
            "states": [targets[i][0] for i in ids],
            "froms": [",".join(targets[i][1]) for i in ids],
            "errors": [targets[i][2] for i in ids],
        })
        moved = {r.id: r.state for r in rows}
    if suppress:
        ids = sorted(suppress)
        conn.execute(_SUPPRESS_FROM_EVENTS,
                     {"event_ids": ids, "reasons": [suppress[i] for i in ids]})
    return moved


_ARRIVAL_TIMES = text(
    f"""
    SELECT m.id,
           GREATEST(m.sent_at, (SELECT min(e.occurred_at) FROM events e
                                 WHERE e.message_id = m.id
                                   AND e.type = '{EventType.DELIVERED}')) AS at
      FROM messages m
     WHERE m.id = ANY(:ids)
    """
).bindparams(bindparam("ids", type_=ARRAY(BigInteger)))


def arrival_times(conn: Connection, message_ids: list[int]) -> dict[int, datetime | None]:
    """When each message reached its reader's server, as far as we know.

    The delivery time when SES reported one (it may come minutes after the
    send), else the send time; for telling a scanner's instant click apart.
    """
    if not message_ids:
        return {}
    rows = conn.execute(_ARRIVAL_TIMES, {"ids": message_ids})
    return {r.id: r.at for r in rows}
