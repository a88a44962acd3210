"""SES's feedback as stored: the newest event that reached mailpipe through SNS.

Events from SNS are the rows with an SNS MessageId (``events.sns_message_id``);
tracking hits (opens, clicks, unsubscribes) have none. Ids grow in the order
the recorder stored the rows, so the highest id is the latest arrival.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text


@dataclass(frozen=True)
class SnsArrival:
    """The newest stored event from SNS: its type and the moment SES gives it."""

    type: str
    occurred_at: datetime


#: The statement ``newest_sns_event`` runs (its test reads its plan).
NEWEST = text(
    """
    SELECT type, occurred_at FROM events
     WHERE sns_message_id IS NOT NULL
     ORDER BY id DESC
     LIMIT 1
    """
)


def newest_sns_event(conn: Connection) -> SnsArrival | None:
    """The event SNS delivered last, or None when none ever was (or retention pruned all).

    One step down the partial index ``events_from_sns``; no locks.
    """
    row = conn.execute(NEWEST).one_or_none()
    return SnsArrival(row.type, row.occurred_at) if row else None
