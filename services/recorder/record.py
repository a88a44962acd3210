"""The recorder's step: apply one batch of outcomes in one transaction."""

from __future__ import annotations

import logging
from collections import Counter

from sqlalchemy import Engine

from shared.db.outcomes import apply_outcomes
from shared.payloads import OutcomeBatch

log = logging.getLogger("mailpipe.recorder")


def record_outcomes(engine: Engine, batch: OutcomeBatch, *, max_attempts: int) -> dict[int, str]:
    """Apply ``batch``; returns the rows that changed. Replays change nothing."""
    with engine.begin() as conn:
        changed = apply_outcomes(conn, batch.outcomes, max_attempts=max_attempts)
    stale = len(batch.outcomes) - len(changed)
    log.info("applied %d outcomes %s%s", len(changed), dict(Counter(changed.values())),
             f", {stale} stale or already applied" if stale else "")
    return changed
