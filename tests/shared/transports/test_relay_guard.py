"""The tenant SMTP guard: only public addresses, embedded IPv4 included, and the
connection goes to exactly the address that was checked."""

from __future__ import annotations

import pytest

from shared.errors import Failure, TransportError
from shared.secrets import SecretBox
from shared.transports.base import Envelope, Relay
from shared.transports.file import FileTransport
from shared.transports.guard import RelayRefused, check_relay_host, embedded_ipv4
from shared.transports.relays import RelayingTransport
from shared.transports.smtp import SmtpServer, SmtpTransport, TlsMode
from tests.support.smtp_server import client_context

RAW = b"From: s@example.com\nTo: a@example.net\nSubject: Hi\nMessage-ID: <g-1@example.com>\n\nx\n"


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.0.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
    "224.0.0.1", "::1", "::", "fd00::1", "fe80::1",
    "::127.0.0.1",            # IPv4-compatible: is_global says True
    "::169.254.169.254",
    "::ffff:10.0.0.1",        # IPv4-mapped
    "64:ff9b::7f00:1",        # NAT64 of 127.0.0.1: is_global says True
    "64:ff9b::a9fe:a9fe",     # NAT64 of the metadata service
    "64:ff9b:1::a00:1",       # local-use NAT64
    "2002:7f00:1::",          # 6to4 of 127.0.0.1: is_global says True
    "2002:a9fe:a9fe::1",      # 6to4 of the metadata service
    "2002:0a00:0001::1",      # 6to4 of 10.0.0.1
    "ff02::1",
])
def test_non_public_addresses_are_refused(address):
    with pytest.raises(RelayRefused) as caught:
        check_relay_host(address, 25)
    assert caught.value.failure is Failure.PERMANENT
    assert "not a public address" in str(caught.value)


@pytest.mark.parametrize("address", ["8.8.8.8", "2001:4860:4860::8888", "64:ff9b::808:808",
                                     "2002:808:808::1"])
def test_public_addresses_pass_and_are_returned(address):
    assert check_relay_host(address, 25) == (address,)


def test_embedded_ipv4_of_each_form():
    import ipaddress

    def inner(text):
        return str(embedded_ipv4(ipaddress.ip_address(text)))

    assert inner("::127.0.0.1") == "127.0.0.1"
    assert inner("64:ff9b::a9fe:a9fe") == "169.254.169.254"
    assert inner("2002:a9fe:a9fe::1") == "169.254.169.254"
    assert inner("::ffff:10.0.0.1") == "10.0.0.1"
    assert embedded_ipv4(ipaddress.ip_address("2001:4860:4860::8888")) is None


def test_localhost_by_name_is_refused():
    with pytest.raises(RelayRefused):
        check_relay_host("localhost", 25)


def test_a_name_that_cannot_be_resolved_is_transient():
    with pytest.raises(TransportError) as caught:
        check_relay_host("no-such-host.invalid", 25)
    assert caught.value.failure is Failure.TRANSIENT
    assert not isinstance(caught.value, RelayRefused)


def test_the_transport_connects_to_the_checked_address_not_a_new_lookup(smtp_servers):
    """The name does not resolve at all: only the checked address can have been used."""
    server = smtp_servers("plain")
    checked = []

    def guard(host, port):  # DNS, as it answered at check time
        checked.append((host, port))
        return ("127.0.0.1",)

    transport = SmtpTransport(SmtpServer("relay.example.invalid", server.port, TlsMode.NONE),
                              guard=guard, timeout=5)
    try:
        assert transport.send(Envelope("s@example.com", ("a@example.net",), RAW)) == \
            "g-1@example.com"
    finally:
        transport.close()
    assert checked == [("relay.example.invalid", server.port)]
    assert len(server.received) == 1


@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_tls_is_verified_for_the_name_while_connecting_to_the_checked_address(
    smtp_servers, smtp_cert, mode,
):
    server = smtp_servers(mode)
    tls = TlsMode.REQUIRED if mode == "starttls" else TlsMode.IMPLICIT

    def send(name: str) -> None:
        transport = SmtpTransport(SmtpServer(name, server.port, tls),
                                  ssl_context=client_context(smtp_cert[0]),
                                  guard=lambda host, port: ("127.0.0.1",), timeout=5)
        try:
            transport.send(Envelope("s@example.com", ("a@example.net",), RAW))
        finally:
            transport.close()

    send("localhost")  # the certificate names localhost: verified against the name
    assert len(server.received) == 1
    with pytest.raises(TransportError) as caught:
        send("relay.example.invalid")  # same address, a name the certificate lacks
    assert caught.value.failure is Failure.PERMANENT
    assert "certificate" in str(caught.value)
    assert len(server.received) == 1


def test_relaying_transport_refuses_a_private_tenant_server_before_connecting(
    smtp_servers, tmp_path,
):
    server = smtp_servers("plain")
    transport = RelayingTransport(FileTransport(tmp_path), SecretBox("k" * 32))
    for host in ("127.0.0.1", "[::127.0.0.1]", "[::ffff:127.0.0.1]"):
        relay = Relay(1, f"smtp://{host}:{server.port}?tls=none", "u")
        with pytest.raises(TransportError) as caught:
            transport.send(Envelope("s@example.com", ("a@example.net",), RAW, relay=relay))
        assert caught.value.failure is Failure.PERMANENT
    assert server.received == []
