"""The Redis conveyor: broker construction, queue names and publishing.

Producers (api, scheduler, sender) publish here without importing the
consumers' code; consumers register their actors under the same names.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable

import dramatiq
import orjson
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import dq_name
from dramatiq.encoder import Encoder
from dramatiq.errors import DecodeError
from dramatiq.middleware import AgeLimit, Callbacks, Pipelines, Retries, ShutdownNotifications
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.broker.payloads import (
    EventBatch,
    OutcomeBatch,
    SendBatch,
    WebhookWake,
    encode_events,
    encode_outcomes,
    encode_send_batch,
    encode_webhook_wake,
)
from shared.broker.wakeup import WakingConsumer, push_wake
from shared.runtime.backoff import retry_with_backoff
from shared.settings import Settings

SEND_QUEUE = "mailpipe.send"
SEND_ACTOR = "send_batch"
OUTCOME_QUEUE = "mailpipe.outcomes"
OUTCOME_ACTOR = "record_outcomes"
#: SNS events and tracking hits: a queue of their own, so a burst of opens
#: never delays the outcomes of sends.
EVENT_QUEUE = "mailpipe.events"
EVENT_ACTOR = "record_events"
#: Outbound webhooks: their own queue and workers (``mailpipe webhooks``), so a slow
#: endpoint never holds a send or an outcome.
WEBHOOK_QUEUE = "mailpipe.webhooks"
WEBHOOK_ACTOR = "deliver_webhooks"
#: ``mailpipe:webhooks:awake:<endpoint id>``: set (with a TTL) while a wake of that
#: endpoint is queued or being worked, so the scheduler does not pile up more.
AWAKE_PREFIX = "mailpipe:webhooks:awake:"
#: Seconds an endpoint's awake mark outlives a worker that died holding it.
AWAKE_TTL = 120
#: Seconds a sender waits out a Redis outage to publish outcomes of sends done.
OUTCOME_PATIENCE = 60.0
#: Seconds for a connection to Redis, and for any one Redis call.
REDIS_CONNECT_TIMEOUT = 5
REDIS_TIMEOUT = 30
#: Set by the scheduler in the Redis it dispatches to. Missing means that
#: Redis lost its data (restarted empty, flushed, failed over to an empty
#: replica), taking every queue message with it.
CONVEYOR_KEY = "mailpipe:conveyor"
#: dramatiq's Redis layout: ``dramatiq:<queue>`` lists ready message ids,
#: ``dramatiq:<queue>.DQ`` the delayed ones (retries waiting their backoff).
NAMESPACE = "dramatiq"
QUEUES = (SEND_QUEUE, OUTCOME_QUEUE, EVENT_QUEUE, WEBHOOK_QUEUE)

log = logging.getLogger("mailpipe.queues")


class FastJSONEncoder(Encoder):
    """dramatiq's JSON messages, written and read by orjson.

    The same JSON as dramatiq's own encoder (either reads what the other
    writes), several times faster: a sender encodes an outcome per recipient
    and the recorder decodes every one of them.
    """

    def encode(self, data: dict) -> bytes:
        return orjson.dumps(data)

    def decode(self, data: bytes) -> dict:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise DecodeError(f"failed to decode message {data!r:.200}", data, exc) from None


class MaintainedRedisBroker(RedisBroker):
    """A RedisBroker whose queue maintenance runs on a clock instead of by chance.

    dramatiq redelivers a dead worker's unacked messages only during a
    maintenance pass, which stock brokers run on a random ``maintenance_chance``
    per million commands: on a quiet queue (one fetch a second) the default
    left a dead worker's messages stranded for many minutes. Here every
    broker runs maintenance on the next command once ``interval_ms`` has
    passed, so recovery takes ``heartbeat_timeout`` plus about a second.
    (Overrides dramatiq's ``_should_do_maintenance``; tests/sender/
    test_worker_death.py proves the recovery time.)

    Its consumers do not poll an empty send queue: an enqueue wakes one of
    them (shared.broker.wakeup), so an idle fleet starts a send at once. The
    recorder's queues are left to dramatiq's polling, whose pauses gather
    outcomes into fewer, larger batches (woken per enqueue, the recorder
    applied smaller batches at more CPU per message).
    """

    def __init__(self, *, maintenance_interval_ms: int, **options) -> None:
        super().__init__(**options)
        self.maintenance_interval_ms = maintenance_interval_ms
        self._next_maintenance = 0.0

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000):
        """The send queue's consumers wake when a message is enqueued (shared.broker.wakeup)."""
        if queue_name in (SEND_QUEUE, dq_name(SEND_QUEUE)):
            return WakingConsumer(self, queue_name, prefetch, timeout)
        return super().consume(queue_name, prefetch, timeout)

    def enqueue(self, message: dramatiq.Message, *, delay: int | None = None) -> dramatiq.Message:
        enqueued = super().enqueue(message, delay=delay)
        if message.queue_name == SEND_QUEUE:
            push_wake(self.client, message.queue_name, delayed=delay is not None)
        return enqueued

    def _should_do_maintenance(self, command: str) -> int:
        if command in ("ack", "nack"):
            return 0
        now = time.monotonic() * 1000
        if now < self._next_maintenance:
            return 0
        self._next_maintenance = now + self.maintenance_interval_ms
        return 1


def make_broker(settings: Settings) -> RedisBroker:
    """A broker that notices dead workers in seconds, not hours.

    A worker silent for ``broker_heartbeat_timeout_ms`` is presumed dead and
    its in-flight messages go back to the queue at the next maintenance
    pass. TimeLimit is left out: a send is bounded by the transport's own
    timeouts, and killing a thread mid-send would make the outcome ambiguous
    for nothing.

    Redis calls time out (a partitioned network otherwise hangs a consumer or
    a publisher for ever; dramatiq's fetches are quick scripts, never blocking
    reads), and idle connections are checked before use, so a restarted Redis
    costs a reconnect, not an error.
    """
    dramatiq.set_encoder(FastJSONEncoder())  # process-wide, as dramatiq keeps it
    client = redis.Redis.from_url(
        settings.redis_url, socket_connect_timeout=REDIS_CONNECT_TIMEOUT,
        socket_timeout=REDIS_TIMEOUT, health_check_interval=30,
    )
    return MaintainedRedisBroker(
        client=client,
        heartbeat_timeout=settings.broker_heartbeat_timeout_ms,
        maintenance_interval_ms=settings.broker_maintenance_interval_ms,
        middleware=[
            AgeLimit(),
            ShutdownNotifications(),
            Callbacks(),
            Pipelines(),
            Retries(max_retries=1000, min_backoff=500, max_backoff=30_000),
        ],
    )


def _message(queue: str, actor: str, payload: dict) -> dramatiq.Message:
    return dramatiq.Message(
        queue_name=queue, actor_name=actor, args=(payload,), kwargs={}, options={}
    )


def enqueue_sends(broker: RedisBroker, ids: Iterable[int], batch_size: int,
                  unit: int = 1) -> int:
    """Publish ``ids`` to the senders in batches of ``batch_size`` ids on average.

    Returns the number of queue messages. Call only after the transaction
    that made the rows ``queued`` committed.

    Batch sizes are drawn between half and one and a half ``batch_size``. Sender
    threads pace each other's sends one slot at a time, so with equal
    batches they all finished them in the same tenth of a second; their
    next-batch work (fetch, claim queries) then took the CPU from the
    threads whose slots had come, and those requests reached SES late and
    bunched (measured: throttles every 3.2 s at 200/s with batches of 20).

    Sizes are whole multiples of ``unit`` (when ``batch_size`` holds two):
    rows sharing a content go ``unit`` to a SendBulkEmail call, so a batch of
    another size ends with a call carrying fewer.
    """
    ids = list(ids)
    unit = unit if batch_size >= 2 * unit else 1
    low, high = max(1, batch_size // 2 // unit), (batch_size + batch_size // 2) // unit
    count, start = 0, 0
    while start < len(ids):
        size = random.randint(low, high) * unit
        chunk = SendBatch(ids=tuple(ids[start : start + size]))
        broker.enqueue(_message(SEND_QUEUE, SEND_ACTOR, encode_send_batch(chunk)))
        count, start = count + 1, start + size
    return count


def queue_lengths(client: redis.Redis) -> dict[str, tuple[int, int]]:
    """Queue messages (batches, not mail) waiting in each of ``QUEUES``: (ready, delayed).

    Two list lengths per queue, in one round trip, whatever their size.
    """
    with client.pipeline(transaction=False) as pipe:
        for queue in QUEUES:
            pipe.llen(f"{NAMESPACE}:{queue}")
            pipe.llen(f"{NAMESPACE}:{dq_name(queue)}")
        counts = pipe.execute()
    return {queue: (counts[2 * i], counts[2 * i + 1]) for i, queue in enumerate(QUEUES)}


def conveyor_lost(broker: RedisBroker) -> bool:
    """True if Redis holds no mark of ours: first use, or its data was lost."""
    return not broker.client.exists(CONVEYOR_KEY)


def mark_conveyor(broker: RedisBroker) -> None:
    broker.client.set(CONVEYOR_KEY, str(time.time()))


def publish_outcomes(
    broker: RedisBroker, batch: OutcomeBatch, *, patience: float = OUTCOME_PATIENCE
) -> None:
    """Hand a batch of outcomes to the recorder, waiting out a Redis restart.

    The messages are already sent: an outcome dropped here would leave its
    row ``sending`` until the lease ran out and then ``unknown``. So a
    connection error is retried with backoff for up to ``patience`` seconds
    before it is raised. A retry after a lost reply may publish the batch
    twice, which the recorder's conditional updates make harmless.
    """
    if not batch.outcomes:
        return
    message = _message(OUTCOME_QUEUE, OUTCOME_ACTOR, encode_outcomes(batch))

    def told(exc: BaseException, delay: float) -> None:
        log.warning("Redis unavailable (%s); publishing %d outcomes again in %.1fs",
                    exc, len(batch.outcomes), delay)

    retry_with_backoff(lambda: broker.enqueue(message),
                       retry_on=(RedisConnectionError, RedisTimeoutError),
                       patience=patience, base=0.1, cap=2.0, on_retry=told)


def publish_events(broker: RedisBroker, batch: EventBatch) -> None:
    """Hand SNS events or tracking hits to the recorder (raises RedisError if Redis is down)."""
    if batch.events:
        broker.enqueue(_message(EVENT_QUEUE, EVENT_ACTOR, encode_events(batch)))


def wake_webhooks(broker: RedisBroker, endpoint_ids: Iterable[int], *,
                  ttl: int = AWAKE_TTL, force: bool = False) -> int:
    """Wake a webhooks worker for each endpoint not already awake; returns how many.

    An endpoint is awake (its ``AWAKE_PREFIX`` key exists) from this wake until
    its worker finds nothing more due (``webhooks_asleep``), or for ``ttl``
    seconds if that worker dies. ``force``: enqueue even so (a worker handing
    its endpoint on to a next turn). Call after the rows' transaction committed.
    """
    count = 0
    for endpoint_id in endpoint_ids:
        if broker.client.set(f"{AWAKE_PREFIX}{endpoint_id}", 1, nx=not force,
                             ex=ttl):
            broker.enqueue(_message(WEBHOOK_QUEUE, WEBHOOK_ACTOR,
                                    encode_webhook_wake(WebhookWake(endpoint_id))))
            count += 1
    return count


def webhooks_asleep(client: redis.Redis, endpoint_id: int) -> None:
    """The worker of this endpoint found nothing more due: the next due delivery wakes one."""
    client.delete(f"{AWAKE_PREFIX}{endpoint_id}")
