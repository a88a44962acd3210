"""The local self-signed certificate: private key, reused, and the fingerprint a client sees."""

from __future__ import annotations

import socket
import ssl
import stat
import threading

from shared.runtime.certificate import file_fingerprint, fingerprint, kept_self_signed


def test_the_certificate_is_made_once_its_key_private_and_reused(tmp_path):
    cert, key = kept_self_signed(tmp_path / "data")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    first = file_fingerprint(cert)
    assert kept_self_signed(tmp_path / "data") == (cert, key)
    assert file_fingerprint(cert) == first  # a client that pinned it keeps working
    key.unlink()
    kept_self_signed(tmp_path / "data")
    assert file_fingerprint(cert) != first  # a lone certificate without its key is replaced


def test_the_fingerprint_is_what_a_tls_client_is_served_and_it_verifies_for_127_0_0_1(tmp_path):
    cert, key = kept_self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with server_tls.wrap_socket(conn, server_side=True) as tls:
            tls.recv(1)

    threading.Thread(target=serve, daemon=True).start()
    client = ssl.create_default_context(cafile=str(cert))  # hostname checked too
    with socket.create_connection(listener.getsockname()) as raw, \
            client.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        served = tls.getpeercert(binary_form=True)
        tls.send(b"x")
    listener.close()
    assert fingerprint(served) == file_fingerprint(cert)
    assert len(file_fingerprint(cert).split(":")) == 32
