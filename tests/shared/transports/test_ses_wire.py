"""The SES wire's connections over TLS 1.3: ready before a send's slot is taken, kept while
idle although the server's session tickets make them readable, replaced when SES closed them."""

from __future__ import annotations

import http.client
import select
import threading
import time

import pytest

from shared.transports.base import Envelope
from shared.transports.ses import SesTransport

ENVELOPE = Envelope("s@example.com", ("r@example.com",), b"Subject: x\r\n\r\nbody\r\n")


@pytest.fixture
def ses_tls13(fake_ses_over_https, smtp_cert, monkeypatch):
    """The scripted SES over HTTPS (TLS 1.3, the suite's own certificate trusted through
    AWS_CA_BUNDLE); ``accepted_connections`` lists the connections it accepted."""
    ses = fake_ses_over_https
    ses.accepted_connections = []
    accept = ses.server.process_request

    def counted(request, address) -> None:
        ses.accepted_connections.append(address)
        accept(request, address)

    ses.server.process_request = counted
    monkeypatch.setenv("AWS_CA_BUNDLE", str(smtp_cert[0]))
    return ses


def readable(sock) -> bool:
    poll = select.poll()
    poll.register(sock, select.POLLIN)
    return bool(poll.poll(0))


def test_connections_opened_ahead_are_kept_under_tls_1_3(ses_tls13):
    transport = SesTransport.from_environment(region="us-east-1")
    transport.wire.open(4)
    opened = list(transport.wire._idle)
    assert all(c.sock.version() == "TLSv1.3" for c in opened)
    time.sleep(0.2)
    # The server's session tickets wait unread: a poll of the socket alone calls them closed.
    assert all(readable(c.sock) for c in opened)
    together = threading.Barrier(4)

    def send() -> None:
        # Each holds its connection when it paces: four sends, four connections at once.
        transport.send(ENVELOPE, lambda: together.wait(timeout=5))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ses_tls13.accepted) == 4
    assert len(ses_tls13.accepted_connections) == 4  # the four opened ahead, no new one


def test_the_connection_is_ready_before_the_slot_is_taken(ses_tls13, monkeypatch):
    events = []
    connect = http.client.HTTPSConnection.connect

    def connecting(self) -> None:
        connect(self)
        events.append("connected (TCP and TLS)")

    monkeypatch.setattr(http.client.HTTPSConnection, "connect", connecting)
    transport = SesTransport.from_environment(region="us-east-1")  # nothing opened ahead
    transport.send(ENVELOPE, lambda: events.append("paced"))
    assert events == ["connected (TCP and TLS)", "paced"]
    assert len(ses_tls13.accepted) == 1


def test_a_connection_ses_closed_while_the_send_waited_is_replaced_and_paced_again(ses_tls13):
    ses_tls13.server.RequestHandlerClass.timeout = 0.05  # SES's idle timeout, made short
    transport = SesTransport.from_environment(region="us-east-1")
    transport.wire.open(1)
    paces = []

    def pace() -> None:
        paces.append(time.monotonic())
        if len(paces) == 1:
            time.sleep(0.3)  # a long wait for the slot: SES closes the idle connection

    assert transport.send(ENVELOPE, pace)  # never "unknown": not written to a closed one
    assert len(paces) == 2  # a fresh slot: the new connection's handshake made the first late
    assert ses_tls13.requests == 1 and len(ses_tls13.accepted_connections) == 2


def test_a_pace_that_refuses_leaves_the_connection_for_the_next_send(ses_tls13):
    from shared.errors import Failure, TransportError

    transport = SesTransport.from_environment(region="us-east-1")

    def refuse() -> None:
        raise TransportError("not sent: no slot", Failure.TRANSIENT)

    with pytest.raises(TransportError, match="no slot"):
        transport.send(ENVELOPE, refuse)
    assert transport.send(ENVELOPE)
    assert ses_tls13.requests == 1 and len(ses_tls13.accepted_connections) == 1


def test_a_tls_connection_the_server_closed_while_idle_is_replaced(ses_tls13):
    transport = SesTransport.from_environment(region="us-east-1")
    ses_tls13.close_after_answer = True
    for _ in range(3):
        assert transport.send(ENVELOPE)  # never "unknown": the closed one is not reused
        time.sleep(0.05)  # idle: the server's close has arrived
    assert ses_tls13.requests == 3 and len(ses_tls13.accepted_connections) == 3


class LostCredentials:
    """boto3's refreshing credentials whose source stopped answering (an expired role)."""

    def get_frozen_credentials(self):
        from botocore.exceptions import CredentialRetrievalError

        raise CredentialRetrievalError(provider="assume-role", error_msg="token expired")


def test_credentials_that_cannot_be_refreshed_send_nothing_and_pause_the_fleet(ses_tls13):
    from shared.errors import Failure, TransportError

    transport = SesTransport.from_environment(region="us-east-1")
    transport.wire.signer.credentials = LostCredentials()
    with pytest.raises(TransportError) as caught:
        transport.send(ENVELOPE, lambda: None)
    assert caught.value.failure is Failure.TRANSIENT and caught.value.pauses_fleet
    assert ses_tls13.accepted == []
