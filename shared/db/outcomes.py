"""The recorder's writes: outcomes of send attempts, applied in batches."""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import BigInteger, Float, Integer, Text

from shared.broker.payloads import Outcome, OutcomeKind
from shared.db.outbox import complete_campaigns, emit_state_changes
from shared.db.traffic import count_outcomes
from shared.states import BY_ID_STATE, sql_list
from shared.states import MessageState as S

_APPLY_OUTCOMES = text(
    f"""
    WITH o AS (
        SELECT * FROM unnest(:ids, :attempts, :kinds, :provider_ids, :errors, :delays, :ats)
                   AS o(id, attempt, kind, provider_id, error, delay, at)
    )
    UPDATE messages m
       SET state = CASE
                     WHEN o.kind = '{OutcomeKind.RETRY}' AND m.attempts >= :max_attempts
                       THEN '{S.FAILED}'
                     WHEN o.kind = '{OutcomeKind.RETRY}' THEN '{S.QUEUED}'
                     ELSE o.kind
                   END,
           provider_message_id = COALESCE(o.provider_id, m.provider_message_id),
           error = CASE
                     WHEN o.kind = '{OutcomeKind.RETRY}' AND m.attempts >= :max_attempts
                       THEN 'gave up after ' || m.attempts || ' attempts: ' || o.error
                     ELSE o.error
                   END,
           sent_at = CASE WHEN o.kind = '{OutcomeKind.SENT}' THEN to_timestamp(o.at)
                          ELSE m.sent_at END,
           due_at = CASE WHEN o.kind = '{OutcomeKind.RETRY}'
                           THEN now() + make_interval(secs => o.delay)
                         ELSE m.due_at END,
           lease_until = NULL,
           updated_at = now()
      FROM o
     WHERE m.id = o.id
       AND m.attempts = o.attempt
       AND m.{BY_ID_STATE} IN ({sql_list({S.SENDING, S.UNKNOWN})})
       -- Unknown already (the lease sweep was first, or this batch is a replay): no change.
       AND NOT (o.kind = '{OutcomeKind.UNKNOWN}' AND m.{BY_ID_STATE} = '{S.UNKNOWN}')
    RETURNING m.id, m.state, m.api_key_id, m.topic_id, m.sent_at, m.updated_at, m.campaign_id
    """
).bindparams(
    bindparam("ids", type_=ARRAY(BigInteger)),
    bindparam("attempts", type_=ARRAY(Integer)),
    bindparam("kinds", type_=ARRAY(Text)),
    bindparam("provider_ids", type_=ARRAY(Text)),
    bindparam("errors", type_=ARRAY(Text)),
    bindparam("delays", type_=ARRAY(Float)),
    bindparam("ats", type_=ARRAY(Float)),
)

def apply_outcomes(
    conn: Connection, outcomes: tuple[Outcome, ...], *, max_attempts: int,
    sent: list | None = None,
) -> dict[int, str]:
    """Apply a batch of outcomes in one statement; returns {id: new state} of rows changed.

    Conditional on the row still being in the claim the outcome belongs to
    (same ``attempts``, state ``sending``, or ``unknown`` if its lease ran out
    first, since a late answer is still the truth, unless it is ``unknown`` too), so a
    batch applied twice, or a stale one, changes nothing. A ``retry`` goes back to ``queued`` with
    its backoff as ``due_at``, or ends ``failed`` once attempts are spent.
    Row locks are taken in id order to avoid deadlocks between batches. What was sent
    or failed is counted in the dashboard's rollups (``shared.db.traffic``), and is a
    ``message.sent``, ``.failed`` or ``.unknown`` in the outbox (``shared.db.outbox``),
    with ``campaign.completed`` for a campaign whose last message this was. ``sent``,
    when given, gets (api_key_id, topic_id, campaign_id) of each row now ``sent``: the
    reputation guard counts them without reading the rows again (shared.guard).
    """
    ordered = sorted(outcomes, key=lambda o: o.message_id)
    if not ordered:
        return {}
    rows = conn.execute(
        _APPLY_OUTCOMES,
        {
            "ids": [o.message_id for o in ordered],
            "attempts": [o.attempt for o in ordered],
            "kinds": [o.kind.value for o in ordered],
            "provider_ids": [o.provider_message_id for o in ordered],
            "errors": [o.error for o in ordered],
            "delays": [o.retry_after for o in ordered],
            "ats": [o.at for o in ordered],
            "max_attempts": max_attempts,
        },
    )
    rows = rows.all()
    count_outcomes(conn, (row[:6] for row in rows))
    if sent is not None:
        sent.extend((row[2], row[3], row[6]) for row in rows if row[1] == S.SENT)
    changed = {row[0]: row[1] for row in rows}  # by index: a Row's attribute access is slow
    emit_state_changes(conn, changed, at={row[0]: row[4] for row in rows if row[1] == S.SENT})
    complete_campaigns(conn, (row[6] for row in rows if row[1] != S.QUEUED))
    return changed
