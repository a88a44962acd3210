"""The webhooks process's parts together: the scheduler's wake-ups, the claim, the dramatiq
worker on its own queue, a Redis flush, a worker that dies, and a receiver in Node."""

from __future__ import annotations

import threading

import dramatiq
from sqlalchemy import text

from services.scheduler.webhooks import wake_due_webhooks
from services.webhooks.deliver import deliver_endpoint
from services.webhooks.main import register
from shared.broker.queues import QUEUES, SEND_QUEUE, WEBHOOK_QUEUE
from shared.db.webhook_deliveries import Settled, claim_deliveries, settle_deliveries
from shared.webhooks.events import DeliveryState
from shared.webhooks.events import OutboundEventType as T
from tests.support.webhook_receivers import NodeReceiver
from tests.webhooks.conftest import (
    deliver_until_settled,
    delivery_states,
    emit_events,
    event_ids,
)
from tests.webhooks.conftest import (
    register as register_endpoint,
)


def _queued(redis, queue: str) -> int:
    return redis.llen(f"dramatiq:{queue}")


def test_the_scheduler_wakes_an_endpoint_once_until_its_worker_finds_nothing_due(
        api, headers, api_key, engine, broker, redis, deps, receivers):
    hook = register_endpoint(api, headers, receivers().url)
    assert wake_due_webhooks(engine, broker) == 0  # nothing due
    emit_events(engine, api_key[0].id, [T.MESSAGE_SENT])
    assert wake_due_webhooks(engine, broker) == 1
    assert wake_due_webhooks(engine, broker) == 0  # awake already: no pile of wakes
    assert _queued(redis, WEBHOOK_QUEUE) == 1 and _queued(redis, SEND_QUEUE) == 0
    deliver_endpoint(deps, hook["id"])  # delivers, then finds nothing and sleeps
    emit_events(engine, api_key[0].id, [T.MESSAGE_DELIVERED])
    assert wake_due_webhooks(engine, broker) == 1


def test_the_worker_consumes_its_own_queue_and_a_redis_flush_loses_nothing(
        api, headers, api_key, engine, broker, redis, deps, receivers):
    receiver = receivers()
    hook = register_endpoint(api, headers, receiver.url)
    receiver.secrets.append(hook["secret"])
    emit_events(engine, api_key[0].id, [T.MESSAGE_SENT, T.MESSAGE_DELIVERED])
    assert wake_due_webhooks(engine, broker) == 1
    redis.flushall()  # the wake and its mark are gone; the rows are not
    assert wake_due_webhooks(engine, broker) == 1
    register(deps)
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        got = receiver.wait_for(2)
    finally:
        worker.stop()
    assert sorted(r.webhook_id for r in got) == event_ids(engine, api_key[0].id)
    assert all(r.verified_by == (0,) for r in got)
    assert set(broker.get_declared_queues()) == {WEBHOOK_QUEUE}  # never a sender's
    assert WEBHOOK_QUEUE in QUEUES  # its depth is a metric like the others'


def test_two_claimers_at_once_never_take_the_same_delivery(api, headers, api_key, engine,
                                                           receivers):
    hook = register_endpoint(api, headers, receivers().url)
    emit_events(engine, api_key[0].id, [T.MESSAGE_SENT] * 40)
    taken: dict[str, list[int]] = {}
    start = threading.Barrier(2)

    def claim(worker: str) -> None:
        start.wait()
        with engine.begin() as conn:
            taken[worker] = [d.id for d in claim_deliveries(
                conn, hook["id"], worker_id=worker, slots=30, lease=60)]

    threads = [threading.Thread(target=claim, args=(w,)) for w in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not set(taken["a"]) & set(taken["b"])
    # The cap counts both: 30 in flight at most, whichever claimed first.
    assert len(taken["a"]) + len(taken["b"]) == 30


def test_a_worker_that_dies_mid_delivery_leaves_it_to_the_next_and_cannot_settle_it(
        api, headers, api_key, engine, deps, receivers):
    receiver = receivers()
    hook = register_endpoint(api, headers, receiver.url)
    emit_events(engine, api_key[0].id, [T.MESSAGE_SENT])
    with engine.begin() as conn:
        (dead,) = claim_deliveries(conn, hook["id"], worker_id="dead", slots=4, lease=60)
        conn.execute(text("UPDATE webhook_deliveries SET due_at = now(), "
                          "lease_until = now()"))  # its lease ran out
    deliver_until_settled(deps, engine, hook["id"])
    assert len(receiver.received) == 1  # delivered by the next worker (at least once)
    with engine.begin() as conn:
        assert settle_deliveries(conn, [Settled(dead, DeliveryState.FAILED, None, None,
                                                "late")], worker_id="dead") == set()
    assert delivery_states(engine, hook["id"]) == {"delivered": 1}


def test_a_node_receiver_verifies_every_delivery_with_the_npm_standardwebhooks_package(
        api, headers, api_key, engine, deps):
    probe = api.simulate_post("/v1/webhooks", json={"url": "http://127.0.0.1:9/x"},
                              headers=headers).json
    node = NodeReceiver(probe["secret"])
    try:
        api.simulate_patch(f"/v1/webhooks/{probe['id']}", json={"url": node.url},
                           headers=headers)
        api.simulate_post(f"/v1/webhooks/{probe['id']}/rotate", headers=headers)
        # Signed with the new secret and the one the receiver holds (rotated out, valid 24 h).
        emit_events(engine, api_key[0].id, [T.MESSAGE_SENT, T.MESSAGE_BOUNCED])
        api.simulate_post(f"/v1/webhooks/{probe['id']}/test", headers=headers)
        deliver_until_settled(deps, engine, probe["id"])
        got = node.wait_for(3)
    finally:
        node.close()
    assert all(line["verified"] for line in got), got
    assert sorted(line["type"] for line in got) == ["message.bounced", "message.sent",
                                                    "webhook.test"]
    assert delivery_states(engine, probe["id"]) == {"delivered": 3}
