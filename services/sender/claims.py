"""The rows a sender thread holds, and their leases kept ahead of their sends.

A claim's lease (MAILPIPE_SEND_LEASE) says how long the row may stay
``sending`` before the scheduler's sweep decides its sender is dead and
makes it ``unknown``. A live sender must never be taken for a dead one: a
row swept while its sender still holds it is sent anyway, or stays
``unknown`` unsent, and an operator who requeues ``unknown`` rows then sends
it twice. So the leases of every row a thread holds are renewed (one
statement) once half a lease is gone: by the thread itself right before a
request leaves (``Claims.cover``), and, while it is inside a send (waiting
for its slot of the fleet's rate, which at a shared rate can take longer
than a lease, then waiting for SES's answer), by this process's keeper
thread (``keeping``). A row whose renewal fails is no longer this thread's
and is not sent. The sweep can then only catch the rows of a sender that
died, or hung outside a send longer than a lease.

``Claims`` also hands back, on a stop, a pause or a spent quota, every row
it holds and has not sent (``release``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from shared.db.claims import ContentCache, claim_for_sending, release_claims, renew_claims
from shared.db.engine import autocommit
from shared.db.messages import ClaimedMessage
from shared.errors import ClaimLost

log = logging.getLogger("mailpipe.sender")

#: Leases are renewed once less than this fraction of a lease is left.
RENEW_AT = 0.5
#: When a renewal cannot reach PostgreSQL, a send still goes if this much of
#: a lease is left; otherwise it is not sent (the row's sender could no
#: longer be told from a dead one).
UNRENEWED_MARGIN = 0.25
#: How often (s) the keeper looks at the claims of threads inside a send.
KEEP_INTERVAL = 0.2


class Claims:
    """This thread's claimed, unsent rows (``held``, in claim order) and their lease."""

    def __init__(self, engine: Engine, worker: str, lease: float,
                 contents: ContentCache | None = None) -> None:
        self.engine, self.worker, self.lease, self.contents = engine, worker, lease, contents
        self.held: deque[ClaimedMessage] = deque()
        #: When (time.monotonic) the earliest-held lease may run out: an
        #: estimate on the early side (taken before each statement ran).
        self.expires = 0.0
        #: Held rows a renewal found were not this thread's any more.
        self.lost: set[int] = set()
        self._lock = threading.Lock()  # the owner's and the keeper's renewals

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
                     "cancelled or done) or held by a reputation pause", len(ids) - len(claimed),
                     len(ids))
        if claimed:
            with self._lock:
                self.expires = (min(self.expires, started + self.lease) if self.held
                                else started + self.lease)
                self.held.extend(claimed)

    def keep(self) -> None:
        """Renew the leases if half a lease is gone (the keeper, while the owner sends).

        Raises SQLAlchemyError when PostgreSQL cannot be reached.
        """
        with self._lock:
            if self.expires - time.monotonic() < self.lease * RENEW_AT:
                self._renew()

    def cover(self, sending: list[ClaimedMessage]) -> None:
        """Right before ``sending`` leaves: raise ClaimLost unless all of it is still this
        thread's, with enough lease left (renewed here if half a lease is gone).

        Lost rows leave ``held`` (not sent, not handed back). With PostgreSQL
        unreachable, the send goes only while UNRENEWED_MARGIN of a lease is left.
        """
        with self._lock:
            if self.expires - time.monotonic() < self.lease * RENEW_AT:
                try:
                    self._renew()
                except SQLAlchemyError as exc:
                    if self.expires - time.monotonic() < self.lease * UNRENEWED_MARGIN:
                        raise ClaimLost(f"not sent: its lease could not be renewed ({exc})",
                                        stop=True) from exc
                    log.warning("could not renew %d leases (sending on the lease left): %s",
                                len(self.held), exc)
            lost, self.lost = self.lost, set()
        if lost:
            self.held = deque(m for m in self.held if m.id not in lost)
            if any(m.id in lost for m in sending):
                raise ClaimLost(f"not sent: {len(lost)} claims were lost before the send")

    def _renew(self) -> None:
        started = time.monotonic()
        held = [(m.id, m.attempt) for m in self.held if m.id not in self.lost]
        with autocommit(self.engine) as conn:
            kept = renew_claims(conn, held, worker_id=self.worker, seconds=self.lease)
        self.expires = started + self.lease
        lost = {i for i, _ in held} - kept
        if lost:
            log.error("%d held messages were no longer this sender's when their leases were "
                      "renewed (a lease outlived: the sender stalled); not sent: ids %s",
                      len(lost), sorted(lost)[:20])
            self.lost |= lost

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


class _Keeper:
    """One daemon thread per process renewing the claims of threads inside a send."""

    def __init__(self) -> None:
        self._inside: set[Claims] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @contextmanager
    def keeping(self, claims: Claims) -> Iterator[None]:
        with self._lock:
            self._inside.add(claims)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="lease-keeper",
                                                daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._inside.discard(claims)

    def _run(self) -> None:
        while True:
            time.sleep(KEEP_INTERVAL)
            with self._lock:
                inside = list(self._inside)
            for claims in inside:
                try:
                    claims.keep()
                except SQLAlchemyError as exc:
                    log.warning("could not renew the leases of a sender thread: %s", exc)


#: ``with keeping(claims):`` around a send: its thread's leases are renewed meanwhile.
keeping = _Keeper().keeping
