"""The SMTP transport against a real SMTP server (aiosmtpd): what arrived, and
how every failure is classified for the pipeline's retry decision."""

from __future__ import annotations

import time

import pytest

from shared.errors import Failure, TransportError
from shared.transports.base import Envelope
from shared.transports.smtp import SmtpTransport, TlsMode, parse_smtp_url, server_url
from tests.support.smtp_server import client_context

RAW = (b"From: sender@example.com\nTo: a@example.net\nSubject: Hi\n"
       b"Message-ID: <id-1@example.com>\n\n.leading dot\nline two\n")


def envelope(*recipients: str) -> Envelope:
    return Envelope("sender@example.com", recipients or ("a@example.net",), RAW)


@pytest.fixture
def transport_for(smtp_cert):
    made = []

    def make(url: str, username: str | None = None, password: str | None = None,
             timeout: float = 5.0) -> SmtpTransport:
        server = parse_smtp_url(url)
        if username:
            from dataclasses import replace

            server = replace(server, username=username, password=password)
        transport = SmtpTransport(server, ssl_context=client_context(smtp_cert[0]),
                                  timeout=timeout)
        made.append(transport)
        return transport

    yield make
    for transport in made:
        transport.close()


def test_plain_send_delivers_envelope_and_bytes(smtp_servers, transport_for):
    server = smtp_servers("plain")
    provider_id = transport_for(server.url).send(envelope("a@example.net", "b@example.org"))
    assert provider_id == "id-1@example.com"
    [got] = server.received
    assert got.mail_from == "sender@example.com"
    assert got.rcpt_tos == ("a@example.net", "b@example.org")
    # CRLF on the wire, dot-stuffing undone by the server: the message as rendered.
    assert got.data.replace(b"\r\n", b"\n") == RAW
    assert not got.tls


def test_starttls_upgrades_before_sending(smtp_servers, transport_for):
    server = smtp_servers("starttls")
    transport_for(server.url).send(envelope())
    assert server.received[0].tls


def test_implicit_tls_with_smtps_url(smtp_servers, transport_for):
    server = smtp_servers("tls")
    assert server.url.startswith("smtps://")
    transport_for(server.url).send(envelope())
    assert server.received[0].tls


def test_auth_over_starttls_logs_in(smtp_servers, transport_for):
    server = smtp_servers("starttls", users={"tenant@example.com": "s3cret"})
    transport_for(server.url, "tenant@example.com", "s3cret").send(envelope())
    assert server.received[0].login == "tenant@example.com"


def test_auth_over_implicit_tls_logs_in(smtp_servers, transport_for):
    server = smtp_servers("tls", users={"tenant@example.com": "s3cret"})
    transport_for(server.url, "tenant@example.com", "s3cret").send(envelope())
    assert server.received[0].login == "tenant@example.com"


def test_wrong_password_is_permanent(smtp_servers, transport_for):
    server = smtp_servers("starttls", users={"tenant@example.com": "s3cret"})
    with pytest.raises(TransportError) as caught:
        transport_for(server.url, "tenant@example.com", "wrong").send(envelope())
    assert caught.value.failure is Failure.PERMANENT
    assert "535" in str(caught.value)
    assert "wrong" not in str(caught.value)
    assert server.received == []


def test_required_starttls_missing_is_permanent(smtp_servers, transport_for):
    server = smtp_servers("plain")
    url = server.url.replace("tls=none", "tls=required")
    with pytest.raises(TransportError) as caught:
        transport_for(url).send(envelope())
    assert caught.value.failure is Failure.PERMANENT
    assert "STARTTLS" in str(caught.value)


def test_optional_starttls_sends_plain_when_not_offered(smtp_servers, transport_for):
    server = smtp_servers("plain")
    transport_for(server.url.replace("tls=none", "tls=optional")).send(envelope())
    assert len(server.received) == 1


def test_optional_starttls_encrypts_without_verifying(smtp_servers):
    server = smtp_servers("starttls")
    url = server.url.replace("tls=required", "tls=optional")
    SmtpTransport(parse_smtp_url(url), timeout=5).send(envelope())  # system CAs only
    assert server.received[0].tls


def test_untrusted_certificate_is_permanent(smtp_servers):
    server = smtp_servers("tls")
    transport = SmtpTransport(parse_smtp_url(server.url), timeout=5)  # system CAs only
    with pytest.raises(TransportError) as caught:
        transport.send(envelope())
    assert caught.value.failure is Failure.PERMANENT
    assert "certificate" in str(caught.value)


def test_connection_refused_is_transient(transport_for):
    from shared.runtime.localservers import free_port

    with pytest.raises(TransportError) as caught:
        transport_for(f"smtp://127.0.0.1:{free_port()}?tls=none").send(envelope())
    assert caught.value.failure is Failure.TRANSIENT


def test_one_connection_carries_many_messages(smtp_servers, transport_for):
    server = smtp_servers("starttls")
    transport = transport_for(server.url)
    for _ in range(3):
        transport.send(envelope())
    assert len(server.received) == 3
    assert server.connections == 1


def test_connection_closed_by_server_is_reopened(smtp_servers, transport_for):
    server = smtp_servers("plain")
    server.behaviour.close_after_each = True
    transport = transport_for(server.url)
    transport.send(envelope())
    time.sleep(0.3)  # the server has hung up on the idle connection
    transport.send(envelope())
    assert len(server.received) == 2
    assert server.connections == 2


@pytest.mark.parametrize(("reply", "failure"), [
    ("451 4.3.0 Try again later", Failure.TRANSIENT),
    ("554 5.7.1 Message rejected", Failure.PERMANENT),
])
def test_reply_to_the_message_is_classified(smtp_servers, transport_for, reply, failure):
    server = smtp_servers("plain")
    server.behaviour.data_reply = reply
    transport = transport_for(server.url)
    with pytest.raises(TransportError) as caught:
        transport.send(envelope())
    assert caught.value.failure is failure
    assert reply.split()[0] in str(caught.value)
    # The connection was reset and still works for the next message.
    server.behaviour.data_reply = "250 OK"
    transport.send(envelope())
    assert server.connections == 1


@pytest.mark.parametrize(("reply", "failure"), [
    ("450 4.2.1 Mailbox busy", Failure.TRANSIENT),
    ("550 5.1.1 No such user", Failure.PERMANENT),
])
def test_every_recipient_refused_is_classified(smtp_servers, transport_for, reply, failure):
    server = smtp_servers("plain")
    server.behaviour.rcpt_replies = {"a@example.net": reply}
    with pytest.raises(TransportError) as caught:
        transport_for(server.url).send(envelope("a@example.net"))
    assert caught.value.failure is failure
    assert server.received == []


def test_some_recipients_refused_still_sends_to_the_rest(smtp_servers, transport_for):
    server = smtp_servers("plain")
    server.behaviour.rcpt_replies = {"gone@example.net": "550 5.1.1 No such user"}
    transport_for(server.url).send(envelope("gone@example.net", "b@example.org"))
    assert server.received[0].rcpt_tos == ("b@example.org",)


def test_connection_dropped_after_data_is_ambiguous(smtp_servers, transport_for):
    server = smtp_servers("plain")
    server.behaviour.drop_after_data = True
    with pytest.raises(TransportError) as caught:
        transport_for(server.url).send(envelope())
    assert caught.value.failure is Failure.AMBIGUOUS
    assert len(server.received) == 1  # it did arrive: resending would duplicate it


@pytest.mark.parametrize(("url", "normalised", "tls"), [
    ("smtp://mail.example.com", "smtp://mail.example.com:587?tls=required", TlsMode.REQUIRED),
    ("smtps://mail.example.com", "smtps://mail.example.com:465", TlsMode.IMPLICIT),
    ("smtp://mail.example.com:25?tls=none", "smtp://mail.example.com:25?tls=none", TlsMode.NONE),
])
def test_smtp_urls_are_understood(url, normalised, tls):
    server = parse_smtp_url(url)
    assert server.tls is tls
    assert server_url(server) == normalised


def test_credentials_in_url_are_read_and_hidden():
    server = parse_smtp_url("smtps://user%40example.com:p%40ss@mail.example.com")
    assert (server.username, server.password) == ("user@example.com", "p@ss")
    assert "p@ss" not in repr(server)


def test_each_sender_thread_keeps_its_own_connection(smtp_servers, transport_for):
    import threading

    server = smtp_servers("plain")
    transport = transport_for(server.url)

    def send_twice() -> None:
        transport.send(envelope())
        transport.send(envelope())

    threads = [threading.Thread(target=send_twice) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(server.received) == 4
    assert server.connections == 2


def test_smtp_transport_needs_a_url(settings):
    from shared.errors import ConfigError
    from shared.settings import load_settings
    from shared.transports import make_transport

    smtp = load_settings(**{**settings.model_dump(), "transport": "smtp"}, _env_file=None)
    with pytest.raises(ConfigError, match="MAILPIPE_SMTP_URL"):
        make_transport(smtp)


def test_ehlo_name_is_configurable(smtp_servers, smtp_cert):
    from shared.settings import load_settings
    from shared.transports import make_transport

    server = smtp_servers("plain")
    settings = load_settings(database_url="postgresql://x@localhost/x", transport="smtp",
                             smtp_url=server.url, smtp_helo_name="mail.example.com",
                             _env_file=None)
    make_transport(settings).send(envelope())
    assert server.recorder.helo_names == ["mail.example.com"]
