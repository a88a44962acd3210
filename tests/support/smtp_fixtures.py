"""pytest fixtures for real SMTP servers (loaded by tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.support.smtp_server import SmtpServer, make_certificate


@pytest.fixture(scope="session")
def smtp_cert(tmp_path_factory):
    """(certificate file, key file) of a self-signed certificate for 127.0.0.1."""
    return make_certificate(tmp_path_factory.mktemp("smtp-cert"))


@pytest.fixture
def smtp_servers(smtp_cert):
    """``start(mode, users=None)`` runs a server: mode plain, starttls or tls."""
    started: list[SmtpServer] = []

    def start(mode: str = "plain", users: dict[str, str] | None = None) -> SmtpServer:
        server = SmtpServer(mode, smtp_cert, users).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
