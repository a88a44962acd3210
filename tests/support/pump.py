"""The sender and recorder steps, run in-process on what waits in the Redis queues.

Tests use it where a real worker would run: the same step functions, the
same queues, the recorder announcing outcomes exactly as in production.
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager

from services.recorder.record import record_outcomes
from services.sender.batch import SenderDeps, send_batch
from shared.broker.payloads import decode_outcomes, decode_send_batch
from shared.broker.queues import OUTCOME_QUEUE, SEND_QUEUE
from shared.intake.waiters import publish_states
from shared.rate.limiter import FleetRateLimiter
from shared.rate.pause import FleetPause
from shared.transports.base import Transport
from shared.transports.file import FileTransport
from shared.transports.ses import SesTransport


def sender_deps(settings, engine, broker, redis, transport: Transport | None = None, *,
                rate=None, stopping=lambda: False) -> SenderDeps:
    """A sender's dependencies on the test's Redis, as services.sender.main wires them.

    The file transport unless ``transport`` is given; the settings' rate unless
    ``rate`` (a number or a rate source) is.
    """
    return SenderDeps(settings, engine, broker, redis,
                      transport or FileTransport(settings.file_dir),
                      FleetRateLimiter(redis, rate or settings.send_rate),
                      FleetPause(engine, redis, first_probe=settings.account_retry), stopping)


def ses_deps(settings, engine, broker, redis, **options) -> SenderDeps:
    """sender_deps sending through SES (the ``fake_ses`` fixture's endpoint)."""
    return sender_deps(settings, engine, broker, redis,
                       SesTransport.from_environment(region="us-east-1"), **options)


def drain(redis, queue: str, decode) -> list:
    """Pop every payload waiting in a dramatiq Redis queue."""
    out = []
    while True:
        message_id = redis.rpop(f"dramatiq:{queue}")
        if message_id is None:
            return out
        raw = redis.hget(f"dramatiq:{queue}.msgs", message_id)
        out.append(decode(json.loads(raw)["args"][0]))


def queued_outcomes(redis) -> list:
    """The outcomes waiting for the recorder, left in their queue."""
    raw = [redis.hget(f"dramatiq:{OUTCOME_QUEUE}.msgs", i)
           for i in redis.lrange(f"dramatiq:{OUTCOME_QUEUE}", 0, -1)]
    return [o for r in raw for o in decode_outcomes(json.loads(r)["args"][0]).outcomes]


class Pump:
    def __init__(self, settings, engine, broker, redis, transport) -> None:
        self.settings, self.engine, self.redis = settings, engine, redis
        self.deps = sender_deps(settings, engine, broker, redis, transport)

    def step(self) -> int:
        """Send what is queued and record what was sent; returns how much moved."""
        moved = 0
        for batch in drain(self.redis, SEND_QUEUE, decode_send_batch):
            send_batch(self.deps, batch)
            moved += 1
        for outcomes in drain(self.redis, OUTCOME_QUEUE, decode_outcomes):
            record_outcomes(self.engine, outcomes, max_attempts=self.settings.max_attempts,
                            notify=lambda changed: publish_states(self.redis, changed))
            moved += 1
        return moved

    def run(self) -> None:
        while self.step():
            pass

    @contextmanager
    def running(self, interval: float = 0.05):
        """Keep stepping in a thread while the body runs (a synchronous request waits)."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.is_set():
                self.step()
                stop.wait(interval)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join(10)
