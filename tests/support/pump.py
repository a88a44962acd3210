"""The sender and recorder steps, run in-process on what waits in the Redis queues.

Tests use it where a real worker would run: the same step functions, the
same queues, the recorder announcing outcomes exactly as in production.
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager

from services.recorder.record import record_outcomes
from services.sender.send import SenderDeps, send_batch
from shared.broker.payloads import decode_outcomes, decode_send_batch
from shared.broker.queues import OUTCOME_QUEUE, SEND_QUEUE
from shared.intake.waiters import publish_states
from shared.rate.limiter import FleetRateLimiter
from shared.rate.pause import SendingPause


def drain(redis, queue: str, decode) -> list:
    """Pop every payload waiting in a dramatiq Redis queue."""
    out = []
    while True:
        message_id = redis.rpop(f"dramatiq:{queue}")
        if message_id is None:
            return out
        raw = redis.hget(f"dramatiq:{queue}.msgs", message_id)
        out.append(decode(json.loads(raw)["args"][0]))


class Pump:
    def __init__(self, settings, engine, broker, redis, transport) -> None:
        self.settings, self.engine, self.redis = settings, engine, redis
        self.deps = SenderDeps(settings, engine, broker, transport,
                               FleetRateLimiter(redis, settings.send_rate), SendingPause(redis))

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
