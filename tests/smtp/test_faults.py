"""PostgreSQL gone mid-submission: 451, nothing half stored, and the client's retry is stored
once. Its own PostgreSQL and Redis (tests/e2e/test_infrastructure_faults.Servers), since
the test stops and starts the database."""

from __future__ import annotations

from email import policy

import pytest
import redis as redis_lib
from sqlalchemy import text

from shared.broker.queues import make_broker
from shared.db.engine import make_engine
from shared.db.keys import create_key
from shared.settings import load_settings
from tests.e2e import test_infrastructure_faults as faults
from tests.smtp.conftest import submission_on, with_certificate
from tests.smtp.messages import korean_message

#: Its own PostgreSQL and Redis, which a test may stop and start (a module's).
servers = faults.servers


@pytest.fixture
def faulty(servers, smtp_cert, tmp_path):
    """(a running submission server on ``servers``, a plain key)."""
    settings = with_certificate(load_settings(
        database_url=servers.postgres.url, redis_url=servers.redis.url, transport="file",
        file_dir=tmp_path / "outbox", send_rate=10_000, _env_file=None), smtp_cert)
    engine = make_engine(settings.database_url, pool_size=2)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE messages, contents, api_keys RESTART IDENTITY CASCADE"))
        _, key = create_key(conn, "faults", [])
    client = redis_lib.Redis.from_url(settings.redis_url)
    broker = make_broker(settings)
    server = submission_on(settings, engine, broker, client, smtp_cert[0])
    yield server, key
    server.stop()
    broker.close()
    client.close()
    engine.dispose()


def stored(engine) -> list[str]:
    with engine.connect() as conn:
        return conn.execute(text("SELECT to_addr FROM messages ORDER BY id")).scalars().all()


def test_postgres_stopped_during_data_gives_451_then_the_retry_is_stored_once(
        faulty, servers):
    server, key = faulty
    message = korean_message(bcc=None).as_bytes(policy=policy.SMTP)
    recipients = ["to@dest.test", "cc@dest.test"]
    client = server.starttls(key)
    client.mail("news@example.com")
    for recipient in recipients:
        client.rcpt(recipient)
    assert client.docmd("DATA")[0] == 354
    client.send(message)
    servers.stop_postgres()  # the database goes while the message is on the wire
    try:
        client.send(b".\r\n")
        code, reply = client.getreply()
        assert code == 451 and reply.startswith(b"4.3.0")
        # The client asks again while it is down: 451 at once (its key cannot be read).
        client.rset()
        code, reply = client.mail("news@example.com")
        assert code == 451 and reply.startswith(b"4.3.0")
    finally:
        servers.start_postgres()
    assert stored(server.handler.engine) == []
    client.rset()
    client.mail("news@example.com")
    for recipient in recipients:
        client.rcpt(recipient)
    assert client.data(message)[0] == 250
    # Unsure of the answer, it sends once more: 250, nothing new.
    assert client.sendmail("news@example.com", recipients, message) == {}
    client.quit()
    assert stored(server.handler.engine) == recipients
