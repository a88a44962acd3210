"""The rows a sender thread holds, and their leases kept ahead of their sends.

A claim's lease (MAILPIPE_SEND_LEASE) says how long the row may stay
``sending`` before the scheduler's sweep decides its sender is dead and
makes it ``unknown``. A live sender must never be taken for a dead one: a
row swept while its sender still holds it is sent anyway, or stays
``unknown`` unsent, and an operator who requeues ``unknown`` rows then sends
it twice. So ``Claims`` renews the leases of every row it holds (one
statement) whenever a send is about to leave less than half a lease before
they run out, far enough to cover the wait for that send's slot; a row whose
renewal fails is no longer this thread's and is not sent. The sweep can then
only catch the rows of a sender that died or hung longer than a lease.

``Claims`` also hands back, on a stop, a pause or a spent quota, every row
it holds and has not sent (``release``).
"""

from __future__ import annotations

import logging
import time
from collections import deque

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from shared.db.engine import autocommit
from shared.db.messages import (
    ClaimedMessage,
    ContentCache,
    claim_for_sending,
    release_claims,
    renew_claims,
)
from shared.errors import ClaimLost

log = logging.getLogger("mailpipe.sender")

#: A send that would leave less than this fraction of a lease before the
#: held rows' leases run out renews them first.
RENEW_AT = 0.5
#: When a renewal cannot reach PostgreSQL, a send still goes if this much of
#: a lease is left after it; otherwise it is not sent (the row's sender could
#: no longer be told from a dead one).
UNRENEWED_MARGIN = 0.25


class Claims:
    """This thread's claimed, unsent rows (``held``, in claim order) and their lease."""

    def __init__(self, engine: Engine, worker: str, lease: float,
                 contents: ContentCache | None = None) -> None:
        self.engine, self.worker, self.lease, self.contents = engine, worker, lease, contents
        self.held: deque[ClaimedMessage] = deque()
        #: When (time.monotonic) the earliest-held lease may run out: an
        #: estimate on the early side (taken before each statement ran).
        self.expires = 0.0

    def __bool__(self) -> bool:
        return bool(self.held)

    def __len__(self) -> int:
        return len(self.held)

    def claim(self, ids: list[int]) -> None:
        """Claim the ``queued`` rows among ``ids`` (one statement, committed before any send)."""
        started = time.monotonic()
        with autocommit(self.engine) as conn:
            claimed = claim_for_sending(conn, ids, worker_id=self.worker, lease=self.lease,
                                        contents=self.contents)
        if len(claimed) < len(ids):
            log.info("%d of %d messages skipped: not queued any more (claimed elsewhere, "
                     "cancelled or done)", len(ids) - len(claimed), len(ids))
        if claimed:
            self.expires = (min(self.expires, started + self.lease) if self.held
                            else started + self.lease)
            self.held.extend(claimed)

    def cover(self, send_at: float, sending: list[ClaimedMessage]) -> None:
        """Make sure the held rows' leases outlast a send at ``send_at`` (time.monotonic).

        Renews them when less than RENEW_AT of a lease would be left, to a
        lease past ``send_at``. Raises ClaimLost when any of ``sending`` is
        not this thread's any more (those rows leave ``held``: not sent, not
        handed back), or when PostgreSQL cannot be reached and the lease
        would be too close to its end.
        """
        if self.expires - send_at >= self.lease * RENEW_AT:
            return
        started = time.monotonic()
        seconds = max(0.0, send_at - started) + self.lease
        try:
            with autocommit(self.engine) as conn:
                kept = renew_claims(conn, [(m.id, m.attempt) for m in self.held],
                                    worker_id=self.worker, seconds=seconds)
        except SQLAlchemyError as exc:
            if self.expires - send_at >= self.lease * UNRENEWED_MARGIN:
                log.warning("could not renew %d leases (sending on the lease left): %s",
                            len(self.held), exc)
                return
            raise ClaimLost(f"not sent: its lease could not be renewed ({exc})",
                            stop=True) from exc
        self.expires = started + seconds
        lost = {m.id for m in self.held} - kept
        if lost:
            log.error("%d held messages were no longer this sender's when their leases were "
                      "renewed (a lease outlived: the sender stalled); not sent: ids %s",
                      len(lost), sorted(lost)[:20])
            self.held = deque(m for m in self.held if m.id not in lost)
            if any(m.id in lost for m in sending):
                raise ClaimLost(f"not sent: {len(lost)} claims were lost before the send")

    def sent(self, done: set[int]) -> None:
        """These rows were sent (or their outcome is known): no longer held."""
        self.held = deque(m for m in self.held if m.id not in done)

    def release(self) -> int:
        """Hand every held row back to ``queued``, unsent, with its attempt undone.

        Raises SQLAlchemyError when PostgreSQL cannot be reached; the rows stay held.
        """
        if not self.held:
            return 0
        with autocommit(self.engine) as conn:
            count = release_claims(conn, [(m.id, m.attempt) for m in self.held],
                                   worker_id=self.worker)
        log.info("%d claimed messages handed back unsent", count)
        self.held.clear()
        return count
