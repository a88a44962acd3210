"""The rules every intake path applies, written once: native API, compat APIs, campaigns
(and SMTP intake): who may send, one copy per address, and enqueue after the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from dramatiq.brokers.redis import RedisBroker
from redis.exceptions import RedisError
from sqlalchemy import Connection, Engine

from shared.broker.queues import enqueue_sends
from shared.db.keys import ApiKey
from shared.errors import Forbidden, InvalidRequest
from shared.i18n import Text
from shared.intake.addresses import NamedAddress, address_of
from shared.settings import Settings

log = logging.getLogger("mailpipe.intake")


def sender_for(key: ApiKey, given: str | None, settings: Settings, *, field: str = "from") -> str:
    """The From of a request: ``given`` or MAILPIPE_DEFAULT_FROM, in the key's allowed domains.

    Raises InvalidRequest (naming ``field``) when there is neither, and
    Forbidden when the address is outside the key's allowed sender domains.
    """
    sender = given or settings.default_from
    if not sender:
        raise InvalidRequest("missing_field", Text(
            "%(field)s: required, since MAILPIPE_DEFAULT_FROM is not set", field=field),
            field=field)
    if not key.allows_sender(address_of(sender)):
        raise Forbidden("sender_not_allowed", Text(
            "%(field)s: %(address)s is not in this key's allowed sender domains (%(domains)s)",
            field=field, address=address_of(sender), domains=", ".join(key.allowed_domains)),
            field=field)
    return sender


def unique_addresses(*groups: Iterable[NamedAddress]
                     ) -> tuple[tuple[NamedAddress, ...], ...]:
    """Each group with every address kept once (any case), in its first place.

    One message per address: the same address twice is sent once (whatever
    display names it came with: the first is kept); across groups (To, Cc,
    Bcc) an address stays in the first one it appears in.
    """
    seen: set[str] = set()
    out = []
    for group in groups:
        kept = []
        for address in group:
            if address.key not in seen:
                seen.add(address.key)
                kept.append(address)
        out.append(tuple(kept))
    return tuple(out)


@dataclass
class Intake:
    """The transaction of one intake: store rows with ``conn``, note ids due now with ``due``."""

    conn: Connection
    ids: list[int] = field(default_factory=list)

    def due(self, ids: Iterable[int]) -> None:
        """Enqueue these message ids once the transaction has committed."""
        self.ids.extend(ids)


@contextmanager
def intake(engine: Engine, broker: RedisBroker, settings: Settings) -> Iterator[Intake]:
    """One transaction for an intake, then the enqueue of the ids it marked due.

    The enqueue comes strictly after the commit, so a sender never reads a
    row that is not there; if the block raises, nothing is stored or
    enqueued. If Redis is down the request still succeeds: the rows are
    ``queued`` and the dispatch sweep re-enqueues them after ``queue_timeout``.
    """
    with engine.begin() as conn:
        batch = Intake(conn)
        yield batch
    if not batch.ids:
        return
    try:
        enqueue_sends(broker, batch.ids, settings.send_batch)
    except RedisError as exc:
        log.warning("enqueue of %d message(s) failed (%s); the scheduler will retry after %.0fs",
                    len(batch.ids), exc, settings.queue_timeout)
