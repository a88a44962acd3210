"""A batch's end with PostgreSQL gone keeps SES's answers; an account SES refuses pauses
the fleet, and it resumes by itself once the account answers again.

The first test stops its own PostgreSQL (tests/e2e/test_infrastructure_faults.py's
``Servers``); the second runs on the suite's, with SES over HTTP
(tests/support/fake_ses.py) answering ``ExpiredTokenException`` to sends and
GetAccount alike until the credentials are "fixed".
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import falcon.testing
import pytest
import redis as redis_lib
from prometheus_client.core import Metric
from sqlalchemy import text

from services.api.app import ApiDeps, create_app
from services.recorder.record import record_outcomes
from services.scheduler.quota import watch_pause
from services.sender.batch import send_batch
from shared.broker.payloads import OutcomeBatch, SendBatch, decode_outcomes
from shared.broker.queues import OUTCOME_QUEUE, make_broker
from shared.db.engine import make_engine
from shared.errors import SendingPaused
from shared.metrics.gauges import FleetCollector
from shared.rate.pause import PAUSE_KEY, FleetPause
from shared.settings import load_settings
from shared.transports.ses import SesTransport
from tests.e2e.test_infrastructure_faults import Servers
from tests.sender.test_batch import one_content_each
from tests.support.pump import drain, ses_deps


@pytest.fixture
def servers():
    root = Path(tempfile.mkdtemp(prefix="mailpipe-cleanup-"))
    servers = Servers(root)
    yield servers
    servers.close()
    shutil.rmtree(root, ignore_errors=True)


def record_all(engine, redis) -> None:
    for outcomes in drain(redis, OUTCOME_QUEUE, decode_outcomes):
        record_outcomes(engine, outcomes, max_attempts=8)


@pytest.mark.timeout(120)
def test_sends_accepted_before_postgresql_stopped_at_cleanup_are_recorded_sent(
    servers, fake_ses, tmp_path
):
    settings = load_settings(
        database_url=servers.postgres.url, redis_url=servers.redis.url, transport="ses",
        default_from="sender@example.com", send_rate=10_000, _env_file=None)
    engine = make_engine(settings.database_url)
    client = redis_lib.Redis.from_url(settings.redis_url)
    broker = make_broker(settings)
    from shared.db.keys import create_key

    with engine.begin() as conn:
        key, _ = create_key(conn, "k", [])
    ids = one_content_each(engine, key.id, 6)  # one SendEmail each
    calls = iter(range(100))

    def stop_after_three_sends() -> bool:
        # Checked before the claim and before each send: the claim, three
        # sends, then a SIGTERM arrives as PostgreSQL goes down.
        if next(calls) < 4:
            return False
        servers.stop_postgres()
        return True

    try:
        with pytest.raises(SendingPaused):
            send_batch(ses_deps(settings, engine, broker, client, stopping=stop_after_three_sends),
                       SendBatch(tuple(ids)))
        assert len(fake_ses.accepted) == 3
        servers.start_postgres()
        record_all(engine, client)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, state, provider_message_id FROM messages "
                                     "ORDER BY id")).all()
    finally:
        engine.dispose()
        broker.close()
        client.close()
    # Every send SES accepted is recorded sent with its MessageId; the three
    # held unsent went back through the recorder: queued, never unknown.
    assert [r.state for r in rows] == ["sent"] * 3 + ["queued"] * 3
    assert all(r.provider_message_id for r in rows[:3])


class Expiring:
    """Makes ``fake_ses`` answer every request 403 ExpiredTokenException while ``on``."""

    def __init__(self, ses) -> None:
        self.on = True
        base, expiring = ses.server.RequestHandlerClass, self

        class Handler(base):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                if not expiring.on:
                    return super().do_POST()
                self.rfile.read(int(self.headers["Content-Length"]))
                self._refuse()

            def do_GET(self) -> None:  # noqa: N802
                if not expiring.on:
                    return super().do_GET()
                self._refuse()

            def _refuse(self) -> None:
                self._answer(403, {"message": "The security token included in the request "
                                              "is expired"}, "ExpiredTokenException")

        ses.server.RequestHandlerClass = Handler


def gauge(collector: FleetCollector, name: str) -> float | None:
    found: list[Metric] = [m for m in collector.collect() if m.name == name]
    return found[0].samples[0].value if found else None


@pytest.mark.timeout(60)
def test_an_expired_token_pauses_the_fleet_and_sending_resumes_once_it_is_fixed(
    settings, engine, broker, redis, api_key, fake_ses
):
    expiring = Expiring(fake_ses)
    ids = one_content_each(engine, api_key[0].id, 3)
    pause = FleetPause(engine, redis, first_probe=0.2)
    sender = replace(ses_deps(settings, engine, broker, redis), pause=pause)
    api = falcon.testing.TestClient(create_app(ApiDeps(settings, engine, broker, redis)))
    metrics = FleetCollector(settings, engine, redis)
    ses = SesTransport.from_environment(region="us-east-1").client  # the scheduler's
    assert gauge(metrics, "mailpipe_sending_paused") == 0.0

    with pytest.raises(SendingPaused, match="ExpiredToken"):
        send_batch(sender, SendBatch(tuple(ids)))
    # Not failed, no attempt spent: the account's problem, not the messages'.
    with engine.connect() as conn:
        assert conn.execute(text("SELECT DISTINCT state, attempts FROM messages")).all() == [
            ("queued", 0)]
    assert fake_ses.accepted == []
    health = api.simulate_get("/health").json
    assert health["sending"].startswith("paused: SES ExpiredTokenException")
    assert gauge(metrics, "mailpipe_sending_paused") == 1.0
    # A retried batch sends nothing while paused, and a flushed Redis does not lift it.
    with pytest.raises(SendingPaused, match="paused"):
        send_batch(sender, SendBatch(tuple(ids)))
    redis.delete(PAUSE_KEY)
    assert watch_pause(ses, pause) is False  # mirrored again; the probe still refused
    assert redis.get(PAUSE_KEY)
    requests = fake_ses.requests

    expiring.on = False  # the operator fixed the credentials
    deadline = time.monotonic() + 10
    while not watch_pause(ses, pause):
        assert time.monotonic() < deadline, "the fleet did not resume"
        time.sleep(0.1)
    assert api.simulate_get("/health").json["sending"] == "ok"
    assert gauge(metrics, "mailpipe_sending_paused") == 0.0
    result = send_batch(sender, SendBatch(tuple(ids)))
    record_outcomes(engine, OutcomeBatch(result.outcomes), max_attempts=8)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT DISTINCT state, attempts FROM messages")).all() == [
            ("sent", 1)]
    assert fake_ses.requests == requests + 3 and len(fake_ses.accepted) == 3  # each once
