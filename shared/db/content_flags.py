"""Per-content tracking and bulk flags for claimed messages (what rendering needs)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from sqlalchemy import Connection, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import BigInteger

if TYPE_CHECKING:
    from shared.db.messages import ClaimedMessage

_FLAGS = text(
    """
    SELECT m.id, c.tracking, c.bulk
      FROM messages m JOIN contents c ON c.id = m.content_id
     WHERE m.id = ANY(:ids)
    """
).bindparams(bindparam("ids", type_=ARRAY(BigInteger)))


def with_content_flags(conn: Connection, claimed: list[ClaimedMessage]) -> list[ClaimedMessage]:
    """``claimed`` with ``tracking`` and ``bulk`` set from each message's content.

    A plain read in the claim's transaction (the rows are already locked by
    the claim); one statement for the whole batch.
    """
    if not claimed:
        return claimed
    flags = {r.id: (r.tracking, r.bulk)
             for r in conn.execute(_FLAGS, {"ids": [m.id for m in claimed]})}
    return [replace(m, tracking=flags[m.id][0], bulk=flags[m.id][1]) if m.id in flags else m
            for m in claimed]
