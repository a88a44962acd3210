"""Tenant SMTP passwords at rest: encrypted with a key derived from MAILPIPE_SECRET_KEY."""

from __future__ import annotations

import pytest

from shared.errors import ConfigError, Failure, TransportError
from shared.secrets import SecretBox, SecretError
from shared.transports.base import Envelope, Relay
from shared.transports.file import FileTransport
from shared.transports.relays import RelayingTransport


def test_password_round_trips_and_is_not_readable_at_rest():
    box = SecretBox("one secret")
    token = box.encrypt("62402580")
    assert "62402580" not in token
    assert box.decrypt(token) == "62402580"
    assert box.encrypt("62402580") != token  # a fresh IV each time


def test_another_secret_key_cannot_decrypt():
    token = SecretBox("one secret").encrypt("pw")
    with pytest.raises(SecretError):
        SecretBox("another secret").decrypt(token)


def test_a_secret_key_is_required():
    with pytest.raises(ConfigError, match="MAILPIPE_SECRET_KEY"):
        SecretBox(None)


def test_key_material_is_not_in_repr():
    assert "one secret" not in repr(SecretBox("one secret"))


def test_messages_without_a_relay_use_the_configured_transport(tmp_path):
    transport = RelayingTransport(FileTransport(tmp_path), SecretBox("k"))
    provider_id = transport.send(Envelope("a@example.com", ("b@example.com",), b"x"))
    assert (tmp_path / f"{provider_id}.eml").read_bytes() == b"x"


def test_relay_password_that_cannot_be_decrypted_fails_permanently(tmp_path):
    token = SecretBox("old key").encrypt("pw")
    transport = RelayingTransport(FileTransport(tmp_path), SecretBox("new key"))
    relay = Relay(1, "smtp://127.0.0.1:2525?tls=none", "user", token)
    with pytest.raises(TransportError) as caught:
        transport.send(Envelope("a@example.com", ("b@example.com",), b"x", relay=relay))
    assert caught.value.failure is Failure.PERMANENT
    assert "pw" not in str(caught.value) and token not in str(caught.value)
    assert token not in repr(relay)
