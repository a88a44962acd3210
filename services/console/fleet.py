"""The dashboard's view of the running service: stores, processes, queues, rate and quota.

Every figure is read, not guessed: PostgreSQL and Redis answer a query or
they do not (with how long they took); processes are those whose heartbeat
key is alive (``shared.runtime.heartbeat``); queue depths are Redis list
lengths; the rate is what the senders recorded in the last ten seconds, the
limit the one they obey, the 24-hour quota what SES last reported. Each read
is cheap (a list length, a key, an index) and one that fails is shown as
unknown, not as zero.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar

from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from shared.broker.queues import queue_lengths
from shared.db.backlog import attention_counts, oldest_queued_age
from shared.db.pause import Pause, sending_pause
from shared.rate.quota import HEADROOM, Quota, QuotaStore
from shared.runtime.heartbeat import KINDS, OPTIONAL_KINDS, Alive, alive


@dataclass(frozen=True)
class Check:
    """A store answered (``ms``: how long it took) or not (``error``: the exception's name)."""

    ok: bool
    ms: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class Rate:
    #: Recipients/s the fleet sent over the last 10 s.
    current: float
    #: Recipients/s the senders allow themselves (the configured or SES rate, less
    #: HEADROOM); None while ``auto`` has no SES reading.
    limit: float | None
    #: ``fixed`` (MAILPIPE_SEND_RATE is a number) or ``auto`` (SES's).
    mode: str
    #: SES's last GetAccount reading (``auto`` only).
    quota: Quota | None = None

    @property
    def quota_read_at(self) -> datetime | None:
        return datetime.fromtimestamp(self.quota.refreshed_at, UTC) if self.quota else None

    @property
    def used(self) -> float | None:
        return self.current / self.limit if self.limit else None

    @property
    def quota_used(self) -> float | None:
        """Recipients sent in SES's rolling 24 hours, as a share of its quota."""
        q = self.quota
        if q is None or q.max_24h <= 0:
            return None
        return min(1.0, (q.sent_24h + q.sent_since_refresh) / q.max_24h)


@dataclass(frozen=True)
class Fleet:
    database: Check
    redis: Check
    #: Live processes by kind (every kind of ``KINDS``, empty when none beats).
    processes: dict[str, list[Alive]] = field(default_factory=dict)
    #: Queue → (ready, delayed) queue messages; None when Redis did not answer.
    queues: dict[str, tuple[int, int]] | None = None
    oldest_queued: float | None = None
    rate: Rate | None = None
    pause: Pause | None = None
    attention: dict[str, int] | None = None

    #: Kinds whose absence is not a fault (listed as "none running", not "none alive").
    optional_kinds: ClassVar[frozenset[str]] = OPTIONAL_KINDS

    @property
    def missing(self) -> list[str]:
        """Required kinds with no live process (when Redis could be asked)."""
        if not self.redis.ok:
            return []
        return [k for k in KINDS if k not in OPTIONAL_KINDS and not self.processes.get(k)]


def _answered(read) -> Check:
    """Run ``read`` (which returns how long its store took to answer, in ms) as a Check."""
    try:
        return Check(True, ms=read())
    except (SQLAlchemyError, RedisError) as exc:
        return Check(False, error=type(exc).__name__)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def read_fleet(deps, api_key_id: int | None = None) -> Fleet:
    """The fleet as it is now; ``api_key_id`` narrows the unknown/failed counts."""
    values: dict = {}

    def database() -> float:
        with deps.engine.connect() as conn:
            started = time.perf_counter()
            conn.execute(text("SELECT 1"))
            took = _ms(started)
            values["oldest_queued"] = oldest_queued_age(conn)
            values["pause"] = sending_pause(conn)
            values["attention"] = attention_counts(conn, api_key_id)
        return took

    def redis() -> float:
        started = time.perf_counter()
        deps.redis.ping()
        took = _ms(started)
        live = alive(deps.redis)
        values["processes"] = {k: [a for a in live if a.kind == k] for k in KINDS}
        values["queues"] = queue_lengths(deps.redis)
        values["rate"] = _rate(deps.settings.send_rate, QuotaStore(deps.redis))
        return took

    return Fleet(database=_answered(database), redis=_answered(redis), **values)


def _rate(send_rate, store: QuotaStore) -> Rate:
    current = store.current_rate()
    if send_rate != "auto":
        return Rate(current, float(send_rate) * HEADROOM, "fixed")
    quota = store.load()
    limit = quota.max_send_rate * HEADROOM if quota is not None else None
    return Rate(current, limit, "auto", quota)
