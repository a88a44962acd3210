"""The recorder's step: apply one batch of outcomes in one transaction."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

from sqlalchemy import Engine

from shared.broker.payloads import OutcomeBatch
from shared.db.events import adopt_orphan_events, lock_events
from shared.db.outcomes import apply_outcomes
from shared.guard import Observation, ReputationGuard
from shared.metrics.instruments import observe_recorded
from shared.states import MessageState as S

log = logging.getLogger("mailpipe.recorder")


def record_outcomes(
    engine: Engine, batch: OutcomeBatch, *, max_attempts: int,
    notify: Callable[[dict[int, str]], None] | None = None,
    guard: ReputationGuard | None = None,
) -> dict[int, str]:
    """Apply ``batch``; returns the rows that changed. Replays change nothing.

    ``notify`` gets the changed rows after the commit (synchronous callers
    wait for it, shared.intake.waiters). ``guard`` counts the sends (and the bounces
    and complaints of adopted events) and pauses in the same transaction.
    """
    with engine.begin() as conn:
        # Before any row lock, as event batches do: the same order, no deadlock.
        lock_events(conn)
        sent: list = []
        changed = apply_outcomes(conn, batch.outcomes, max_attempts=max_attempts, sent=sent)
        # SES events can arrive before the outcome that names their message.
        adopted = adopt_orphan_events(conn, sorted(i for i, s in changed.items() if s == S.SENT))
        seen = guard.observe(conn, sent=sent, feedback=adopted) if guard else Observation()
    if guard:
        guard.announce(seen)
    observe_recorded(batch, changed)
    if notify is not None:
        notify(changed)
    stale = len(batch.outcomes) - len(changed)
    log.info("applied %d outcomes %s%s", len(changed), dict(Counter(changed.values())),
             f", {stale} stale or already applied" if stale else "")
    return changed
