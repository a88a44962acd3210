"""Retention's statements: each prunes one small batch of expired rows and says how many.

Every function takes ``cutoff`` (rows older than it are expired) and
``limit`` (the most rows one statement touches), runs in the caller's
transaction and returns a count. Rows are chosen with ``FOR UPDATE SKIP
LOCKED``: a row another transaction holds (the recorder adopting an orphan,
an intake re-using a blob, a second scheduler pruning) is left for a later
batch, so pruning never waits on the send path and the send path waits on
pruning for at most one small batch.

What stays, so figures stay right (docs/operations.md, "Retention"): message rows with
their state, attempts, provider id, error and timestamps are never deleted;
a pruned event is added to ``event_tallies`` (per message, type, hard
bounce and machine flag) in the statement that deletes it, and topic
figures (``shared.db.stats``, ``shared.db.reads``) count both.

Only finished work is pruned: an event only when its message is final; a
content's parts only when none of its messages is created, queued or
sending and no campaign will still expand into it; an outbound webhook event
(with its deliveries) only when no enabled endpoint still has it to deliver.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import BigInteger, Text

from shared.broker.payloads import EventType
from shared.states import FINAL, PENDING, CampaignStatus, sql_list
from shared.webhooks.events import DUE as WEBHOOK_DUE

#: The campaign status that never expands again.
STOPPED = CampaignStatus.CANCELLED

#: A content may lose its parts: no unsent message needs them (the literal
#: list matches the partial index ``messages_content_pending``, which a
#: bind parameter could not use) and no campaign will expand into it.
_CONTENT_DONE = f"""
        NOT EXISTS (SELECT 1 FROM messages m
                     WHERE m.content_id = c.id AND m.state IN ({sql_list(PENDING)}))
    AND NOT EXISTS (SELECT 1 FROM campaigns k
                     WHERE k.content_id = c.id AND k.status <> :stopped
                       AND k.expanded < k.total)
"""

_PRUNE_EVENTS = text(
    """
    WITH doomed AS (
        SELECT e.id FROM events e JOIN messages m ON m.id = e.message_id
         WHERE e.occurred_at < :cutoff AND m.state = ANY(:final)
         ORDER BY e.occurred_at
         LIMIT :limit
           FOR UPDATE OF e SKIP LOCKED
    ), gone AS (
        DELETE FROM events e USING doomed d WHERE e.id = d.id
        RETURNING e.message_id, e.type,
                  COALESCE(e.type = :bounce AND e.detail = 'hard', false) AS hard, e.machine
    ), tallied AS (
        INSERT INTO event_tallies AS t (message_id, type, hard, machine, n)
        SELECT message_id, type, hard, machine, count(*) FROM gone GROUP BY 1, 2, 3, 4
        ON CONFLICT (message_id, type, hard, machine) DO UPDATE SET n = t.n + EXCLUDED.n
    )
    SELECT count(*) FROM gone
    """
).bindparams(bindparam("final", type_=ARRAY(Text)))


def prune_events(conn: Connection, *, cutoff: datetime, limit: int) -> int:
    """Delete up to ``limit`` events older than ``cutoff`` of final messages, keeping their counts.

    The deleted rows are added to ``event_tallies`` in the same statement, so
    a topic's figures do not change. Locks: the chosen event rows (SKIP
    LOCKED), the tally rows of their messages, and FOR KEY SHARE on those
    messages (the tallies' foreign key), which the recorder's and senders'
    updates of a message's state do not wait for.
    Reads the ``events_occurred`` range, so a batch costs its own rows.
    """
    return conn.execute(
        _PRUNE_EVENTS,
        {"cutoff": cutoff, "limit": limit, "final": sorted(FINAL), "bounce": EventType.BOUNCED},
    ).scalar_one()


_PRUNE_ORPHANS = text(
    """
    DELETE FROM events WHERE id IN (
        SELECT id FROM events
         WHERE message_id IS NULL AND occurred_at < :cutoff
         LIMIT :limit
           FOR UPDATE SKIP LOCKED)
    """
)


def prune_orphan_events(conn: Connection, *, cutoff: datetime, limit: int) -> int:
    """Delete up to ``limit`` orphan events (no message ever claimed them) older than ``cutoff``.

    An orphan waits for the sender's outcome that names its provider id,
    which comes seconds later; one days old never will. Locks the chosen
    rows (SKIP LOCKED: an orphan being adopted right now is left alone).
    Orphans are few and have their own partial index (``events_orphans``).
    """
    return conn.execute(_PRUNE_ORPHANS, {"cutoff": cutoff, "limit": limit}).rowcount


_PRUNE_IDEMPOTENCY = text(
    """
    DELETE FROM idempotency_keys WHERE (api_key_id, key) IN (
        SELECT api_key_id, key FROM idempotency_keys
         WHERE created_at < :cutoff
         ORDER BY created_at
         LIMIT :limit
           FOR UPDATE SKIP LOCKED)
    """
)


def prune_idempotency_keys(conn: Connection, *, cutoff: datetime, limit: int) -> int:
    """Delete up to ``limit`` remembered answers older than ``cutoff`` (at least a day).

    Past 24 hours a key is not replayed any more (``shared.db.idempotency``);
    the rows are only garbage. Locks the chosen rows (SKIP LOCKED).
    """
    return conn.execute(_PRUNE_IDEMPOTENCY, {"cutoff": cutoff, "limit": limit}).rowcount


_LOCK_CONTENTS = text(
    f"""
    SELECT c.id FROM contents c
     WHERE c.pruned_at IS NULL AND c.created_at < :cutoff AND {_CONTENT_DONE}
     ORDER BY c.created_at
     LIMIT :limit
       FOR UPDATE SKIP LOCKED
    """
)

_BLANK_CONTENTS = text(
    f"""
    UPDATE contents c
       SET subject = '', html = '', text = NULL, reply_to = NULL, headers = NULL,
           raw_mime = NULL, pruned_at = now()
     WHERE c.id = ANY(:ids) AND {_CONTENT_DONE}
    RETURNING c.id
    """
).bindparams(bindparam("ids", type_=ARRAY(BigInteger)))

_DROP_LINKS = text(
    "DELETE FROM content_attachments WHERE content_id = ANY(:ids) RETURNING blob_id"
).bindparams(bindparam("ids", type_=ARRAY(BigInteger)))

_DROP_UNLINKED_BLOBS = text(
    """
    DELETE FROM attachment_blobs WHERE id IN (
        SELECT b.id FROM attachment_blobs b
         WHERE b.id = ANY(:ids)
           AND NOT EXISTS (SELECT 1 FROM content_attachments ca WHERE ca.blob_id = b.id)
           FOR UPDATE SKIP LOCKED)
    """
).bindparams(bindparam("ids", type_=ARRAY(BigInteger)))


def prune_contents(conn: Connection, *, cutoff: datetime, limit: int) -> tuple[int, int]:
    """Drop the parts of up to ``limit`` finished contents older than ``cutoff``; (contents, blobs).

    Subject, html, text, reply-to, headers and raw MIME are blanked and ``pruned_at``
    set (the row stays: messages refer to it); its attachment links go, and
    so does every blob no other content links to.

    Two statements, because READ COMMITTED gives each its own snapshot: the
    first locks candidates (SKIP LOCKED), the second re-checks them. An
    operator's ``requeue`` that committed in between is seen by the re-check;
    one that starts later waits on the row lock (it takes FOR SHARE on the
    content) and then sees ``pruned_at`` and leaves the message alone. So a
    message that will be sent again never loses its parts. Blobs are taken
    SKIP LOCKED too: an intake re-using one holds FOR KEY SHARE on it
    (``shared.db.attachments``) and the blob stays.
    """
    ids = [r.id for r in conn.execute(
        _LOCK_CONTENTS, {"cutoff": cutoff, "limit": limit, "stopped": STOPPED})]
    if not ids:
        return 0, 0
    pruned = [r.id for r in conn.execute(_BLANK_CONTENTS, {"ids": ids, "stopped": STOPPED})]
    if not pruned:
        return 0, 0
    blob_ids = sorted({r.blob_id for r in conn.execute(_DROP_LINKS, {"ids": pruned})})
    blobs = conn.execute(_DROP_UNLINKED_BLOBS, {"ids": blob_ids}).rowcount if blob_ids else 0
    return len(pruned), blobs


_PRUNE_RECIPIENTS = text(
    """
    WITH done AS (
        SELECT k.id FROM campaigns k
         WHERE (k.expanded >= k.total OR k.status = :stopped) AND k.created_at < :cutoff
           AND EXISTS (SELECT 1 FROM campaign_recipients r WHERE r.campaign_id = k.id)
         ORDER BY k.id
         LIMIT 1
    ), doomed AS (
        SELECT r.campaign_id, r.seq FROM campaign_recipients r JOIN done ON done.id = r.campaign_id
         ORDER BY r.seq
         LIMIT :limit
           FOR UPDATE OF r SKIP LOCKED
    )
    DELETE FROM campaign_recipients r USING doomed d
     WHERE r.campaign_id = d.campaign_id AND r.seq = d.seq
    """
)


def prune_campaign_recipients(conn: Connection, *, cutoff: datetime, limit: int) -> int:
    """Delete up to ``limit`` recipient rows of one campaign created before ``cutoff`` and done.

    Done: fully expanded (every recipient has its message row, which keeps
    the address) or cancelled (never expanded further). The campaign's
    ``total`` and ``expanded`` stay, so its progress reads the same. Locks
    the chosen rows (SKIP LOCKED); the campaign row is only read.
    """
    return conn.execute(
        _PRUNE_RECIPIENTS, {"cutoff": cutoff, "limit": limit, "stopped": STOPPED}).rowcount


# --- outbound webhooks ------------------------------------------------------------------

#: An event still to be delivered somewhere: a delivery pending or delivering to an
#: endpoint that is enabled. A disabled endpoint's undelivered events do not hold theirs.
_STILL_DUE = f"""
    EXISTS (SELECT 1 FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id
             WHERE d.event_id = e.id AND d.state IN ({sql_list(WEBHOOK_DUE)}) AND w.enabled)
"""

#: Per API key (keys are never deleted), its oldest events first, through the index
#: ``webhook_events_key_occurred``: a batch reads expired events and the few old ones
#: still held (a replay being delivered), never the young ones.
_LOCK_WEBHOOK_EVENTS = text(
    f"""
    SELECT e.id FROM webhook_events e
     WHERE e.id IN (
        SELECT o.id FROM api_keys k
         CROSS JOIN LATERAL (
            SELECT e.id FROM webhook_events e
             WHERE e.api_key_id = k.id AND e.occurred_at < :cutoff AND NOT {_STILL_DUE}
             ORDER BY e.occurred_at
             LIMIT :limit) o
         LIMIT :limit)
       FOR UPDATE SKIP LOCKED
    """
)

_DROP_WEBHOOK_EVENTS = text(
    f"""
    WITH gone AS (
        DELETE FROM webhook_events e WHERE e.id = ANY(:ids) AND NOT {_STILL_DUE}
        RETURNING e.id
    ), deliveries AS (
        DELETE FROM webhook_deliveries d USING gone WHERE d.event_id = gone.id
        RETURNING d.state IN ({sql_list(WEBHOOK_DUE)}) AS undelivered
    )
    SELECT (SELECT count(*) FROM gone), count(*), count(*) FILTER (WHERE undelivered)
      FROM deliveries
    """
).bindparams(bindparam("ids", type_=ARRAY(BigInteger)))


def prune_webhook_events(conn: Connection, *, cutoff: datetime,
                         limit: int) -> tuple[int, int, int]:
    """Delete up to ``limit`` outbound events older than ``cutoff`` with their deliveries;
    (events, deliveries, undelivered deliveries among them).

    An event goes when no enabled endpoint still has its delivery pending or
    delivering, and takes every delivery of it along (delivered or failed, and
    the undelivered ones of disabled endpoints: past the period a re-enabled
    endpoint gets only younger events). A delivery is kept as long as its
    event, so none ever names an event that is gone (the claim, a retry and
    the deliveries list join the event).

    Two statements, as ``prune_contents``: the first locks candidates (SKIP
    LOCKED), the second re-checks them with a fresh snapshot and deletes. A
    replay takes FOR KEY SHARE on the events it queues
    (``shared.db.webhook_deliveries.replay``): one under way keeps its events
    out of this batch; one that committed in between is seen by the re-check;
    one that starts later waits for this commit and skips the events gone. The
    recorder's outbox only writes new events, which are never expired.
    """
    ids = [r.id for r in conn.execute(_LOCK_WEBHOOK_EVENTS, {"cutoff": cutoff, "limit": limit})]
    if not ids:
        return 0, 0, 0
    events, deliveries, undelivered = conn.execute(_DROP_WEBHOOK_EVENTS, {"ids": ids}).one()
    return events, deliveries, undelivered
