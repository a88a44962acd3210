"""Saved recipient lists: stored once, named by any number of campaigns.

A list is written in one transaction (rows de-duplicated by address, first
occurrence wins, as a campaign's grid is); reading it back for a campaign
streams its rows in ``seq`` order through the campaign's own checks, so a
list is only ever an input, never a second set of rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update

from shared.db.tables import recipient_list_rows, recipient_lists
from shared.intake.addresses import NamedAddress

#: Rows inserted per statement while a list is stored.
INSERT_BATCH = 1000


@dataclass(frozen=True)
class RecipientList:
    id: int
    name: str
    columns: list[str]
    total: int
    duplicates: int
    created_at: datetime


def _columns():
    t = recipient_lists.c
    return (t.id, t.name, t.columns, t.total, t.duplicates, t.created_at)


def insert_list(conn: Connection, api_key_id: int, name: str,
                rows: Iterable[tuple[NamedAddress, dict[str, str]]]) -> RecipientList:
    """Store a list and its rows (checked, the address normalized, every row with the same
    value names) in the caller's transaction; the first row's names become the list's
    columns. Later rows for an address already seen are counted as duplicates."""
    list_id = conn.execute(insert(recipient_lists).values(
        api_key_id=api_key_id, name=name, columns=[]).returning(recipient_lists.c.id)
    ).scalar_one()
    columns: list[str] = []
    seen: set[str] = set()
    batch: list[dict] = []
    duplicates = 0
    for recipient, values in rows:
        if recipient.address in seen:
            duplicates += 1
            continue
        if not seen:
            columns = list(values)
        seen.add(recipient.address)
        batch.append({"list_id": list_id, "seq": len(seen), "email": recipient.address,
                      "name": recipient.name, "values": values})
        if len(batch) == INSERT_BATCH:
            conn.execute(insert(recipient_list_rows), batch)
            batch = []
    if batch:
        conn.execute(insert(recipient_list_rows), batch)
    conn.execute(update(recipient_lists).where(recipient_lists.c.id == list_id)
                 .values(columns=columns, total=len(seen), duplicates=duplicates))
    return get_list(conn, api_key_id, list_id)


def get_list(conn: Connection, api_key_id: int, list_id: int) -> RecipientList | None:
    row = conn.execute(select(*_columns()).where(
        recipient_lists.c.id == list_id, recipient_lists.c.api_key_id == api_key_id)
    ).one_or_none()
    return RecipientList(*row) if row else None


def list_lists(conn: Connection, api_key_id: int, *, after: int = 0,
               limit: int = 100) -> list[RecipientList]:
    rows = conn.execute(select(*_columns()).where(
        recipient_lists.c.api_key_id == api_key_id, recipient_lists.c.id > after)
        .order_by(recipient_lists.c.id).limit(limit))
    return [RecipientList(*r) for r in rows]


def list_rows(conn: Connection, list_id: int, *, after: int = 0,
              limit: int | None = None) -> Iterator[tuple[int, NamedAddress, dict[str, str]]]:
    """(seq, recipient, values) in order, streamed from a server-side cursor; the
    recipient is the address with the display name it was given with."""
    t = recipient_list_rows.c
    query = (select(t.seq, t.email, t.name, t["values"])
             .where(t.list_id == list_id, t.seq > after).order_by(t.seq))
    if limit is not None:
        query = query.limit(limit)
    for row in conn.execution_options(yield_per=2000).execute(query):
        yield row.seq, NamedAddress(row.email, row.name), row.values


def delete_list(conn: Connection, api_key_id: int, list_id: int) -> bool:
    """Delete a list and (by cascade) its rows; campaigns made from it keep their own grid."""
    return conn.execute(delete(recipient_lists).where(
        recipient_lists.c.id == list_id, recipient_lists.c.api_key_id == api_key_id)
    ).rowcount == 1
