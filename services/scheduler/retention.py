"""Retention: what is kept how long, and the scheduler's pruning step.

``prune_step`` prunes one small batch of each kind, each in its own short
transaction, and says whether any kind may have more; ``prune_expired`` is
the scheduler's job, running steps for at most a few seconds with a pause
between them, so the database serves sends in between. The SQL, and what
it keeps, is in ``shared.db.retention``.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from shared.db import retention as sql
from shared.db.guard import prune_hours as prune_guard_hours
from shared.db.traffic import prune_minutes
from shared.settings import Settings

log = logging.getLogger("mailpipe.retention")

#: Kinds of data, in the order a step prunes them (contents before the
#: blobs they free; ``blobs`` is counted by the contents pass, the webhook
#: deliveries, and the undelivered ones among them, by the webhook events').
KINDS = ("events", "orphans", "contents", "blobs", "recipients", "idempotency",
         "webhook_events", "webhook_deliveries", "webhook_undelivered")
#: Counted along with another kind's batch, not in batches of their own.
CARRIED = frozenset({"blobs", "webhook_deliveries", "webhook_undelivered"})
#: Days outbound webhook events are kept when unset (``MAILPIPE_RETENTION_WEBHOOKS_DAYS``).
WEBHOOKS_DAYS = 30
#: The scheduler's job runs steps for at most this long (s) per run ...
RUN_BUDGET = 5.0
#: ... and sleeps this long (s) between steps.
STEP_PAUSE = 0.05
#: Contents carry attachments (MBs each): a tenth of the batch per statement.
CONTENTS_SHARE = 10


@dataclass(frozen=True)
class RetentionPolicy:
    """How long each kind is kept; None keeps it forever."""

    events: timedelta | None
    orphans: timedelta | None
    bodies: timedelta | None
    idempotency: timedelta | None
    webhooks: timedelta | None = None
    batch: int = 1000

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        base = settings.retention_days

        def days(value: int | None, default: int) -> timedelta | None:
            value = default if value is None else value
            return timedelta(days=value) if value else None

        return cls(
            events=days(settings.retention_events_days, base),
            orphans=days(settings.retention_orphan_days, min(base, 7)),
            bodies=days(settings.retention_bodies_days, base),
            idempotency=days(settings.retention_idempotency_days, min(base, 1)),
            webhooks=days(settings.retention_webhooks_days, min(base, WEBHOOKS_DAYS)),
            batch=settings.retention_batch,
        )

    @property
    def active(self) -> bool:
        return any((self.events, self.orphans, self.bodies, self.idempotency, self.webhooks))


def prune_step(engine: Engine, policy: RetentionPolicy, now: datetime | None = None) -> Counter:
    """Prune one batch of every kind the policy expires; the counts pruned, per kind.

    A kind that pruned a full batch may have more: ``more(counts, policy)``.
    """
    now = now or datetime.now(UTC)
    counts: Counter = Counter()

    def run(kinds: str | tuple[str, ...], age: timedelta | None, prune: Callable,
            limit: int = policy.batch) -> None:
        if age is None:
            return
        with engine.begin() as conn:
            result = prune(conn, cutoff=now - age, limit=limit)
        # A tuple counts the kind and those carried with it, e.g. (contents, blobs).
        kinds = (kinds,) if isinstance(kinds, str) else kinds
        results = result if isinstance(result, tuple) else (result,)
        counts.update(dict(zip(kinds, results, strict=True)))

    run("events", policy.events, sql.prune_events)
    run("orphans", policy.orphans, sql.prune_orphan_events)
    run(("contents", "blobs"), policy.bodies, sql.prune_contents,
        max(1, policy.batch // CONTENTS_SHARE))
    run("recipients", policy.bodies, sql.prune_campaign_recipients)
    run("idempotency", policy.idempotency, sql.prune_idempotency_keys)
    run(("webhook_events", "webhook_deliveries", "webhook_undelivered"), policy.webhooks,
        sql.prune_webhook_events)
    return counts


def more(counts: Counter, policy: RetentionPolicy) -> bool:
    """True if a kind pruned a full batch last step (there may be more of it)."""
    contents_limit = max(1, policy.batch // CONTENTS_SHARE)
    return any(n >= (contents_limit if kind == "contents" else policy.batch)
               for kind, n in counts.items() if kind not in CARRIED)


def prune_expired(engine: Engine, settings: Settings, *, budget: float = RUN_BUDGET,
                  stopping: Callable[[], bool] = lambda: False) -> Counter:
    """The scheduler's job: steps while there is more, for at most ``budget`` seconds.

    Logs what was pruned, per kind. Returns the totals of this run.
    """
    policy = RetentionPolicy.from_settings(settings)
    totals: Counter = Counter()
    if not policy.active:
        return totals
    deadline = time.monotonic() + budget
    while True:
        counts = prune_step(engine, policy)
        totals.update(counts)
        if not more(counts, policy) or time.monotonic() >= deadline or stopping():
            break
        time.sleep(STEP_PAUSE)
    pruned = {kind: totals[kind] for kind in KINDS if totals[kind]}
    if pruned:
        log.info("retention pruned %s", " ".join(f"{k}={n}" for k, n in pruned.items()),
                 extra={"pruned": pruned})
    return totals


def prune_traffic_minutes(engine: Engine) -> int:
    """The scheduler's job: drop the dashboard's per-minute counts older than two days
    (``shared.db.traffic.MINUTES_KEPT``), whatever the retention settings: the hours keep
    the same counts; and the reputation guard's hours past its day
    (``shared.db.guard.HOURS_KEPT``). A few thousand rows at most each run."""
    with engine.begin() as conn:
        return prune_minutes(conn) + prune_guard_hours(conn, datetime.now(UTC))
