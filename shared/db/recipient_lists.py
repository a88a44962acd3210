"""Saved recipient lists: stored once, named by any number of campaigns, edited as a grid.

One store for ``/v1/lists`` and the console's recipient grids (migration
0016 merged the grids in): a list made in either place is read, edited and
sent from in the other.

A list is written in one transaction (rows de-duplicated by address, first
occurrence wins, as a campaign's grid is); reading it back for a campaign
streams its rows in ``seq`` order through the campaign's own checks, so a
list is only ever an input, never a second set of rules. A campaign copies
the rows it is made from (``campaign_recipients``), so replacing a list's
rows later changes no campaign already made from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select, update

from shared.db.tables import recipient_list_rows, recipient_lists
from shared.intake.addresses import NamedAddress

#: Rows inserted per statement while a list is stored.
INSERT_BATCH = 1000


@dataclass(frozen=True)
class RecipientList:
    id: int
    name: str
    #: The value columns besides ``email``.
    columns: list[str]
    total: int
    duplicates: int
    #: The template the console's grid takes its columns from; None for none.
    template_id: int | None
    created_at: datetime
    #: When the rows were last saved.
    updated_at: datetime


def _columns():
    t = recipient_lists.c
    return (t.id, t.name, t.columns, t.total, t.duplicates, t.template_id, t.created_at,
            t.updated_at)


def insert_list(conn: Connection, api_key_id: int, name: str,
                rows: Iterable[tuple[NamedAddress, dict[str, str]]], *,
                template_id: int | None = None) -> RecipientList:
    """Store a list and its rows (checked, the address normalized, every row with the same
    value names) in the caller's transaction; the first row's names become the list's
    columns. Later rows for an address already seen are counted as duplicates."""
    list_id = conn.execute(insert(recipient_lists).values(
        api_key_id=api_key_id, name=name, columns=[], template_id=template_id)
        .returning(recipient_lists.c.id)).scalar_one()
    _write_rows(conn, list_id, rows)
    return get_list(conn, api_key_id, list_id)


def rewrite_list(conn: Connection, api_key_id: int, list_id: int, name: str,
                 rows: Iterable[tuple[NamedAddress, dict[str, str]]], *,
                 template_id: int | None = None) -> RecipientList | None:
    """Give the key's list ``list_id`` a new name, template and rows (as ``insert_list``
    stores them, numbered from 1 again), in the caller's transaction; None: no such list.

    The list's row is updated first, which locks it until the transaction ends:
    a second save of the same list waits, then deletes the rows this one wrote
    (last save wins), instead of colliding with them on ``(list_id, seq)``.
    A campaign being made from the list at the same time reads its rows in one
    statement, so it gets the old rows or the new ones, never a mix.
    """
    found = conn.execute(
        update(recipient_lists)
        .where(recipient_lists.c.id == list_id, recipient_lists.c.api_key_id == api_key_id)
        .values(name=name, template_id=template_id, updated_at=func.now())
        .returning(recipient_lists.c.id)).one_or_none()
    if found is None:
        return None
    conn.execute(delete(recipient_list_rows).where(recipient_list_rows.c.list_id == list_id))
    _write_rows(conn, list_id, rows)
    return get_list(conn, api_key_id, list_id)


def _write_rows(conn: Connection, list_id: int,
                rows: Iterable[tuple[NamedAddress, dict[str, str]]]) -> None:
    """Insert the rows of an empty list as ``seq`` 1..n and set its columns and counts."""
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


def get_list(conn: Connection, api_key_id: int, list_id: int) -> RecipientList | None:
    row = conn.execute(select(*_columns()).where(
        recipient_lists.c.id == list_id, recipient_lists.c.api_key_id == api_key_id)
    ).one_or_none()
    return RecipientList(*row) if row else None


def list_lists(conn: Connection, api_key_id: int, *, after: int = 0,
               limit: int = 100) -> list[RecipientList]:
    """The key's lists by id, a page after ``after`` (``GET /v1/lists``)."""
    rows = conn.execute(select(*_columns()).where(
        recipient_lists.c.api_key_id == api_key_id, recipient_lists.c.id > after)
        .order_by(recipient_lists.c.id).limit(limit))
    return [RecipientList(*r) for r in rows]


def recent_lists(conn: Connection, api_key_id: int, limit: int = 200) -> list[RecipientList]:
    """The key's ``limit`` lists saved last, newest first (the console's choices)."""
    t = recipient_lists.c
    rows = conn.execute(select(*_columns()).where(t.api_key_id == api_key_id)
                        .order_by(t.updated_at.desc(), t.id.desc()).limit(limit))
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
