"""The scheduler's sweeps and the operator's requeue: rows whose owner vanished."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Connection, text

from shared.states import MessageState as S

_EXPIRE_LEASES = text(
    f"""
    UPDATE messages
       SET state = '{S.UNKNOWN}',
           error = 'lease expired while sending (worker ' || COALESCE(worker_id, '?')
                   || '): SES may or may not have accepted it; not resent automatically',
           updated_at = now()
     WHERE id IN (SELECT id FROM messages
                   WHERE state = '{S.SENDING}' AND lease_until < now()
                   ORDER BY lease_until
                   LIMIT :limit
                   FOR UPDATE SKIP LOCKED)
    RETURNING id
    """
)


def expire_leases(conn: Connection, *, limit: int) -> list[int]:
    """Move ``sending`` rows whose lease ran out to ``unknown``; returns their ids.

    The sender holding them died or hung mid-send, so whether the provider
    accepted the message cannot be known: it is never resent automatically.
    ``attempts`` is kept, so a late outcome from that sender still applies
    (see ``apply_outcomes``). SKIP LOCKED: safe with two schedulers.
    """
    return [r.id for r in conn.execute(_EXPIRE_LEASES, {"limit": limit})]


#: The rows an operator's requeue may take (see ``requeue``).
_REQUEUEABLE = """
     WHERE m.state = :state
       -- Not when retention dropped its parts (FOR SHARE: see
       -- shared.db.retention.prune_contents).
       AND EXISTS (SELECT 1 FROM contents c WHERE c.id = m.content_id
                      AND c.pruned_at IS NULL FOR SHARE OF c)
       AND (CAST(:topic_id AS text) IS NULL OR m.topic_id = :topic_id)
       AND (CAST(:api_key_id AS bigint) IS NULL OR m.api_key_id = :api_key_id)
       AND (CAST(:older_than AS interval) IS NULL
            OR m.updated_at < now() - CAST(:older_than AS interval))
"""


def requeue(
    conn: Connection,
    *,
    state: str,
    topic_id: str | None = None,
    older_than: timedelta | None = None,
    api_key_id: int | None = None,
    limit: int | None = None,
) -> int:
    """Operator's deliberate resend: rows in ``state`` go back to ``queued``, due now.

    Only ``unknown`` and ``failed`` rows may be requeued: anything else is
    still owned by the pipeline; rows whose content retention pruned stay.
    The scheduler enqueues them on its next tick. At most ``limit`` rows
    (all when None), so a large requeue can run as short transactions.
    Returns the number of rows requeued.
    """
    if state not in (S.UNKNOWN, S.FAILED):
        raise ValueError("only unknown or failed messages can be requeued")
    result = conn.execute(
        text(
            f"""
            UPDATE messages
               SET state = '{S.QUEUED}', due_at = now(), lease_until = NULL,
                   error = 'requeued by operator after: ' || COALESCE(error, state),
                   updated_at = now()
             WHERE id IN (SELECT m.id FROM messages m {_REQUEUEABLE}
                           ORDER BY m.id LIMIT :limit)
               AND state = :state
            """
        ),
        _requeue_params(state, topic_id, older_than, api_key_id) | {"limit": limit},
    )
    return result.rowcount


def count_requeueable(
    conn: Connection,
    *,
    state: str,
    topic_id: str | None = None,
    older_than: timedelta | None = None,
    api_key_id: int | None = None,
) -> int:
    """How many rows ``requeue`` with the same filters would take (for progress)."""
    return conn.execute(
        text(f"SELECT count(*) FROM messages m {_REQUEUEABLE}".replace("FOR SHARE OF c", "")),
        _requeue_params(state, topic_id, older_than, api_key_id),
    ).scalar_one()


def _requeue_params(state, topic_id, older_than, api_key_id) -> dict:
    return {"state": state, "topic_id": topic_id, "api_key_id": api_key_id,
            "older_than": older_than}
