"""Real servers for the whole suite: PostgreSQL, Redis and moto's SES, on free ports.

Each test starts from empty tables and an empty Redis.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
import redis as redis_lib
from sqlalchemy import text

from shared.broker.queues import make_broker
from shared.db.engine import make_engine
from shared.db.keys import create_key
from shared.db.migrate import upgrade
from shared.runtime.localservers import free_port, start_postgres, start_redis
from shared.settings import Settings, load_settings


@pytest.fixture(scope="session")
def servers_dir():
    path = Path(tempfile.mkdtemp(prefix="mailpipe-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres(servers_dir):
    server = start_postgres(servers_dir / "pg", fsync=False)
    upgrade(server.url)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(servers_dir):
    server = start_redis(servers_dir / "redis")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ses_endpoint():
    """moto's server, in this process, so tests can read what SES received."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="session")
def aws_env(ses_endpoint):
    """Standard AWS configuration pointing boto3 at moto; child processes inherit it."""
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_SESV2": ses_endpoint,
        "AWS_ENDPOINT_URL_SES": ses_endpoint,
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield env
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def settings(postgres, redis_server, tmp_path) -> Settings:
    return load_settings(
        database_url=postgres.url,
        redis_url=redis_server.url,
        transport="file",
        file_dir=tmp_path / "outbox",
        default_from="sender@example.com",
        send_rate=10_000,
        _env_file=None,
    )


@pytest.fixture
def engine(settings):
    engine = make_engine(settings.database_url)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE events, messages, contents, api_keys, sending_pause, "
                          "webhook_events RESTART IDENTITY CASCADE"))
    yield engine
    engine.dispose()


@pytest.fixture
def redis(settings):
    client = redis_lib.Redis.from_url(settings.redis_url)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def broker(settings, redis):
    broker = make_broker(settings)
    yield broker
    broker.close()


@pytest.fixture
def api_key(engine):
    """(ApiKey, plain key) for a key allowed to send from any domain."""
    with engine.begin() as conn:
        return create_key(conn, "test", [])


# Real SMTP servers (aiosmtpd) for the SMTP transport and compat API tests.
from tests.support.smtp_fixtures import smtp_cert, smtp_servers  # noqa: E402, F401


@pytest.fixture
def fake_ses(monkeypatch):
    """A scripted SES endpoint (throttling, 5xx, timeouts, GetAccount) that boto3 talks to."""
    from tests.support.fake_ses import ScriptedSes

    ses = ScriptedSes()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SESV2", ses.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    yield ses
    ses.close()


# A signing authority playing SNS, and the HTTPS side that serves its certificate.
@pytest.fixture(scope="session")
def ca():
    from tests.support.sns import SigningAuthority

    return SigningAuthority()


@pytest.fixture
def sns_http(ca):
    from tests.support.sns import CERT_URL, FakeSnsHttp

    return FakeSnsHttp({CERT_URL: ca.pem})
