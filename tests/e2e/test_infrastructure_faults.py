"""PostgreSQL or Redis restarting under a live service: answers degrade, nothing is lost.

These tests stop and start servers, so they run their own PostgreSQL and
Redis instead of the session's (tests/e2e/test_chaos.py does the same with the
four real processes).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path

import falcon.testing
import pytest
import redis as redis_lib
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from services.api.app import ApiDeps, create_app
from services.scheduler.dispatch import dispatch_all_due
from shared.broker.payloads import Outcome, OutcomeBatch, OutcomeKind
from shared.broker.queues import OUTCOME_QUEUE, SEND_QUEUE, make_broker, publish_outcomes
from shared.db.engine import make_engine, retry_while_database_down
from shared.db.keys import create_key
from shared.db.migrate import upgrade
from shared.runtime.localservers import start_postgres, start_redis
from shared.settings import load_settings


class Servers:
    """A PostgreSQL and a Redis that a test may take down and bring back on the same port."""

    def __init__(self, root) -> None:
        self.root = root
        self.postgres = start_postgres(root / "pg", fsync=False)
        self.redis = start_redis(root / "redis-0")
        self.redis_starts = 0
        upgrade(self.postgres.url)

    def stop_postgres(self) -> None:
        self.postgres.stop()

    def start_postgres(self) -> None:
        self.postgres = start_postgres(self.root / "pg", self.postgres.port, fsync=False)

    def stop_redis(self) -> None:
        self.redis.stop()

    def start_redis_empty(self) -> None:
        self.redis_starts += 1
        self.redis = start_redis(self.root / f"redis-{self.redis_starts}", self.redis.port,
                                 password=self.redis.password)

    def close(self) -> None:
        self.redis.stop()
        self.postgres.stop()


@pytest.fixture(scope="module")
def servers():
    # Not tmp_path_factory: other pytest runs on the machine prune old tmp_path
    # folders, and a data folder must outlive its server's restart.
    root = Path(tempfile.mkdtemp(prefix="mailpipe-faults-"))
    servers = Servers(root)
    yield servers
    servers.close()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def fault_settings(servers, tmp_path):
    return load_settings(
        database_url=servers.postgres.url, redis_url=servers.redis.url, transport="file",
        file_dir=tmp_path / "outbox", default_from="sender@example.com", send_rate=10_000,
        queue_timeout=300, _env_file=None,
    )


@pytest.fixture
def parts(servers, fault_settings):
    """An engine, a broker and a Redis client, as a process holds them, on clean data."""
    engine = make_engine(fault_settings.database_url, pool_size=2)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE events, messages, contents, api_keys RESTART IDENTITY "
                          "CASCADE"))
        _, key = create_key(conn, "faults", [])
    client = redis_lib.Redis.from_url(fault_settings.redis_url)
    client.flushall()
    broker = make_broker(fault_settings)
    yield engine, broker, client, key
    broker.close()
    client.close()
    engine.dispose()


@pytest.fixture
def api(fault_settings, parts):
    engine, broker, client, key = parts
    return falcon.testing.TestClient(create_app(ApiDeps(fault_settings, engine, broker, client)),
                                     headers={"x-api-key": key})


def _post(api, email: str):
    return api.simulate_post("/v1/messages", json={"messages": [
        {"topicId": "faults", "emails": [email], "subject": "s", "content": "<p>c</p>"}]})


def test_api_answers_503_json_while_the_database_is_down_then_recovers(api, servers):
    assert _post(api, "before@example.com").status_code == 200
    servers.stop_postgres()
    try:
        answer = _post(api, "during@example.com")
        assert answer.status_code == 503
        assert answer.json["code"] == "database_unavailable"
        assert answer.headers["retry-after"] == "5"
        health = api.simulate_get("/health")
        assert health.status_code == 503
        assert health.json["database"].startswith("unavailable")
    finally:
        servers.start_postgres()
    # The pool's stale connections are replaced on checkout: no failed request after.
    assert _post(api, "after@example.com").status_code == 200
    assert api.simulate_get("/health").status_code == 200


def test_messages_accepted_while_redis_is_down_are_enqueued_once_it_is_back(
    api, servers, parts, fault_settings
):
    engine, broker, _, _ = parts
    servers.stop_redis()
    try:
        answer = _post(api, "queued@example.com")
        # Postgres is the truth: the row is stored and the request succeeds.
        assert answer.status_code == 200
        assert answer.json["messages"][0]["status"] == "queued"
        health = api.simulate_get("/health")
        assert health.status_code == 503 and health.json["redis"].startswith("unavailable")
    finally:
        servers.start_redis_empty()
    # The queue message never reached Redis, and Redis came back empty: the
    # scheduler's next dispatch (with the same broker that saw Redis go)
    # notices and enqueues the row again without waiting for queue_timeout.
    dispatch_all_due(engine, broker, fault_settings)
    fresh = redis_lib.Redis.from_url(fault_settings.redis_url)
    try:
        assert fresh.llen(f"dramatiq:{SEND_QUEUE}") == 1
    finally:
        fresh.close()
    assert api.simulate_get("/health").status_code == 200


def test_outcomes_published_while_redis_restarts_are_not_dropped(servers, parts,
                                                                 fault_settings):
    _, broker, _, _ = parts
    batch = OutcomeBatch((Outcome(1, 1, OutcomeKind.SENT, time.time(), "ses-1"),))
    servers.stop_redis()
    errors: list[BaseException] = []

    def publish() -> None:
        try:
            publish_outcomes(broker, batch, patience=30)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    publisher = threading.Thread(target=publish)
    try:
        publisher.start()
        time.sleep(1.0)
        assert publisher.is_alive(), f"gave up while Redis was down: {errors}"
    finally:
        servers.start_redis_empty()
    publisher.join(15)
    assert not publisher.is_alive() and errors == []
    fresh = redis_lib.Redis.from_url(fault_settings.redis_url)
    try:
        assert fresh.llen(f"dramatiq:{OUTCOME_QUEUE}") == 1
    finally:
        fresh.close()


def test_outcomes_are_raised_not_dropped_once_patience_runs_out(servers, parts):
    _, broker, _, _ = parts
    batch = OutcomeBatch((Outcome(1, 1, OutcomeKind.SENT, time.time(), "ses-1"),))
    servers.stop_redis()
    try:
        started = time.monotonic()
        with pytest.raises(redis_lib.ConnectionError):
            publish_outcomes(broker, batch, patience=0.5)
        assert time.monotonic() - started < 5
    finally:
        servers.start_redis_empty()


def test_a_step_waits_out_a_database_restart(servers, parts):
    engine = parts[0]

    def step() -> int:
        with engine.begin() as conn:
            return conn.execute(text("SELECT count(*) FROM messages")).scalar_one()

    step()  # the pool now holds a connection the restart will break
    servers.stop_postgres()
    result: list[int] = []
    waiter = threading.Thread(target=lambda: result.append(
        retry_while_database_down(step, patience=30, what="a test step")))
    try:
        waiter.start()
        time.sleep(1.0)
        assert waiter.is_alive() and result == []
    finally:
        servers.start_postgres()
    waiter.join(20)
    assert result == [0]


def test_a_step_raises_once_its_patience_runs_out(servers, parts):
    engine = parts[0]
    servers.stop_postgres()
    try:
        with pytest.raises(OperationalError):
            retry_while_database_down(lambda: engine.connect().close(), patience=0.5,
                                      what="a test step")
    finally:
        servers.start_postgres()
