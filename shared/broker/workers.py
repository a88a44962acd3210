"""Running dramatiq actors in a process we own (no import-time configuration)."""

from __future__ import annotations

import logging

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from shared.runtime.supervisor import ShutdownFlag

log = logging.getLogger("mailpipe.worker")


def run_worker(
    broker: RedisBroker, threads: int, flag: ShutdownFlag, *, drain_timeout_ms: int = 25_000
) -> None:
    """Consume with ``threads`` threads until SIGTERM/SIGINT, then drain and return.

    On stop, dramatiq finishes the messages in progress and hands the
    prefetched ones back to Redis, so nothing held here is lost.
    """
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=1000)
    worker.start()
    log.info("consuming %s with %d threads", sorted(broker.get_declared_queues()), threads)
    flag.wait()
    log.info("draining")
    worker.stop(timeout=drain_timeout_ms)
    broker.close()
