"""``mailpipe smtp`` in this process, on free ports, over the suite's PostgreSQL and Redis.

``submission`` runs the server's own ``serve`` (both listeners) in a thread
with its own event loop; ``client`` opens smtplib connections to it that
trust the test certificate.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import threading
from dataclasses import dataclass, field

import pytest

from services.smtp.handler import SubmissionHandler
from services.smtp.main import make_handler, serve, tls_context
from shared.db.keys import create_key
from shared.runtime.localservers import free_port
from shared.settings import Settings
from tests.support.stack import wait_for


@dataclass
class Submission:
    """A running ``mailpipe smtp``: its ports, its handler and its TLS trust."""

    settings: Settings
    handler: SubmissionHandler
    cafile: str
    port: int = field(default_factory=free_port)
    tls_port: int = field(default_factory=free_port)

    def start(self) -> Submission:
        ready = threading.Event()

        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self.stop_event = asyncio.Event()
            task = asyncio.create_task(serve(
                self.handler, tls_context(self.settings),
                [(f"127.0.0.1:{self.port}", False), (f"127.0.0.1:{self.tls_port}", True)],
                stop=self.stop_event))
            ready.set()
            await task

        self.thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
        self.thread.start()
        ready.wait(10)
        wait_for(self._listening, 10, "mailpipe smtp to listen", poll=0.05)
        return self

    def _listening(self) -> bool:
        try:
            smtplib.SMTP("127.0.0.1", self.port, timeout=2).quit()
            return True
        except OSError:
            return False

    def stop(self, wait: float = 30) -> None:
        """What SIGTERM does: stop listening, drain, return."""
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(wait)

    def trust(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.cafile)

    def starttls(self, plain_key: str | None = None) -> smtplib.SMTP:
        """A client on the STARTTLS listener, after STARTTLS and (with a key) AUTH."""
        client = smtplib.SMTP("127.0.0.1", self.port, timeout=30)
        client.starttls(context=self.trust())
        client.ehlo()
        if plain_key is not None:
            client.login("apikey", plain_key)
        return client

    def implicit(self, plain_key: str | None = None) -> smtplib.SMTP_SSL:
        """A client on the implicit-TLS listener, after AUTH with ``plain_key``."""
        client = smtplib.SMTP_SSL("127.0.0.1", self.tls_port, timeout=30, context=self.trust())
        client.ehlo()
        if plain_key is not None:
            client.login("apikey", plain_key)
        return client


def submission_on(settings: Settings, engine, broker, redis, cafile) -> Submission:
    """A server with these settings and parts, started (a failed AUTH pauses 0.3 s)."""
    handler = make_handler(settings, engine, broker, redis, failure_pause=0.3)
    return Submission(settings, handler, str(cafile)).start()


def with_certificate(settings: Settings, smtp_cert) -> Settings:
    """``settings`` for a server with the test certificate (and tracking possible)."""
    cert, key = smtp_cert
    return settings.model_copy(update={"smtp_cert_file": cert, "smtp_key_file": key,
                                       "smtp_hostname": "smtp.mailpipe.test",
                                       # Tracking works when a message asks for it.
                                       "secret_key": "s" * 32,
                                       "public_url": "https://mp.example.com"})


@pytest.fixture
def smtp_settings(settings, smtp_cert) -> Settings:
    return with_certificate(settings, smtp_cert)


@pytest.fixture
def start_submission(smtp_settings, smtp_cert, engine, broker, redis):
    """``start(**settings)`` runs a server with these settings changed; stopped after the test."""
    started: list[Submission] = []

    def start(**changes) -> Submission:
        server = submission_on(smtp_settings.model_copy(update=changes), engine, broker, redis,
                               smtp_cert[0])
        started.append(server)
        return server

    yield start
    for server in started:
        if server.thread.is_alive():
            server.stop()


@pytest.fixture
def submission(start_submission) -> Submission:
    return start_submission()


@pytest.fixture
def example_key(engine):
    """(ApiKey, plain key) of a key that may send from example.com only."""
    with engine.begin() as conn:
        return create_key(conn, "smtp", ["example.com"])
