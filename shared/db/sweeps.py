"""The scheduler's sweeps and the operator's requeue: rows whose owner vanished."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import Connection, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import BigInteger

from shared.db.audit import Actor, record
from shared.db.outbox import complete_campaigns, emit_state_changes
from shared.i18n import N_
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
    RETURNING id, campaign_id
    """
)


def expire_leases(conn: Connection, *, limit: int) -> list[int]:
    """Move ``sending`` rows whose lease ran out to ``unknown``; returns their ids.

    The sender holding them died or hung mid-send, so whether the provider
    accepted the message cannot be known: it is never resent automatically.
    ``attempts`` is kept, so a late outcome from that sender still applies
    (see ``apply_outcomes``). SKIP LOCKED: safe with two schedulers. Each is a
    ``message.unknown`` in the outbox, and may complete its campaign.
    """
    rows = conn.execute(_EXPIRE_LEASES, {"limit": limit}).all()
    emit_state_changes(conn, {r.id: S.UNKNOWN for r in rows})
    complete_campaigns(conn, (r.campaign_id for r in rows))
    return [r.id for r in rows]


#: What requeueing rows of each state risks: said before an operator confirms, by the
#: console (its confirmation) and by ``mailpipe requeue`` (its help, and on stderr).
REQUEUE_RISKS = {
    S.UNKNOWN: N_("An unknown message may already have been delivered: requeueing it can "
                  "send it twice."),
    S.FAILED: N_("A failed message was refused or ran out of attempts: requeueing it tries "
                 "again, with the same content and recipients."),
}

#: At most this many requeued ids are named in the audit log's entry (all are counted).
AUDITED_IDS = 100

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
    ids: Sequence[int] | None = None,
    limit: int | None = None,
    actor: Actor | None = None,
) -> int:
    """Operator's deliberate resend: rows in ``state`` go back to ``queued``, due now.

    Only ``unknown`` and ``failed`` rows may be requeued: anything else is
    still owned by the pipeline; rows whose content retention pruned stay.
    The scheduler enqueues them on its next tick. ``ids`` limits it to those
    rows (the console's selection); at most ``limit`` rows (all when None), so
    a large requeue can run as short transactions. With ``actor``, recorded in
    the audit log as ``messages.requeue`` in the caller's transaction (nothing
    when no row moved). Returns the number of rows requeued.
    """
    if state not in (S.UNKNOWN, S.FAILED):
        raise ValueError("only unknown or failed messages can be requeued")
    statement = text(
        f"""
        UPDATE messages
           SET state = '{S.QUEUED}', due_at = now(), lease_until = NULL,
               error = 'requeued by operator after: ' || COALESCE(error, state),
               updated_at = now()
         WHERE id IN (SELECT m.id FROM messages m {_REQUEUEABLE}
                      {"AND m.id = ANY(:ids)" if ids is not None else ""}
                       ORDER BY m.id LIMIT :limit)
           AND state = :state
        RETURNING id
        """
    )
    params = _requeue_params(state, topic_id, older_than, api_key_id) | {"limit": limit}
    if ids is not None:
        statement = statement.bindparams(bindparam("ids", type_=ARRAY(BigInteger)))
        params["ids"] = list(ids)
    requeued = sorted(conn.execute(statement, params).scalars())
    if requeued and actor is not None:
        record(conn, actor, "messages.requeue",
               _requeue_target(requeued, topic_id, older_than, api_key_id, ids),
               before={"state": state},
               after={"state": S.QUEUED, "count": len(requeued),
                      "ids": requeued[:AUDITED_IDS]})
    return len(requeued)


def _requeue_target(requeued: list[int], topic_id, older_than, api_key_id, ids) -> str:
    """What a requeue was done to, as the audit log names it: the message, or the filter."""
    if ids is not None and len(requeued) == 1:
        return f"message {requeued[0]}"
    if ids is not None:
        return f"{len(requeued)} chosen messages"
    chosen = [f"topic {topic_id}" if topic_id else "", f"key {api_key_id}"
              if api_key_id is not None else "",
              f"unchanged for {older_than}" if older_than is not None else ""]
    return "messages: " + (", ".join(c for c in chosen if c) or "all")


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
