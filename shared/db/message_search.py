"""Finding a key's messages by what a person types: an address, a domain, a prefix, an id.

How a query reads (``read_query``), after trimming spaces, always case-insensitively:

- ``hong@example.com`` (something before the last ``@``, a dotted domain after
  it): that recipient exactly;
- ``@example.com``: every recipient at that domain;
- ``example.com`` (no ``@``, a dot, no spaces): every recipient at that domain,
  and also addresses that begin so (``hong.gildong`` reads the same way and must
  find ``hong.gildong@…``);
- anything else (``hong``, ``hong@exa``): addresses that begin with it, the
  LIKE wildcards ``%``, ``_`` and ``\\`` taken literally.

A domain matches as a whole: ``example.com`` does not find ``a@mail.example.com``
(search ``mail.example.com`` for those), nor ``a@myexample.com``. Whatever the
query, a message whose provider message id is the query, and the message whose
id it is (digits), are found too.

Each way of matching is one arm that reads its own index, newest first, and
stops after ``limit + 1`` rows; the arms are merged and cut to ``limit``, the
extra row saying only that more match (no count of all matches, which on a
common domain would read every one of them). The indexes (migration 0015,
declared in ``shared/db/tables/mail.py``):

- ``messages_recipient_prefix (api_key_id, lower(to_addr) text_pattern_ops, id)``:
  a prefix is a range of it whatever the database's collation; an exact
  address is one key, its messages in id order;
- ``messages_recipient_domain (api_key_id, lower(split_part(to_addr, '@', -1)), id)``:
  a domain's messages in id order, so the newest ``limit`` are read from the end
  of the range however many there are;
- ``messages_provider_id`` and the primary key for the ids.

Plain reads, no locks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import ColumnElement, Connection, Select, func, literal, select, union

from shared.db.tables import messages

#: Rows a search shows at most.
PAGE_SIZE = 100

#: Ids are BIGINT: longer digit strings are never one.
_MAX_ID_DIGITS = 18

_COLUMNS = ("id", "topic_id", "to_addr", "state", "provider_message_id", "sent_at",
            "created_at")


class Match(StrEnum):
    """How the query's text is matched against recipient addresses."""

    ADDRESS = "address"
    DOMAIN = "domain"
    #: A bare ``name.tld``: a domain, or the start of an address.
    DOMAIN_OR_PREFIX = "domain_or_prefix"
    PREFIX = "prefix"


@dataclass(frozen=True)
class Query:
    """A search as read from what was typed: the text to match (trimmed) and how."""

    text: str
    match: Match


@dataclass(frozen=True)
class Found:
    """The newest matching messages (dicts of ``_COLUMNS``), and whether more match."""

    messages: list[dict]
    more: bool


def read_query(typed: str) -> Query:
    """How ``typed`` is searched for (see the module's docstring)."""
    text = typed.strip()
    local, at, domain = text.rpartition("@")
    if at and not local and domain:
        return Query(domain, Match.DOMAIN)
    if at and local and _is_domain(domain):
        return Query(text, Match.ADDRESS)
    if not at and _is_domain(text):
        return Query(text, Match.DOMAIN_OR_PREFIX)
    return Query(text, Match.PREFIX)


def _is_domain(text: str) -> bool:
    labels = text.split(".")
    return len(labels) > 1 and all(labels) and not any(c.isspace() for c in text)


def _like_prefix(text: str) -> str:
    """A LIKE pattern for values beginning with ``text``, its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def search_messages(conn: Connection, api_key_id: int, typed: str,
                    topic_id: str | None = None, limit: int = PAGE_SIZE) -> Found:
    """The key's messages ``typed`` finds (optionally in one topic), newest first.

    One statement: a UNION of index reads each limited to ``limit + 1``
    rows (see the module's docstring). Plain read, no locks.
    """
    query = read_query(typed)
    if not query.text:
        return Found([], False)
    rows = conn.execute(search_statement(api_key_id, query, topic_id, limit + 1)).all()
    return Found([r._asdict() for r in rows[:limit]], len(rows) > limit)


def search_statement(api_key_id: int, query: Query, topic_id: str | None,
                     limit: int) -> Select:
    """The newest ``limit`` messages ``query`` finds: what ``search_messages`` runs
    (asking one row more than it shows), apart so its plan can be read."""
    merged = union(*recipient_arms(api_key_id, query, limit, topic_id=topic_id)).subquery()
    return select(merged).order_by(merged.c.id.desc()).limit(limit)


def recipient_arms(api_key_id: int, query: Query, limit: int, *, topic_id: str | None = None,
                   where: Sequence[ColumnElement[bool]] = (),
                   columns: Sequence[str] = _COLUMNS) -> list[Select]:
    """One select per way ``query`` matches, each the key's newest ``limit`` matches (in
    ``topic_id``, meeting ``where``) read from its own index, newest first: the arms
    ``search_statement`` merges, and the console's message list merges with its own
    filters (shared.db.message_list)."""
    return [_arm(api_key_id, topic_id, condition, limit, where, columns)
            for condition in _conditions(query)]


def _conditions(query: Query) -> list[ColumnElement[bool]]:
    """One condition per index the query reads."""
    m = messages.c
    address = func.lower(m.to_addr)
    # lower() of the parameter in SQL, not str.lower() here: both sides are
    # folded by the same function, which is the one the indexes were built with.
    wanted = literal(query.text)
    conditions = [m.provider_message_id == query.text]
    # isascii(): isdigit() also says yes to '²' (int() refuses it) and '١' (int() reads 1).
    if query.text.isascii() and query.text.isdigit() and len(query.text) <= _MAX_ID_DIGITS:
        conditions.append(m.id == int(query.text))
    if query.match is Match.ADDRESS:
        conditions.append(address == func.lower(wanted))
    if query.match in (Match.DOMAIN, Match.DOMAIN_OR_PREFIX):
        conditions.append(func.lower(func.split_part(m.to_addr, "@", -1)) == func.lower(wanted))
    if query.match in (Match.PREFIX, Match.DOMAIN_OR_PREFIX):
        # LIKE's escape character is the backslash unless told otherwise.
        conditions.append(address.like(func.lower(literal(_like_prefix(query.text)))))
    return conditions


def _arm(api_key_id: int, topic_id: str | None, condition: ColumnElement[bool],
         limit: int, where: Sequence[ColumnElement[bool]], columns: Sequence[str]) -> Select:
    m = messages.c
    arm = select(*(m[name] for name in columns)).where(m.api_key_id == api_key_id, condition,
                                                       *where)
    if topic_id:
        arm = arm.where(m.topic_id == topic_id)
    return arm.order_by(m.id.desc()).limit(limit)
