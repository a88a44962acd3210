"""`mailpipe sender`: P supervised processes of T dramatiq threads each."""

from __future__ import annotations

import dramatiq
import redis

from services.sender.batch import SenderDeps, send_batch
from services.sender.meter import SendMeter
from shared.broker.payloads import decode_send_batch
from shared.broker.queues import SEND_ACTOR, SEND_QUEUE, make_broker
from shared.broker.workers import run_worker
from shared.db.engine import make_engine
from shared.metrics.instruments import time_ses_calls
from shared.metrics.setup import serve as serve_metrics
from shared.rate.limiter import FleetRateLimiter, QuotaRate
from shared.rate.pause import FleetPause
from shared.rate.quota import HEADROOM, QuotaStore
from shared.runtime import heap
from shared.runtime.context import PayloadContext
from shared.runtime.heartbeat import Heartbeat
from shared.runtime.logs import configure_logging
from shared.runtime.observe import observe
from shared.runtime.supervisor import ShutdownFlag, supervise
from shared.settings import Settings
from shared.transports import make_transport
from shared.transports.base import bulk_sender

#: After this process starts and after the fleet's rate changes, it uses a
#: little less of the rate for this long (shared.rate.limiter.SLOW_START_SHARE).
SLOW_START_SECONDS = 5.0


def build_deps(settings: Settings, threads: int, flag: ShutdownFlag) -> SenderDeps:
    client = redis.Redis.from_url(settings.redis_url)
    # A fixed rate is the account's SES limit as the operator typed it: the
    # same headroom as SES's own number gets (``auto``), so requests never
    # reach SES faster than that limit (measured at the limit itself: 8-11
    # throttles per 20 s run).
    rate = (QuotaRate(QuotaStore(client)) if settings.send_rate == "auto"
            else settings.send_rate * HEADROOM)
    transport = make_transport(settings, threads=threads)
    if hasattr(transport.default, "client"):  # SES: time each call
        time_ses_calls(transport.default)
    engine = make_engine(settings.database_url, pool_size=threads)
    return SenderDeps(
        settings=settings,
        engine=engine,
        broker=make_broker(settings),
        redis=client,
        transport=transport,
        # Bulk calls are bursts: only then is every slot checked against the sliding second.
        limiter=FleetRateLimiter(client, rate, slow_start=SLOW_START_SECONDS,
                                 bursts=bulk_sender(transport) is not None),
        pause=FleetPause(engine, client, first_probe=settings.account_retry),
        stopping=lambda: flag.requested,
        meter=SendMeter().start(),
    )


def register(deps: SenderDeps) -> None:
    """Declare the send actor on ``deps.broker``."""

    def send(payload: dict) -> None:
        send_batch(deps, decode_send_batch(payload))

    dramatiq.actor(
        send, broker=deps.broker, actor_name=SEND_ACTOR, queue_name=SEND_QUEUE,
        max_retries=1000,
    )


def run_process(settings: Settings, threads: int) -> None:
    configure_logging("sender", settings.log_level)
    observe("sender", settings)
    flag = ShutdownFlag().install()
    deps = build_deps(settings, threads, flag)
    register(deps)
    deps.broker.add_middleware(PayloadContext())
    heap.settle()  # what exists now lives as long as the process
    heartbeat = Heartbeat(deps.redis, "sender").start()
    run_worker(deps.broker, threads, flag)
    heartbeat.stop()


def main(settings: Settings, processes: int, threads: int) -> int:
    configure_logging("sender", settings.log_level)
    observe("sender", settings)
    serve_metrics(settings.metrics_port_sender, settings.metrics_host)  # children summed
    return supervise("sender", lambda: run_process(settings, threads), processes)
