"""The scheduler's lease sweep: claims whose sender vanished become ``unknown``."""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from shared.db.sweeps import expire_leases

log = logging.getLogger("mailpipe.scheduler")

BATCH = 1000


def sweep_expired_leases(engine: Engine) -> bool:
    """One batch of expired leases to ``unknown``; True if there may be more."""
    with engine.begin() as conn:
        ids = expire_leases(conn, limit=BATCH)
    if ids:
        log.warning(
            "%d messages were mid-send when their lease ran out; now unknown, not resent "
            "(requeue deliberately with `mailpipe requeue --state unknown`): ids %s",
            len(ids), ids[:20],
        )
    return len(ids) == BATCH
