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


def requeue(
    conn: Connection,
    *,
    state: str,
    topic_id: str | None = None,
    older_than: timedelta | None = None,
    api_key_id: int | None = None,
) -> int:
    """Operator's deliberate resend: rows in ``state`` go back to ``queued``, due now.

    Only ``unknown`` and ``failed`` rows may be requeued: anything else is
    still owned by the pipeline. The scheduler enqueues them on its next tick.
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
             WHERE state = :state
               AND (CAST(:topic_id AS text) IS NULL OR topic_id = :topic_id)
               AND (CAST(:api_key_id AS bigint) IS NULL OR api_key_id = :api_key_id)
               AND (CAST(:older_than AS interval) IS NULL
                    OR updated_at < now() - CAST(:older_than AS interval))
            """
        ),
        {"state": state, "topic_id": topic_id, "api_key_id": api_key_id,
         "older_than": older_than},
    )
    return result.rowcount
