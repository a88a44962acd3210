"""Webhook delivery under test: the real worker step on the suite's PostgreSQL and Redis,
posting to real HTTP receivers (tests/support/webhook_receivers)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import falcon.testing
import pytest
from sqlalchemy import text

from services.api.app import ApiDeps, create_app
from services.webhooks.deliver import WebhookDeps, deliver_endpoint
from shared.db.outbox import OutboundEvent, emit
from shared.webhooks.events import OutboundEventType as T
from shared.webhooks.signing import webhook_box
from tests.support.settings import changed
from tests.support.webhook_receivers import Receiver


@pytest.fixture
def hook_settings(settings):
    """Receivers are http on 127.0.0.1: allowed here, as an operator could."""
    return changed(settings, secret_key="webhook test secret", webhook_allow_http=True,
                   webhook_private=True, webhook_timeout=3.0, webhook_concurrency=4)


@pytest.fixture
def api(hook_settings, engine, broker, redis):
    return falcon.testing.TestClient(create_app(ApiDeps(hook_settings, engine, broker, redis)))


@pytest.fixture
def make_deps(engine, broker, redis):
    pools = []

    def make(settings, **overrides) -> WebhookDeps:
        pool = ThreadPoolExecutor(8)
        pools.append(pool)
        return WebhookDeps(settings=settings, engine=engine, broker=broker, redis=redis,
                           box=webhook_box(settings.secret_key), pool=pool, **overrides)

    yield make
    for pool in pools:
        pool.shutdown()


@pytest.fixture
def deps(make_deps, hook_settings):
    return make_deps(hook_settings)


@pytest.fixture
def receivers():
    made: list[Receiver] = []

    def make(**options) -> Receiver:
        made.append(Receiver(**options))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


@pytest.fixture
def headers(api_key):
    return {"x-api-key": api_key[1]}


def register(api, headers, url: str, **fields) -> dict:
    """POST /v1/webhooks; the answer (with the secret)."""
    answer = api.simulate_post("/v1/webhooks", json={"url": url, **fields}, headers=headers)
    assert answer.status_code == 201, answer.json
    return answer.json


def emit_events(engine, key_id: int, types: list[T], *, message_id: int | None = None,
                topic_id: str | None = None) -> None:
    """Write events to the outbox, as the state changes that cause them do."""
    with engine.begin() as conn:
        emit(conn, [OutboundEvent(t, key_id, datetime.now(UTC), {"n": i, "messageId": message_id},
                                  message_id=message_id, topic_id=topic_id)
                    for i, t in enumerate(types)])


def time_passes(engine) -> None:
    """Every pending retry's time has come (the schedule's waits are minutes to hours)."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE webhook_deliveries SET due_at = now() "
                          "WHERE state = 'pending' AND due_at > now()"))


def deliver_until_settled(deps: WebhookDeps, engine, endpoint_id: int, rounds: int = 20) -> None:
    """Run the worker's step, letting retry waits pass, until nothing is pending."""
    for _ in range(rounds):
        deliver_endpoint(deps, endpoint_id)
        if not delivery_states(engine, endpoint_id).get("pending"):
            return
        time_passes(engine)
    raise AssertionError(f"still pending after {rounds} rounds: "
                         f"{delivery_states(engine, endpoint_id)}")


def delivery_states(engine, endpoint_id: int) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(text(
            "SELECT state, count(*) FROM webhook_deliveries WHERE endpoint_id = :e "
            "GROUP BY state"), {"e": endpoint_id}).all())


def event_ids(engine, key_id: int) -> list[str]:
    with engine.connect() as conn:
        return [f"evt_{i}" for (i,) in conn.execute(text(
            "SELECT id FROM webhook_events WHERE api_key_id = :k ORDER BY id"), {"k": key_id})]
