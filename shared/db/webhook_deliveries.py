"""Webhook deliveries: the workers' claim and outcomes, and what a key reads and asks for.

A delivery is one event (``webhook_events``) for one endpoint, claimed like a
message (shared.db.claims): ``claim_deliveries`` moves due rows to
``delivering`` for one worker with a lease (``due_at`` becomes the lease's
end, so a worker that dies leaves rows that are simply due again: at least
once); ``settle_deliveries`` records attempts, conditional on the claim
still being that worker's. The scheduler only asks which endpoints have
due rows (``due_endpoints``) to wake workers for them: PostgreSQL is the
truth, a lost wake-up costs a second.

Order: a claim takes an event of a message only when no earlier event of
that message is still pending or delivering for the same endpoint, so one
message's events reach an endpoint in order (a failed one, retries spent,
no longer holds the later ones back).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.types import BigInteger, Float, Integer
from sqlalchemy.types import Text as TextType

from shared.states import sql_list
from shared.webhooks.events import DUE, DisabledReason, OutboundEventType
from shared.webhooks.events import DeliveryState as D
from shared.webhooks.retries import GIVE_UP_AFTER

#: The claim index's predicate on a delivery ``{d}`` (shared.db.tables.webhooks): waiting
#: for a worker, or held by one (its lease is its due_at).
_OPEN = "{d}.state IN (" + sql_list(DUE) + ")"
_DUE = _OPEN.format(d="d") + " AND d.due_at <= now()"

_DUE_ENDPOINTS = text(
    f"""
    SELECT w.id
      FROM webhook_endpoints w
     WHERE w.enabled
       -- The first entry of its claim index (min over a prefix: one probe).
       AND (SELECT min(d.due_at) FROM webhook_deliveries d
             WHERE d.endpoint_id = w.id
               AND {_OPEN.format(d="d")}) <= now()
     ORDER BY w.id
     LIMIT :limit
    """
)


def due_endpoints(conn: Connection, *, limit: int = 1000) -> list[int]:
    """Enabled endpoints with at least one due delivery: a plain read, one probe of the
    due index (by endpoint, then due_at) per enabled endpoint."""
    return [r[0] for r in conn.execute(_DUE_ENDPOINTS, {"limit": limit})]


_LOCK_ENDPOINT = text("SELECT 1 FROM webhook_endpoints WHERE id = :id AND enabled FOR UPDATE")

_CLAIM = text(
    f"""
    WITH claimed AS (
        UPDATE webhook_deliveries
           SET state = '{D.DELIVERING}', attempts = attempts + 1, worker_id = :worker_id,
               lease_until = now() + make_interval(secs => :lease),
               due_at = now() + make_interval(secs => :lease)
         WHERE id = ANY(ARRAY(
            -- The claim index in due order, stopped at the limit.
            SELECT d.id
              FROM webhook_deliveries d
             WHERE d.endpoint_id = :endpoint_id AND {_DUE}
               -- No earlier event of its message still open for this endpoint.
               AND NOT EXISTS (
                   SELECT 1 FROM webhook_events e
                     JOIN webhook_events pe ON pe.message_id = e.message_id AND pe.id < e.id
                     JOIN webhook_deliveries p ON p.event_id = pe.id
                    WHERE e.id = d.event_id AND p.endpoint_id = d.endpoint_id
                      AND {_OPEN.format(d="p")})
             ORDER BY d.due_at, d.id
             LIMIT greatest(0, :slots - (
                -- Live leases: a claimed row is due when its lease ends.
                SELECT count(*) FROM webhook_deliveries b
                 WHERE b.endpoint_id = :endpoint_id AND b.state = '{D.DELIVERING}'
                   AND b.due_at > now()))
               FOR UPDATE OF d SKIP LOCKED))
        RETURNING id, attempts, event_id, endpoint_id
    )
    SELECT c.id, c.attempts, c.event_id, e.type, e.occurred_at, e.data, w.url, w.secret,
           CASE WHEN w.previous_secret_until > now() THEN w.previous_secret END
      FROM claimed c
      JOIN webhook_events e ON e.id = c.event_id
      JOIN webhook_endpoints w ON w.id = c.endpoint_id
     ORDER BY c.id
    """
)


@dataclass(frozen=True)
class ClaimedDelivery:
    """What a worker needs to make one attempt (secrets still encrypted)."""

    id: int
    #: This claim's attempt number; it identifies the claim in ``settle_deliveries``.
    attempt: int
    event_id: int
    type: str
    occurred_at: datetime
    data: dict
    url: str
    secret: str
    previous_secret: str | None


def claim_deliveries(conn: Connection, endpoint_id: int, *, worker_id: str, slots: int,
                     lease: float) -> list[ClaimedDelivery]:
    """Claim due deliveries of one endpoint, so that at most ``slots`` are in flight.

    The endpoint's row lock (FOR UPDATE; nothing when it is disabled) makes
    the claimers of one endpoint take turns, so the count of live leases and
    the claim see each other: the per-endpoint concurrency cap holds however
    many workers claim. Then one statement (``UPDATE … WHERE id IN (SELECT …
    FOR UPDATE SKIP LOCKED LIMIT n) RETURNING``) takes the rows and returns
    what an attempt needs. Commit before delivering.
    """
    if conn.execute(_LOCK_ENDPOINT, {"id": endpoint_id}).first() is None:
        return []
    rows = conn.execute(_CLAIM, {"endpoint_id": endpoint_id, "worker_id": worker_id,
                                 "slots": slots, "lease": lease})
    return [ClaimedDelivery(*row) for row in rows]


_SETTLE = text(
    f"""
    UPDATE webhook_deliveries d
       SET state = a.state, last_status = a.status, last_response = a.response,
           last_error = a.error, lease_until = NULL, worker_id = NULL,
           due_at = now() + make_interval(secs => a.delay),
           delivered_at = CASE WHEN a.state = '{D.DELIVERED}' THEN now() END
      FROM unnest(:ids, :attempts, :states, :statuses, :responses, :errors, :delays)
           AS a(id, attempt, state, status, response, error, delay)
     WHERE d.id = a.id AND d.attempts = a.attempt AND d.worker_id = :worker_id
       AND d.state = '{D.DELIVERING}'
    RETURNING d.id
    """
).bindparams(bindparam("ids", type_=ARRAY(BigInteger)),
             bindparam("attempts", type_=ARRAY(Integer)),
             bindparam("states", type_=ARRAY(TextType)),
             bindparam("statuses", type_=ARRAY(Integer)),
             bindparam("responses", type_=ARRAY(TextType)),
             bindparam("errors", type_=ARRAY(TextType)),
             bindparam("delays", type_=ARRAY(Float)))


@dataclass(frozen=True)
class Settled:
    """One attempt's outcome: ``delivered``, ``failed``, or ``pending`` again in ``delay`` s."""

    delivery: ClaimedDelivery
    state: D
    status: int | None
    response: str | None
    error: str | None
    delay: float = 0.0


def settle_deliveries(conn: Connection, outcomes: Sequence[Settled], *,
                      worker_id: str) -> set[int]:
    """Record the attempts of one claim in one statement; returns the ids recorded.

    Conditional on each claim (id, attempt, worker): a claim whose lease ran
    out and was taken again is not this worker's to settle (left out of the
    answer); the newer claim's attempt counts instead.
    """
    if not outcomes:
        return set()
    rows = conn.execute(_SETTLE, {
        "worker_id": worker_id,
        "ids": [o.delivery.id for o in outcomes],
        "attempts": [o.delivery.attempt for o in outcomes],
        "states": [o.state.value for o in outcomes],
        "statuses": [o.status for o in outcomes],
        "responses": [o.response for o in outcomes],
        "errors": [o.error for o in outcomes],
        "delays": [o.delay for o in outcomes]})
    return {r.id for r in rows}


_SUCCEEDED = text(
    "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = :id AND failing_since "
    "IS NOT NULL")

_GONE = text(
    f"""
    UPDATE webhook_endpoints SET enabled = false, disabled_reason = '{DisabledReason.GONE}',
           updated_at = now()
     WHERE id = :id AND enabled
    """)

_FAILED = text(
    f"""
    UPDATE webhook_endpoints
       SET failing_since = coalesce(failing_since, now()),
           enabled = enabled AND coalesce(failing_since, now()) > now() - :give_up,
           disabled_reason = CASE WHEN enabled AND failing_since <= now() - :give_up
                                  THEN '{DisabledReason.FAILING}' ELSE disabled_reason END,
           updated_at = CASE WHEN enabled AND failing_since <= now() - :give_up
                             THEN now() ELSE updated_at END
     WHERE id = :id
    RETURNING enabled
    """)


def endpoint_succeeded(conn: Connection, endpoint_id: int) -> None:
    """A 2xx: the endpoint is not failing (any more)."""
    conn.execute(_SUCCEEDED, {"id": endpoint_id})


def endpoint_gone(conn: Connection, endpoint_id: int) -> bool:
    """A 410: the receiver says the endpoint is gone; disabled at once (True if it was on)."""
    return conn.execute(_GONE, {"id": endpoint_id}).rowcount == 1


def endpoint_failed(conn: Connection, endpoint_id: int,
                    give_up: timedelta = GIVE_UP_AFTER) -> bool:
    """A failed attempt: the endpoint is failing since its first failure after a success;
    after ``give_up`` of that it is disabled (``failing``). Returns whether it is enabled."""
    row = conn.execute(_FAILED, {"id": endpoint_id, "give_up": give_up}).first()
    return bool(row and row.enabled)


# -- what a key reads and asks for -----------------------------------------------------

@dataclass(frozen=True)
class DeliveryRow:
    """One delivery as its key sees it."""

    id: int
    event_id: int
    type: str
    occurred_at: datetime
    state: str
    attempts: int
    last_status: int | None
    last_response: str | None
    last_error: str | None
    due_at: datetime
    delivered_at: datetime | None
    created_at: datetime

    @property
    def next_attempt_at(self) -> datetime | None:
        return self.due_at if self.state == D.PENDING else None


_DELIVERY_COLUMNS = """d.id, d.event_id, e.type, e.occurred_at, d.state, d.attempts,
    d.last_status, d.last_response, d.last_error, d.due_at, d.delivered_at, d.created_at"""

_LIST = text(
    f"""
    SELECT {_DELIVERY_COLUMNS}
      FROM webhook_deliveries d
      JOIN webhook_events e ON e.id = d.event_id
     WHERE d.endpoint_id = :endpoint_id AND d.id < :before
       AND (CAST(:state AS text) IS NULL OR d.state = :state)
     ORDER BY d.id DESC
     LIMIT :limit
    """)


def list_deliveries(conn: Connection, endpoint_id: int, *, before: int, limit: int,
                    state: str | None = None) -> list[DeliveryRow]:
    """An endpoint's deliveries, newest first, below id ``before`` (the caller checked the
    endpoint is its key's)."""
    rows = conn.execute(_LIST, {"endpoint_id": endpoint_id, "before": before, "limit": limit,
                                "state": state})
    return [DeliveryRow(*r) for r in rows]


_RECENT = text(
    f"""
    SELECT r.endpoint_id, {_DELIVERY_COLUMNS.replace('d.', 'r.').replace('e.', 'r.')}
      FROM unnest(CAST(:ids AS bigint[])) AS w(id)
      CROSS JOIN LATERAL (
        SELECT d.endpoint_id, {_DELIVERY_COLUMNS}
          FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
         WHERE d.endpoint_id = w.id ORDER BY d.id DESC LIMIT :per_endpoint) r
     ORDER BY r.endpoint_id, r.id DESC
    """)


def recent_deliveries(conn: Connection, endpoint_ids: Sequence[int], *,
                      per_endpoint: int) -> dict[int, list[DeliveryRow]]:
    """The last ``per_endpoint`` deliveries of each endpoint (the console's key page)."""
    found: dict[int, list[DeliveryRow]] = {i: [] for i in endpoint_ids}
    if endpoint_ids:
        for endpoint_id, *rest in conn.execute(_RECENT, {"ids": list(endpoint_ids),
                                                         "per_endpoint": per_endpoint}):
            found[endpoint_id].append(DeliveryRow(*rest))
    return found


_RETRY = text(
    f"""
    UPDATE webhook_deliveries d
       SET state = '{D.PENDING}', attempts = 0, due_at = now(), lease_until = NULL,
           worker_id = NULL
      FROM webhook_events e
     WHERE d.id = :id AND d.endpoint_id = :endpoint_id AND e.id = d.event_id
       AND d.state <> '{D.DELIVERING}'
    RETURNING {_DELIVERY_COLUMNS}
    """)


def retry_delivery(conn: Connection, endpoint_id: int, delivery_id: int) -> DeliveryRow | None:
    """Make a delivery due now with a fresh schedule (a delivered one is sent again).
    None: no such delivery of this endpoint, or one being delivered right now."""
    row = conn.execute(_RETRY, {"id": delivery_id, "endpoint_id": endpoint_id}).one_or_none()
    return DeliveryRow(*row) if row else None


def delivery_exists(conn: Connection, endpoint_id: int, delivery_id: int) -> bool:
    return conn.execute(text("SELECT 1 FROM webhook_deliveries WHERE id = :id AND "
                             "endpoint_id = :e"), {"id": delivery_id, "e": endpoint_id}
                        ).first() is not None


_REPLAY = text(
    f"""
    INSERT INTO webhook_deliveries (endpoint_id, event_id)
    SELECT w.id, e.id
      FROM webhook_endpoints w
      JOIN webhook_events e ON e.api_key_id = w.api_key_id
     WHERE w.id = :endpoint_id
       AND e.occurred_at >= :start AND e.occurred_at < :end
       AND e.type <> '{OutboundEventType.WEBHOOK_TEST}'
       AND (cardinality(w.event_types) = 0 OR e.type = ANY(w.event_types))
       AND (cardinality(w.topics) = 0 OR e.topic_id = ANY(w.topics))
       AND (CAST(:types AS text[]) IS NULL OR e.type = ANY(:types))
       AND (CAST(:states AS text[]) IS NULL OR EXISTS (
            SELECT 1 FROM webhook_deliveries p
             WHERE p.event_id = e.id AND p.endpoint_id = w.id AND p.state = ANY(:states)))
     ORDER BY e.occurred_at, e.id
     LIMIT :limit
       FOR KEY SHARE OF e
    """).bindparams(bindparam("types", type_=ARRAY(TextType)),
                    bindparam("states", type_=ARRAY(TextType)))


def replay(conn: Connection, endpoint_id: int, *, start: datetime, end: datetime,
           types: Sequence[str] | None, states: Sequence[str] | None, limit: int) -> int:
    """New pending deliveries to this endpoint of its key's stored events in [start, end)
    that it subscribes to (of ``types`` only, and only those whose delivery to it is in
    one of ``states``, when given); returns how many, at most ``limit``. Each goes out
    with its event's ``webhook-id``, so a receiver that had it already sees a duplicate.
    Takes FOR KEY SHARE on those events, so retention (``shared.db.retention``) does not
    delete one under a delivery being queued for it."""
    return conn.execute(_REPLAY, {
        "endpoint_id": endpoint_id, "start": start, "end": end, "limit": limit,
        "types": list(types) if types else None,
        "states": list(states) if states else None}).rowcount


_TEST_EVENT = text(
    f"""
    WITH event AS (
        INSERT INTO webhook_events (api_key_id, type, occurred_at, data)
        VALUES (:api_key_id, '{OutboundEventType.WEBHOOK_TEST}', now(), :data)
        RETURNING id
    )
    INSERT INTO webhook_deliveries (endpoint_id, event_id)
    SELECT :endpoint_id, id FROM event
    RETURNING id, event_id
    """).bindparams(bindparam("data", type_=JSONB))


def webhook_test_delivery(conn: Connection, api_key_id: int, endpoint_id: int,
                  data: dict) -> tuple[int, int]:
    """A ``webhook.test`` event for this one endpoint, due now: (delivery id, event id)."""
    row = conn.execute(_TEST_EVENT, {"api_key_id": api_key_id, "endpoint_id": endpoint_id,
                                     "data": data}).one()
    return row.id, row.event_id


_LAG = text(
    f"""
    SELECT extract(epoch FROM now() - min(
        (SELECT min(d.due_at) FROM webhook_deliveries d
          WHERE d.endpoint_id = w.id AND {_OPEN.format(d="d")})))
      FROM webhook_endpoints w
     WHERE w.enabled
    """)


def delivery_lag(conn: Connection) -> float:
    """Seconds the longest-due delivery of an enabled endpoint has waited (0: none due).
    One probe of the due index per enabled endpoint."""
    return max(0.0, float(conn.execute(_LAG).scalar() or 0.0))
