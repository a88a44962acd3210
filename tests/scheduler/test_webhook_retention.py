"""Retention of outbound webhooks: old events go with their settled deliveries, in bounded
batches; what an enabled endpoint still has to deliver, and what a replay can reach, stays."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from services.scheduler.retention import RetentionPolicy, prune_expired, prune_step
from shared.db.outbox import OutboundEvent, emit
from shared.db.webhook_deliveries import claim_deliveries, list_deliveries, replay
from shared.webhooks.events import OutboundEventType as T
from tests.support.webhooks import add_endpoint

DAY = timedelta(days=1)
POLICY = RetentionPolicy(events=None, orphans=None, bodies=None, idempotency=None,
                         webhooks=30 * DAY)


def emit_aged(engine, key_id: int, days: float, type: T = T.MESSAGE_SENT,
              state: str | None = None) -> int:
    """An outbound event that occurred ``days`` ago, its deliveries (one per matching enabled
    endpoint) moved to ``state`` when given, settled then too; the event's id."""
    at = datetime.now(UTC) - days * DAY
    with engine.begin() as conn:
        emit(conn, [OutboundEvent(type, key_id, at, {"n": days}, topic_id="t")])
        event_id = conn.execute(text("SELECT max(id) FROM webhook_events")).scalar_one()
        if state:
            conn.execute(text("UPDATE webhook_deliveries SET state = :s, due_at = :at, "
                              "created_at = :at WHERE event_id = :e"),
                         {"s": state, "at": at, "e": event_id})
    return event_id


def stored(engine) -> tuple[set[int], set[tuple[int, str]]]:
    """The event ids left, and (event id, state) of the deliveries left."""
    with engine.connect() as conn:
        events = set(conn.execute(text("SELECT id FROM webhook_events")).scalars())
        deliveries = {tuple(r) for r in conn.execute(
            text("SELECT event_id, state FROM webhook_deliveries"))}
    return events, deliveries


def test_old_settled_events_go_with_their_deliveries_and_recent_ones_stay(engine, api_key):
    key_id = api_key[0].id
    add_endpoint(engine, key_id, event_types=[T.MESSAGE_SENT.value, T.MESSAGE_FAILED.value])
    emit_aged(engine, key_id, 40, state="delivered")
    emit_aged(engine, key_id, 40, T.MESSAGE_FAILED, state="failed")
    emit_aged(engine, key_id, 40, T.MESSAGE_OPENED)  # no endpoint wants it
    recent = emit_aged(engine, key_id, 20, state="delivered")
    recent_failed = emit_aged(engine, key_id, 29, T.MESSAGE_FAILED, state="failed")

    counts = prune_step(engine, POLICY)

    assert (counts["webhook_events"], counts["webhook_deliveries"],
            counts["webhook_undelivered"]) == (3, 2, 0)
    assert stored(engine) == ({recent, recent_failed},
                              {(recent, "delivered"), (recent_failed, "failed")})


def test_an_old_event_an_enabled_endpoint_still_has_to_deliver_stays(engine, api_key):
    key_id = api_key[0].id
    add_endpoint(engine, key_id)
    add_endpoint(engine, key_id)
    pending = emit_aged(engine, key_id, 40)  # two pending deliveries
    delivering = emit_aged(engine, key_id, 40)
    with engine.begin() as conn:  # one endpoint got each; the other still has it due
        conn.execute(text("UPDATE webhook_deliveries SET state = 'delivered' WHERE id IN "
                          "(SELECT min(id) FROM webhook_deliveries GROUP BY event_id)"))
        conn.execute(text("UPDATE webhook_deliveries SET state = 'delivering' "
                          "WHERE event_id = :e AND state = 'pending'"), {"e": delivering})

    assert prune_step(engine, POLICY)["webhook_events"] == 0
    assert stored(engine) == ({pending, delivering},
                              {(pending, "delivered"), (pending, "pending"),
                               (delivering, "delivered"), (delivering, "delivering")})


def test_a_disabled_endpoints_old_undelivered_events_go_and_recent_ones_wait(engine, api_key):
    key_id = api_key[0].id
    endpoint = add_endpoint(engine, key_id)
    old = emit_aged(engine, key_id, 40)
    recent = emit_aged(engine, key_id, 3)
    with engine.begin() as conn:  # failing for 5 days, then disabled
        conn.execute(text("UPDATE webhook_endpoints SET enabled = false, "
                          "disabled_reason = 'failing' WHERE id = :id"), {"id": endpoint})

    counts = prune_step(engine, POLICY)

    assert (counts["webhook_events"], counts["webhook_undelivered"]) == (1, 1)
    assert stored(engine) == ({recent}, {(recent, "pending")}) and old not in stored(engine)[0]


def test_a_replay_within_the_period_still_delivers_after_pruning(engine, api_key):
    key_id = api_key[0].id
    endpoint = add_endpoint(engine, key_id)
    emit_aged(engine, key_id, 45, state="delivered")
    kept = [emit_aged(engine, key_id, days, state="failed") for days in (25, 2)]
    assert prune_step(engine, POLICY)["webhook_events"] == 1

    now = datetime.now(UTC)
    with engine.begin() as conn:
        assert replay(conn, endpoint, start=now - 60 * DAY, end=now, types=None,
                      states=["failed"], limit=100) == 2
    with engine.begin() as conn:
        claimed = claim_deliveries(conn, endpoint, worker_id="w", slots=10, lease=60)
        listed = list_deliveries(conn, endpoint, before=2**62, limit=10)
    assert sorted(c.event_id for c in claimed) == kept
    assert all(c.data["n"] in (25, 2) for c in claimed)
    assert [d.state for d in listed] == ["delivering", "delivering", "failed", "failed"]


def test_a_replay_under_way_keeps_its_events_without_waiting(engine, api_key):
    key_id = api_key[0].id
    endpoint = add_endpoint(engine, key_id)
    old = emit_aged(engine, key_id, 40, state="delivered")
    now = datetime.now(UTC)
    with engine.connect() as replaying:
        replaying.execute(text("SET lock_timeout = '5s'"))
        assert replay(replaying, endpoint, start=now - 60 * DAY, end=now, types=None,
                      states=None, limit=10) == 1
        # Still uncommitted: pruning skips the event (SKIP LOCKED) rather than waiting.
        result: dict = {}
        pruner = threading.Thread(target=lambda: result.update(prune_step(engine, POLICY)))
        pruner.start()
        pruner.join(10)
        assert not pruner.is_alive() and result["webhook_events"] == 0
        replaying.commit()
    # Committed: the event has a pending delivery to an enabled endpoint, so it stays.
    assert prune_step(engine, POLICY)["webhook_events"] == 0
    assert stored(engine) == ({old}, {(old, "delivered"), (old, "pending")})


def test_batches_are_bounded_and_the_job_runs_until_done(engine, api_key, settings):
    key_id = api_key[0].id
    add_endpoint(engine, key_id)
    for _ in range(25):
        emit_aged(engine, key_id, 40, state="delivered")
    small = RetentionPolicy(events=None, orphans=None, bodies=None, idempotency=None,
                            webhooks=30 * DAY, batch=10)
    assert prune_step(engine, small)["webhook_events"] == 10
    assert len(stored(engine)[0]) == 15
    totals = prune_expired(engine, settings.model_copy(update={"retention_batch": 10}))
    assert (totals["webhook_events"], totals["webhook_deliveries"]) == (15, 15)
    assert stored(engine) == (set(), set())


def test_webhook_retention_defaults_to_30_days_and_follows_retention_days(settings):
    def policy(**update) -> RetentionPolicy:
        return RetentionPolicy.from_settings(settings.model_copy(update=update))

    assert policy(retention_days=90).webhooks == 30 * DAY
    assert policy(retention_days=7).webhooks == 7 * DAY
    assert policy(retention_days=90, retention_webhooks_days=60).webhooks == 60 * DAY
    assert policy(retention_days=90, retention_webhooks_days=0).webhooks is None
    assert not policy(retention_days=0).active
    assert policy(retention_days=0, retention_webhooks_days=10).active
