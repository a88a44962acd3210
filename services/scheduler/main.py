"""`mailpipe scheduler`: APScheduler running each periodic step.

Running two schedulers is safe: every step claims rows with SKIP LOCKED.
"""

from __future__ import annotations

import logging
import signal
import time
from datetime import UTC, datetime

import redis
from apscheduler.schedulers.blocking import BlockingScheduler

from services.scheduler.dispatch import dispatch_all_due
from services.scheduler.expand import expand_due_campaigns
from services.scheduler.quota import refresh_quota, watch_pause
from services.scheduler.retention import prune_expired, prune_traffic_minutes
from services.scheduler.ses_suppressions import import_account_suppressions
from services.scheduler.sweeps import sweep_expired_leases
from services.scheduler.webhooks import wake_due_webhooks
from shared.broker.queues import make_broker
from shared.db.engine import make_engine
from shared.metrics.gauges import FleetCollector
from shared.metrics.setup import serve as serve_metrics
from shared.rate.pause import FleetPause
from shared.rate.quota import QuotaStore
from shared.runtime import heartbeat
from shared.runtime.logs import configure_logging
from shared.runtime.observe import observe
from shared.settings import Settings
from shared.transports.ses import ses_client

log = logging.getLogger("mailpipe.scheduler")


def build_scheduler(settings: Settings) -> BlockingScheduler:
    engine = make_engine(settings.database_url, pool_size=2)
    broker = make_broker(settings)
    scheduler = BlockingScheduler(
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30}
    )
    scheduler.add_job(
        dispatch_all_due, "interval", seconds=1, args=(engine, broker, settings), id="dispatch"
    )
    scheduler.add_job(sweep_expired_leases, "interval", seconds=5, args=(engine,), id="leases")
    scheduler.add_job(wake_due_webhooks, "interval", seconds=1, args=(engine, broker),
                      id="webhooks")
    if settings.transport == "ses":
        ses = ses_client(settings)
        client = redis.Redis.from_url(settings.redis_url)
        pause = FleetPause(engine, client, first_probe=settings.account_retry)
        review = {"review": settings.guard_account_review}
        scheduler.add_job(watch_pause, "interval", seconds=1, args=(ses, pause), kwargs=review,
                          id="pause")
        if settings.ses_suppression_import:
            scheduler.add_job(import_account_suppressions, "interval",
                              seconds=settings.ses_suppression_import, args=(ses, engine),
                              id="ses-suppressions", next_run_time=datetime.now(UTC))
        # The account's standing is watched whatever the rate; its quota shared with auto.
        store = QuotaStore(client) if settings.send_rate == "auto" else None
        scheduler.add_job(refresh_quota, "interval", seconds=settings.quota_refresh,
                          args=(ses, store, pause), kwargs=review, id="quota",
                          next_run_time=datetime.now(UTC))
    scheduler.add_job(expand_due_campaigns, "interval", seconds=1,
                      args=(engine, broker, settings),
                      id="expand")
    scheduler.add_job(prune_expired, "interval", seconds=settings.retention_interval,
                      args=(engine, settings), id="retention")
    scheduler.add_job(prune_traffic_minutes, "interval", minutes=10, args=(engine,),
                      id="traffic")
    # A job, not a thread: a scheduler whose jobs stopped running stops beating.
    scheduler.add_job(heartbeat.beat, "interval", seconds=heartbeat.INTERVAL,
                      args=(redis.Redis.from_url(settings.redis_url), "scheduler", time.time()),
                      id="heartbeat", next_run_time=datetime.now(UTC))
    return scheduler


def serve_fleet_metrics(settings: Settings) -> None:
    """The scheduler's own counters and the fleet's gauges (queues, rate, quota) at scrape time."""
    if not settings.metrics_port_scheduler:
        return
    from prometheus_client import REGISTRY

    REGISTRY.register(FleetCollector(settings, make_engine(settings.database_url, pool_size=1),
                                     redis.Redis.from_url(settings.redis_url)))
    serve_metrics(settings.metrics_port_scheduler, settings.metrics_host, REGISTRY)


def quiet_routine_lines(level: str) -> None:
    """APScheduler's "Running job …" and "… executed successfully" at WARNING.

    Jobs run every second: at INFO those lines were four a second and hid
    what the steps log themselves, which is only what they did (dispatched,
    expanded, swept, pruned). MAILPIPE_LOG_LEVEL=DEBUG shows them again.
    """
    if level.upper() != "DEBUG":
        logging.getLogger("apscheduler").setLevel(logging.WARNING)


def main(settings: Settings) -> int:
    configure_logging("scheduler", settings.log_level)
    quiet_routine_lines(settings.log_level)
    observe("scheduler", settings)
    scheduler = build_scheduler(settings)
    serve_fleet_metrics(settings)

    def stop(signum, frame) -> None:
        # The running step finishes (executor threads are joined at exit);
        # no new one starts.
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("scheduler started")
    scheduler.start()
    log.info("scheduler stopped")
    return 0
