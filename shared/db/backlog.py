"""How far behind the pipeline is, for the metrics scrape: the oldest row waiting to be sent."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from shared.db.tables import messages
from shared.states import MessageState as S


def oldest_queued_age(conn: Connection) -> float:
    """Seconds since the longest-waiting ``queued`` row was queued (0 when none is).

    Read-only, no locks; the ``messages_due`` partial index holds only
    unclaimed rows, so the sent history is never read.
    """
    age = conn.execute(
        select(func.extract("epoch", func.now() - func.min(messages.c.updated_at)))
        .where(messages.c.state == S.QUEUED.value)
    ).scalar_one()
    return max(0.0, float(age or 0.0))
