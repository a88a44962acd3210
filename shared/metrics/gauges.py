"""The scheduler's scrape-time gauges: queues, the fleet's rate, the 24-hour quota and pause,
the reputation guard's pauses and warnings.

Computed when Prometheus scrapes (one process reads them for the fleet,
cheap reads only: Redis list lengths, the quota hash, one indexed query),
so they are never stale and cost nothing between scrapes. A value that
cannot be read (Redis or PostgreSQL down) is left out of that scrape,
and ``mailpipe_scrape_errors`` says which.
"""

from __future__ import annotations

import logging
import time

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from shared.broker.queues import queue_lengths
from shared.db.backlog import oldest_queued_age
from shared.db.guard import standing
from shared.db.pause import Pause, sending_pause
from shared.db.webhook_deliveries import delivery_lag
from shared.rate.quota import HEADROOM, QuotaStore
from shared.settings import Settings

log = logging.getLogger("mailpipe.metrics")


class FleetCollector(Collector):
    def __init__(self, settings: Settings, engine: Engine, redis: Redis) -> None:
        self.settings, self.engine, self.redis = settings, engine, redis
        self.errors = {"redis": 0, "database": 0}

    def collect(self):
        families: list = []
        try:
            families += self._queues() + self._rate()
        except RedisError as exc:
            self.errors["redis"] += 1
            log.warning("metrics: Redis unreadable: %s", exc)
        try:
            with self.engine.connect() as conn:
                age = oldest_queued_age(conn)
                webhook_lag = delivery_lag(conn)
                pause = sending_pause(conn)
                guarded = standing(conn)
            families.append(GaugeMetricFamily(
                "mailpipe_oldest_queued_seconds", "Age of the longest-waiting queued message "
                "(PostgreSQL)", value=age))
            families.append(GaugeMetricFamily(
                "mailpipe_webhook_lag_seconds", "How long the longest-due webhook delivery "
                "of an enabled endpoint has waited (PostgreSQL)", value=webhook_lag))
            families += _paused(pause) + _guarded(*guarded)
        except SQLAlchemyError as exc:
            self.errors["database"] += 1
            log.warning("metrics: PostgreSQL unreadable: %s", exc)
        errors = CounterMetricFamily("mailpipe_scrape_errors", "Scrape-time reads that failed",
                                     labels=["source"])
        for source, count in self.errors.items():
            errors.add_metric([source], count)
        return [*families, errors]

    def _queues(self) -> list:
        ready = GaugeMetricFamily("mailpipe_queue_depth", "Messages waiting in a Redis queue",
                                  labels=["queue"])
        delayed = GaugeMetricFamily("mailpipe_queue_delayed", "Messages in a queue's delay "
                                    "list (retry backoff)", labels=["queue"])
        for queue, (waiting, later) in queue_lengths(self.redis).items():
            ready.add_metric([queue], waiting)
            delayed.add_metric([queue], later)
        return [ready, delayed]

    def _rate(self) -> list:
        store = QuotaStore(self.redis)
        out = [GaugeMetricFamily("mailpipe_send_rate_current", "Recipients/s the fleet sent "
                                 "over the last 10 s", value=store.current_rate())]
        quota = store.load()
        limit = self.settings.send_rate
        if limit == "auto":
            limit = quota.max_send_rate * HEADROOM if quota is not None else None
        if limit is not None:
            out.append(GaugeMetricFamily("mailpipe_send_rate_limit", "The fleet's limit in "
                                         "recipients/s (configured, or from SES)",
                                         value=float(limit)))
        if quota is not None:
            out.append(GaugeMetricFamily("mailpipe_quota_remaining_24h", "Recipients SES still "
                                         "takes in its rolling 24 hours (+Inf: unlimited)",
                                         value=quota.remaining_24h))
            out.append(GaugeMetricFamily("mailpipe_quota_max_24h", "SES's 24-hour quota",
                                         value=quota.max_24h))
            out.append(GaugeMetricFamily("mailpipe_ses_sending_enabled", "1 while SES lets the "
                                         "account send", value=float(quota.enabled)))
        return out


def _paused(pause: Pause | None) -> list:
    """1 while SES refuses the account and the fleet waits for a probe (alert on it), with
    the seconds since it paused and the probes made."""
    paused = GaugeMetricFamily("mailpipe_sending_paused", "1 while the fleet is paused because "
                               "SES refuses the account (credentials, signature, clock, "
                               "permissions, sending paused); the reason is in /health and the "
                               "log", value=float(pause is not None))
    if pause is None:
        return [paused]
    since = GaugeMetricFamily("mailpipe_sending_paused_seconds", "How long the fleet has "
                              "been paused", value=time.time() - pause.paused_at.timestamp())
    probes = GaugeMetricFamily("mailpipe_sending_pause_probes", "Probes of the account "
                               "(GetAccount) made since the fleet paused", value=pause.probes)
    return [paused, since, probes]


def _guarded(paused: dict[str, int], warned: int) -> list:
    """The reputation guard's pauses in force by scope, and the scopes past a warn level."""
    family = GaugeMetricFamily("mailpipe_guard_paused", "Keys (whole, or their campaigns) and "
                               "topics the reputation guard paused, not resumed yet",
                               labels=["scope"])
    for scope, n in paused.items():
        family.add_metric([scope], n)
    return [family, GaugeMetricFamily("mailpipe_guard_warned", "Keys, their campaign or "
                                      "transactional mail, and topics past a warn level of "
                                      "the reputation guard", value=warned)]
