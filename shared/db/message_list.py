"""The console's list of messages: every door's, newest first, filtered, a page at a time.

Filters (``MessageFilter``): state, topic, API key, source, recipient (as typed,
read as shared.db.message_search reads it: an address, ``@domain``, a domain
or the start of an address) and a window of when the message was stored.
Pages are keyset (``before``: the last id shown), never OFFSET: the thousandth
page costs what the first does.

Newest first is by id. Which index answers (migrations 0015 and 0019):

- no filter: the primary key, backward;
- a state: ``messages_state_id (state, id)``: the newest ``unknown`` or
  ``failed`` rows, however few and however old;
- a topic: ``messages_topic_id (topic_id, id)``;
- a recipient: the search's own arms (``message_search.recipient_arms``), one
  per way of matching for each key (every key's when none is chosen), each
  carrying the other filters;
- a time window: ``messages_created_id (created_at, id)`` gives the ids at
  its ends (``_window``: two short probes), and the window is then an id
  range of whichever index above answers. Ids grow as rows are stored, but a
  row's ``created_at`` is its transaction's start: each probe reads
  ``WINDOW_PROBE`` rows past its end, so the rows of transactions that
  straddle it stay in the range; the exact test on ``created_at`` stays, so
  nothing outside the window is listed.

Plain reads, no locks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, Select, false, func, select, union

from shared.db.message_search import read_query, recipient_arms
from shared.db.tables import api_keys, contents, messages

#: Rows a page shows.
PAGE_SIZE = 50
#: Rows each probe of a time window reads past its end (see the module's docstring).
WINDOW_PROBE = 1000


@dataclass(frozen=True)
class MessageFilter:
    """What the list is narrowed to; a field left None (or "") does not narrow it."""

    state: str | None = None
    topic_id: str | None = None
    api_key_id: int | None = None
    source: str | None = None
    #: As typed in the recipient box (``message_search.read_query``).
    recipient: str = ""
    #: Stored at or after ``since``, and before ``until``.
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class ListedMessage:
    id: int
    api_key_id: int
    key_name: str
    source: str
    topic_id: str
    from_addr: str
    to_addr: str
    to_name: str | None
    #: Further To, Cc and Bcc beyond ``to_addr`` (the compat APIs' envelopes).
    others: int
    subject: str
    state: str
    error: str | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True)
class MessagePage:
    messages: list[ListedMessage]
    #: ``before`` for the next page; None when this one is the last.
    next_before: int | None


def list_messages(conn: Connection, wanted: MessageFilter, *, before: int | None = None,
                  limit: int = PAGE_SIZE) -> MessagePage:
    """The newest ``limit`` messages ``wanted`` finds with ids below ``before``.

    Two statements after the window's probes: the page's ids (one more than
    shown, which only says whether a next page exists), then those rows with
    their subject and key's name.
    """
    ids = matching_ids(conn, wanted, before=before, limit=limit + 1)
    shown = ids[:limit]
    return MessagePage(_rows(conn, shown), shown[-1] if len(ids) > limit else None)


def matching_ids(conn: Connection, wanted: MessageFilter, *, before: int | None = None,
                 upto: int | None = None, limit: int | None = None) -> list[int]:
    """The ids of the newest ``limit`` (all when None) messages ``wanted`` finds, below
    ``before`` and at most ``upto``, newest first."""
    statement = _ids(conn, wanted, before, upto, limit)
    return [] if statement is None else list(conn.execute(statement).scalars())


def count_matching(conn: Connection, wanted: MessageFilter, *, upto: int | None = None) -> int:
    """How many messages ``wanted`` finds (at most ``upto``), read from the same indexes."""
    statement = _ids(conn, wanted, None, upto, None)
    if statement is None:
        return 0
    return conn.execute(select(func.count()).select_from(statement.subquery())).scalar_one()


def _ids(conn: Connection, wanted: MessageFilter, before: int | None, upto: int | None,
         limit: int | None) -> Select | None:
    """The statement of ``matching_ids``; None when the time window holds no message."""
    window = _window(conn, wanted.since, wanted.until)
    if window is None:
        return None
    lowest, highest = window
    if upto is not None:
        highest = upto if highest is None else min(highest, upto)
    where = _conditions(wanted, lowest, highest, before)
    m = messages.c
    query = read_query(wanted.recipient)
    if query.text:
        keys = ([wanted.api_key_id] if wanted.api_key_id is not None
                else list(conn.execute(select(api_keys.c.id)).scalars()))
        arms = [arm for key_id in keys
                for arm in recipient_arms(key_id, query, limit, topic_id=wanted.topic_id,
                                          where=where, columns=("id",))]
        if not arms:
            return select(m.id).where(false())
        merged = union(*arms).subquery()
        return select(merged.c.id).order_by(merged.c.id.desc()).limit(limit)
    if wanted.topic_id:
        where.append(m.topic_id == wanted.topic_id)
    if wanted.api_key_id is not None:
        where.append(m.api_key_id == wanted.api_key_id)
    return select(m.id).where(*where).order_by(m.id.desc()).limit(limit)


def _conditions(wanted: MessageFilter, lowest: int | None, highest: int | None,
                before: int | None) -> list[ColumnElement[bool]]:
    """What every arm tests besides recipient, topic and key (the search's own)."""
    m = messages.c
    where: list[ColumnElement[bool]] = []
    if wanted.state:
        where.append(m.state == wanted.state)
    if wanted.source:
        where.append(m.source == wanted.source)
    if wanted.since is not None:
        where.append(m.created_at >= wanted.since)
    if wanted.until is not None:
        where.append(m.created_at < wanted.until)
    if lowest is not None:
        where.append(m.id >= lowest)
    if highest is not None:
        where.append(m.id <= highest)
    if before is not None:
        where.append(m.id < before)
    return where


def _window(conn: Connection, since: datetime | None,
            until: datetime | None) -> tuple[int | None, int | None] | None:
    """(lowest, highest) id a message stored in [since, until) can have (None: unbounded);
    None when no message is in the window. Each end is one probe of messages_created_id."""
    m = messages.c
    lowest = highest = None
    if since is not None:
        first = (select(m.id).where(m.created_at >= since)
                 .order_by(m.created_at, m.id).limit(WINDOW_PROBE).subquery())
        lowest = conn.execute(select(func.min(first.c.id))).scalar_one()
        if lowest is None:
            return None
    if until is not None:
        last = (select(m.id).where(m.created_at < until)
                .order_by(m.created_at.desc(), m.id.desc()).limit(WINDOW_PROBE).subquery())
        highest = conn.execute(select(func.max(last.c.id))).scalar_one()
        if highest is None:
            return None
    return lowest, highest


def _rows(conn: Connection, ids: Sequence[int]) -> list[ListedMessage]:
    if not ids:
        return []
    m, c, k = messages.c, contents.c, api_keys.c
    others = (func.cardinality(m.extra_to_addrs) + func.cardinality(m.cc_addrs)
              + func.cardinality(m.bcc_addrs))
    rows = conn.execute(
        select(m.id, m.api_key_id, k.name.label("key_name"), m.source, m.topic_id, m.from_addr,
               m.to_addr, m.to_name, others.label("others"), c.subject, m.state, m.error,
               m.created_at, m.sent_at)
        .select_from(messages.join(contents, c.id == m.content_id)
                     .join(api_keys, k.id == m.api_key_id))
        .where(m.id.in_(ids)).order_by(m.id.desc()))
    return [ListedMessage(**row._mapping) for row in rows]
