"""A fleet whose rate is shared by many threads: no live claim expires, no row is ever
``unknown``, and requeueing ``unknown`` rows (the operator's advice) sends nothing twice.

The senders are the real send step (``send_batch``) on threads of this
process, through SES over HTTP (tests/support/fake_ses.py counts deliveries
per recipient), on the suite's PostgreSQL and Redis; beside them a lease
sweep runs ten times as often as the scheduler's, and a recorder applies the
outcomes as they come.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import replace

import pytest
from sqlalchemy import text

from services.recorder.record import record_outcomes
from services.sender.batch import send_batch
from shared.broker.payloads import SendBatch, decode_outcomes
from shared.broker.queues import OUTCOME_QUEUE
from shared.db.engine import make_engine
from shared.db.messages import insert_messages
from shared.db.sweeps import expire_leases, requeue
from shared.intake.requests import MessageRequest
from shared.rate.limiter import FleetRateLimiter
from shared.transports.ses import SesTransport
from tests.support.pump import drain, sender_deps
from tests.support.settings import changed


def store(engine, key_id: int, prefix: str, count: int) -> list[int]:
    """``count`` queued rows of one content, to recipients no other call uses."""
    item = MessageRequest(topic_id="t", from_addr="s@example.com",
                          recipients=tuple(f"{prefix}{i}@example.com" for i in range(count)),
                          subject="s", html="<p>h</p>", text=None, reply_to=None)
    with engine.begin() as conn:
        return [m.id for m in insert_messages(conn, key_id, [item], queue_timeout=300)]


class Fleet:
    """Sender threads, a lease sweep and a recorder, on one test's rows."""

    def __init__(self, settings, broker, redis, *, rate: float, lease: float) -> None:
        self.settings = changed(settings, send_lease=lease)
        self.engine = make_engine(settings.database_url, pool_size=24)
        self.redis = redis
        transport = SesTransport.from_environment(region="us-east-1")
        self.deps = replace(sender_deps(self.settings, self.engine, broker, redis, transport),
                            limiter=FleetRateLimiter(redis, rate, bursts=True))
        self.swept: list[int] = []
        self.requeued: list[int] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()

    def sender(self, batch: list[int], delay: float) -> threading.Thread:
        def run() -> None:
            time.sleep(delay)
            try:
                send_batch(self.deps, SendBatch(tuple(batch)))
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                self.errors.append(exc)

        return threading.Thread(target=run, daemon=True)

    def _sweep(self) -> None:
        while not self._stop.wait(0.5):
            with self.engine.begin() as conn:
                self.swept += expire_leases(conn, limit=1000)

    def _record(self) -> None:
        while not self._stop.wait(0.1):
            for outcomes in drain(self.redis, OUTCOME_QUEUE, decode_outcomes):
                record_outcomes(self.engine, outcomes, max_attempts=8, notify=lambda _: None)

    def run(self, batches: list[tuple[list[int], float]], requeue_at: float) -> None:
        """Each batch on its own thread after its delay; ``mailpipe requeue --state
        unknown`` at ``requeue_at`` s; until every thread is done and recorded."""
        helpers = [threading.Thread(target=self._sweep, daemon=True),
                   threading.Thread(target=self._record, daemon=True)]
        senders = [self.sender(ids, delay) for ids, delay in batches]
        for thread in helpers + senders:
            thread.start()
        time.sleep(requeue_at)
        with self.engine.begin() as conn:
            self.requeued.append(requeue(conn, state="unknown"))
        for thread in senders:
            thread.join(60)
        time.sleep(0.3)  # the last outcomes recorded
        self._stop.set()
        for thread in helpers:
            thread.join(5)
        self.engine.dispose()


def check_each_sent_once(engine, ses, fleet: Fleet, count: int) -> None:
    assert fleet.errors == []
    assert fleet.swept == [], "a live sender's claims were swept to unknown"
    assert fleet.requeued == [0]
    deliveries = Counter(a for body in ses.accepted for a in body["Destination"]["ToAddresses"])
    assert len(deliveries) == count and set(deliveries.values()) == {1}
    with engine.connect() as conn:
        states = dict(conn.execute(text("SELECT state, count(*) FROM messages GROUP BY 1")).all())
    assert states == {"sent": count}


@pytest.mark.timeout(90)
def test_nine_threads_sharing_20_per_second_keep_every_claim_alive_with_a_3s_lease(
    settings, engine, broker, redis, api_key, fake_ses
):
    # The reproduction: one queue message of 60 rows finds the fleet
    # idle, then eight of 20 share the rate with it (0.45 s a row per thread).
    first = store(engine, api_key[0].id, "first", 60)
    later = [store(engine, api_key[0].id, f"later{n}-", 20) for n in range(8)]
    fleet = Fleet(settings, broker, redis, rate=20, lease=3)
    fleet.run([(first, 0.0)] + [(ids, 0.3) for ids in later], requeue_at=6)
    check_each_sent_once(engine, fake_ses, fleet, 220)


@pytest.mark.timeout(90)
def test_a_campaign_at_60_per_second_over_16_threads_keeps_every_claim_alive_with_an_8s_lease(
    settings, engine, broker, redis, api_key, fake_ses
):
    # Bulk calls of 30: a thread's next slot can lie a whole lease ahead.
    ids = store(engine, api_key[0].id, "c", 900)
    fleet = Fleet(settings, broker, redis, rate=60, lease=8)
    fleet.run([(ids[n::16], 0.05 * n) for n in range(16)], requeue_at=8)
    check_each_sent_once(engine, fake_ses, fleet, 900)
    assert fake_ses.bulk_calls  # the campaign went out in bulk calls


@pytest.mark.timeout(90)
def test_bulk_calls_waiting_longer_than_a_lease_for_their_part_keep_their_claims(
    settings, engine, broker, redis, api_key, fake_ses
):
    # Sixteen calls of 30 at 60/s: the last waits ~8 s for the part of the
    # rate its call may take, more than twice the 3 s lease.
    ids = store(engine, api_key[0].id, "w", 480)
    fleet = Fleet(settings, broker, redis, rate=60, lease=3)
    fleet.run([(ids[n::16], 0.0) for n in range(16)], requeue_at=9)
    check_each_sent_once(engine, fake_ses, fleet, 480)
    assert fake_ses.bulk_calls
