"""Delivering to real receivers: signed per Standard Webhooks, retried, disabled, safe."""

from __future__ import annotations

import threading
import time

from sqlalchemy import text

from services.webhooks.deliver import deliver_endpoint
from shared.runtime.localservers import free_port
from shared.webhooks.events import OutboundEventType as T
from shared.webhooks.retries import SCHEDULE
from tests.support.settings import changed
from tests.webhooks.conftest import (
    deliver_until_settled,
    delivery_states,
    emit_events,
    event_ids,
    register,
    time_passes,
)

TYPES = [T.MESSAGE_SENT, T.MESSAGE_DELIVERED, T.MESSAGE_OPENED]


def test_every_delivery_is_signed_and_verifies_with_the_standardwebhooks_library(
        api, headers, api_key, engine, deps, receivers):
    receiver = receivers()
    hook = register(api, headers, receiver.url)
    receiver.secrets.append(hook["secret"])
    emit_events(engine, api_key[0].id, TYPES, message_id=None)
    deliver_until_settled(deps, engine, hook["id"])
    got = receiver.wait_for(3)
    assert all(r.verified_by == (0,) for r in got)
    assert sorted(r.webhook_id for r in got) == event_ids(engine, api_key[0].id)
    assert sorted(r.event["type"] for r in got) == sorted(TYPES)
    for r in got:
        assert r.event["version"] == 1 and r.event["timestamp"].endswith("Z")
        assert r.headers["content-type"] == "application/json"
        assert abs(int(r.headers["webhook-timestamp"]) - time.time()) < 30
    assert delivery_states(engine, hook["id"]) == {"delivered": 3}


def test_a_receiver_answering_500_for_a_while_then_recovering_gets_every_event(
        api, headers, api_key, engine, deps, receivers):
    receiver = receivers(answers=[500] * 7 + [200])
    hook = register(api, headers, receiver.url)
    receiver.secrets.append(hook["secret"])
    emit_events(engine, api_key[0].id, TYPES * 2)
    deliver_until_settled(deps, engine, hook["id"])
    got = receiver.wait_for(7 + 6)
    delivered = {r.webhook_id for r in got if r.status == 200}
    assert delivered == set(event_ids(engine, api_key[0].id))
    assert all(r.verified_by == (0,) for r in got)
    assert delivery_states(engine, hook["id"]) == {"delivered": 6}
    # A retried event keeps its webhook-id, so the receiver can tell a duplicate.
    assert len({r.webhook_id for r in got}) == 6


def test_a_failed_attempt_waits_its_turn_on_the_schedule(api, headers, api_key, engine, deps,
                                                         receivers):
    receiver = receivers(answers=[(500, {}, b"x" * 5000)])
    hook = register(api, headers, receiver.url)
    emit_events(engine, api_key[0].id, [T.MESSAGE_SENT])
    deliver_endpoint(deps, hook["id"])
    (row,) = api.simulate_get(f"/v1/webhooks/{hook['id']}/deliveries",
                              headers=headers).json["deliveries"]
    assert row["state"] == "pending" and row["attempts"] == 1 and row["lastStatus"] == 500
    assert len(row["lastResponse"]) == 1024  # a bounded excerpt
    with engine.connect() as conn:
        wait = conn.execute(text("SELECT extract(epoch FROM due_at - now()) "
                                 "FROM webhook_deliveries")).scalar_one()
    assert SCHEDULE[0] * 0.7 < wait < SCHEDULE[0] * 1.3


def test_retry_after_is_honoured(api, headers, api_key, engine, deps, receivers):
    receiver = receivers(answers=[(503, {"Retry-After": "3600"}, b"busy")])
    hook = register(api, headers, receiver.url)
    emit_events(engine, api_key[0].id, [T.MESSAGE_SENT])
    deliver_endpoint(deps, hook["id"])
    with engine.connect() as conn:
        wait = conn.execute(text("SELECT extract(epoch FROM due_at - now()) "
                                 "FROM webhook_deliveries")).scalar_one()
    assert 3500 < wait <= 3600
    deliver_endpoint(deps, hook["id"])  # not due: nothing more is sent
    assert len(receiver.received) == 1


def test_410_disables_the_endpoint_at_once(api, headers, api_key, engine, deps, receivers):
    receiver = receivers(answers=[410])
    hook = register(api, headers, receiver.url)
    emit_events(engine, api_key[0].id, TYPES)
    deliver_endpoint(deps, hook["id"])
    shown = api.simulate_get(f"/v1/webhooks/{hook['id']}", headers=headers).json
    assert shown["enabled"] is False and shown["disabledReason"] == "gone"
    states = delivery_states(engine, hook["id"])
    assert states.get("failed", 0) >= 1 and "delivered" not in states
    count = len(receiver.received)
    time_passes(engine)
    deliver_endpoint(deps, hook["id"])  # disabled: nothing claimed
    assert len(receiver.received) == count


def test_an_endpoint_failing_for_five_days_is_disabled_and_its_key_sees_why(
        api, headers, api_key, engine, deps, receivers):
    receiver = receivers(answers=[500])
    hook = register(api, headers, receiver.url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE webhook_endpoints SET failing_since = now() - interval "
                          "'5 days 1 minute'"))
    emit_events(engine, api_key[0].id, [T.MESSAGE_SENT])
    deliver_endpoint(deps, hook["id"])
    shown = api.simulate_get(f"/v1/webhooks/{hook['id']}", headers=headers).json
    assert shown["enabled"] is False and shown["disabledReason"] == "failing"
    assert shown["failingSince"] is not None
    # Enabled again by its key: the streak starts over and the pending event goes out.
    receiver.answers[:] = [200]
    answer = api.simulate_patch(f"/v1/webhooks/{hook['id']}", json={"enabled": True},
                                headers=headers)
    assert answer.json["enabled"] is True and answer.json["failingSince"] is None
    deliver_until_settled(deps, engine, hook["id"])
    assert delivery_states(engine, hook["id"]) == {"delivered": 1}


def test_a_success_ends_the_failing_streak(api, headers, api_key, engine, deps, receivers):
    receiver = receivers(answers=[500, 200])
    hook = register(api, headers, receiver.url)
    emit_events(engine, api_key[0].id, [T.MESSAGE_SENT])
    deliver_endpoint(deps, hook["id"])
    assert api.simulate_get(f"/v1/webhooks/{hook['id']}",
                            headers=headers).json["failingSince"] is not None
    deliver_until_settled(deps, engine, hook["id"])
    assert api.simulate_get(f"/v1/webhooks/{hook['id']}",
                            headers=headers).json["failingSince"] is None


def test_rotation_signs_with_the_old_and_the_new_secret_for_a_day(
        api, headers, api_key, engine, deps, receivers):
    receiver = receivers()
    hook = register(api, headers, receiver.url)
    rotated = api.simulate_post(f"/v1/webhooks/{hook['id']}/rotate", headers=headers).json
    assert rotated["secret"] != hook["secret"] and rotated["secret"].startswith("whsec_")
    assert rotated["previousSecretValidUntil"] is not None
    receiver.secrets[:] = [hook["secret"], rotated["secret"]]
    emit_events(engine, api_key[0].id, [T.MESSAGE_SENT])
    deliver_until_settled(deps, engine, hook["id"])
    (got,) = receiver.wait_for(1)
    assert got.verified_by == (0, 1)
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    # A day later only the new secret signs.
    with engine.begin() as conn:
        conn.execute(text("UPDATE webhook_endpoints SET previous_secret_until = now()"))
    emit_events(engine, api_key[0].id, [T.MESSAGE_DELIVERED])
    deliver_until_settled(deps, engine, hook["id"])
    assert receiver.wait_for(2)[1].verified_by == (1,)


def test_a_private_target_is_refused_at_delivery_time(
        api, headers, api_key, engine, make_deps, hook_settings, receivers):
    receiver = receivers()
    hook = register(api, headers, receiver.url)  # allowed when registered …
    strict = make_deps(changed(hook_settings, webhook_private=False))
    emit_events(engine, api_key[0].id, [T.MESSAGE_SENT])
    deliver_endpoint(strict, hook["id"])  # … but the worker's check is what counts
    assert receiver.received == []
    (row,) = api.simulate_get(f"/v1/webhooks/{hook['id']}/deliveries",
                              headers=headers).json["deliveries"]
    assert row["state"] == "pending" and row["lastStatus"] is None
    assert "127.0.0.1, not a public address" in row["lastError"]


def test_redirects_are_not_followed(api, headers, api_key, engine, deps, receivers):
    elsewhere = receivers()
    receiver = receivers(answers=[(307, {"Location": elsewhere.url}, b"")])
    hook = register(api, headers, receiver.url)
    emit_events(engine, api_key[0].id, [T.MESSAGE_SENT])
    deliver_endpoint(deps, hook["id"])
    assert len(receiver.received) == 1 and elsewhere.received == []
    (row,) = api.simulate_get(f"/v1/webhooks/{hook['id']}/deliveries",
                              headers=headers).json["deliveries"]
    assert row["state"] == "pending" and row["lastStatus"] == 307
    assert "redirects are not followed" in row["lastError"]


def test_events_of_one_message_reach_an_endpoint_in_order(
        api, headers, api_key, engine, deps, receivers):
    # The first event fails twice: the later ones of its message wait for it.
    receiver = receivers(answers=lambda n, event: 500 if n < 2 else 200)
    hook = register(api, headers, receiver.url)
    emit_events(engine, api_key[0].id, TYPES, message_id=42)
    deliver_until_settled(deps, engine, hook["id"])
    delivered = [r.event["type"] for r in receiver.received if r.status == 200]
    assert delivered == [str(t) for t in TYPES]


def test_the_per_endpoint_concurrency_cap_holds_across_workers(
        api, headers, api_key, engine, make_deps, hook_settings, receivers):
    lock, in_flight, peak = threading.Lock(), [0], [0]

    def slow(n, event):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.3)
        with lock:
            in_flight[0] -= 1
        return 200

    receiver = receivers(answers=slow)
    hook = register(api, headers, receiver.url)
    emit_events(engine, api_key[0].id, [T.MESSAGE_SENT] * 8)
    # Three workers woken for the same endpoint at once, each allowed 2 in flight.
    workers = [make_deps(changed(hook_settings, webhook_concurrency=2),
                         worker_id=f"worker-{i}") for i in range(3)]
    threads = [threading.Thread(target=deliver_endpoint, args=(w, hook["id"]))
               for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    deliver_until_settled(workers[0], engine, hook["id"])
    assert len(receiver.received) == 8 and peak[0] == 2


def test_a_2xx_after_the_timeout_is_a_failure_and_is_retried(
        api, headers, api_key, engine, make_deps, hook_settings, receivers):
    def late(n, event):
        time.sleep(1.0 if n == 0 else 0)
        return 200

    receiver = receivers(answers=late)
    hook = register(api, headers, receiver.url)
    deps = make_deps(changed(hook_settings, webhook_timeout=0.3))
    emit_events(engine, api_key[0].id, [T.MESSAGE_SENT])
    deliver_endpoint(deps, hook["id"])
    (row,) = api.simulate_get(f"/v1/webhooks/{hook['id']}/deliveries",
                              headers=headers).json["deliveries"]
    assert row["state"] == "pending" and row["lastError"] == "no answer within 0.3 s"
    deliver_until_settled(deps, engine, hook["id"])
    assert delivery_states(engine, hook["id"]) == {"delivered": 1}


def test_a_receiver_that_is_down_gets_every_event_once_it_is_back(
        api, headers, api_key, engine, deps, receivers):
    port = free_port()
    hook = register(api, headers, f"http://127.0.0.1:{port}/hook")
    emit_events(engine, api_key[0].id, TYPES, message_id=7)
    deliver_endpoint(deps, hook["id"])  # nothing listens: refused, retried later
    rows = api.simulate_get(f"/v1/webhooks/{hook['id']}/deliveries",
                            headers=headers).json["deliveries"]
    tried = [r for r in rows if r["attempts"]]
    assert len(tried) == 1 and tried[0]["type"] == str(TYPES[0])  # the message's first only
    assert tried[0]["state"] == "pending" and "ConnectionRefused" in tried[0]["lastError"]
    receiver = receivers(port=port, secrets=[hook["secret"]])
    deliver_until_settled(deps, engine, hook["id"])
    got = receiver.wait_for(3)
    assert [r.event["type"] for r in got] == [str(t) for t in TYPES]  # in order
    assert all(r.verified_by == (0,) for r in got)
    assert sorted(r.webhook_id for r in got) == event_ids(engine, api_key[0].id)
