"""Idempotency-Key: a POST retried with the same key is answered once, for 24 hours.

Used by every POST that creates something (``/v1/messages``, ``/v1/campaigns``).
The key is reserved first thing in the request's transaction, so a retry
running at the same time waits for the first request to commit (and is then
given its answer) or to roll back (and then goes on itself). The request's
fingerprint and its answer are stored in that same transaction: a committed
key always comes with both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from shared.db.idempotency import reserve_key, store_result
from shared.errors import Conflict
from shared.i18n import Text

log = logging.getLogger("mailpipe.intake")


@dataclass(frozen=True)
class Idempotency:
    """An Idempotency-Key header, and how to fingerprint the request it came with.

    ``fingerprint`` returns a hash of everything the request sent. It is a
    callable because a streamed upload's hash is known only once the stream
    has been read to its end; for an upload, calling it reads what is left.
    """

    key: str
    fingerprint: Callable[[], str]


def first_answer(conn: Connection, api_key_id: int, idempotency: Idempotency | None) -> Any:
    """Reserve the key for this request, or return the answer stored by its first use.

    None when there is no key, or the key is new (or expired): the caller goes
    on and calls ``remember`` in the same transaction. Raises Conflict when
    the key was first used with another request (another body, or another
    endpoint: each endpoint's fingerprint has its own scope).
    """
    if idempotency is None:
        return None
    first = reserve_key(conn, api_key_id, idempotency.key)
    if first is None:
        return None
    if first["request_hash"] != idempotency.fingerprint():
        raise Conflict("idempotency_key_reused", Text(
            "Idempotency-Key %(key)r was used in the last 24 hours with a different request; "
            "use a new key for a new request", key=idempotency.key))
    log.info("Idempotency-Key %r replayed: nothing created", idempotency.key)
    return first["response"]


def remember(
    conn: Connection, api_key_id: int, idempotency: Idempotency | None, status: int,
    answer: Any,
) -> None:
    """Store the answer (JSON-able) to the request that reserved the key, if it had one."""
    if idempotency is not None:
        store_result(conn, api_key_id, idempotency.key, idempotency.fingerprint(), status,
                     answer)
