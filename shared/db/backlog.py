"""How far behind the pipeline is, and what waits for an operator: the oldest row waiting
to be sent (metrics, dashboard) and the ``unknown`` and ``failed`` rows (dashboard)."""

from __future__ import annotations

from sqlalchemy import Connection, Select, func, select, text

from shared.db.tables import messages
from shared.states import MessageState as S
from shared.states import sql_list

#: States whose rows wait for an operator (requeue, or look and give up).
ATTENTION = (S.UNKNOWN, S.FAILED)

OLDEST_QUEUED = (select(func.extract("epoch", func.now() - func.min(messages.c.updated_at)))
                 .where(messages.c.state == S.QUEUED.value))


def oldest_queued_age(conn: Connection) -> float:
    """Seconds since the longest-waiting ``queued`` row was queued (0 when none is).

    Read-only, no locks; the first entry of the partial index
    ``messages_queued_since``, however many rows are queued.
    """
    age = conn.execute(OLDEST_QUEUED).scalar_one()
    return max(0.0, float(age or 0.0))


def attention_statement(api_key_id: int | None = None) -> Select:
    """Rows per attention state, of one key or all: an index-only count of the partial
    index ``messages_attention`` (the literal list is its predicate, which a bind
    parameter could not match), so its cost is the rows waiting, not the table."""
    query = (select(messages.c.state, func.count().label("n"))
             .where(text(f"messages.state IN ({sql_list(set(ATTENTION))})"))
             .group_by(messages.c.state))
    if api_key_id is not None:
        query = query.where(messages.c.api_key_id == api_key_id)
    return query


def attention_counts(conn: Connection, api_key_id: int | None = None) -> dict[str, int]:
    """``{"unknown": n, "failed": n}`` of one key or of every key."""
    counts = dict.fromkeys((s.value for s in ATTENTION), 0)
    counts.update({r.state: r.n for r in conn.execute(attention_statement(api_key_id))})
    return counts
