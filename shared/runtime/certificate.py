"""A self-signed TLS certificate for local use, and the fingerprint clients pin.

`mailpipe up` gives its smtp process one, made on the first start in the
data folder and reused afterwards (a client that pinned its fingerprint
keeps working across restarts); the tests' SMTP servers use the same.
The key is written 0600 from its first byte.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shared.runtime.localservers import write_private

#: Names a local certificate is valid for.
LOCAL_NAMES = ("localhost", "127.0.0.1")


def make_self_signed(cert_file: Path, key_file: Path, names: tuple[str, ...] = LOCAL_NAMES,
                     days: int = 3650) -> None:
    """Write a new self-signed certificate for ``names`` (host names or IP addresses)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    alternatives: list[x509.GeneralName] = []
    for name in names:
        try:
            alternatives.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternatives.append(x509.DNSName(name))
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        # Its own authority: a client may trust the file itself (cafile=...).
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    write_private(key_file, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode())
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def kept_self_signed(folder: Path, stem: str = "smtp") -> tuple[Path, Path]:
    """``folder/<stem>-cert.pem`` and ``-key.pem``: made when either is missing, else reused."""
    cert_file, key_file = folder / f"{stem}-cert.pem", folder / f"{stem}-key.pem"
    if not (cert_file.is_file() and key_file.is_file()):
        folder.mkdir(parents=True, exist_ok=True)
        make_self_signed(cert_file, key_file)
    return cert_file, key_file


def fingerprint(der: bytes) -> str:
    """SHA-256 of a DER certificate as openssl prints it: ``AB:CD:…`` (32 pairs)."""
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def file_fingerprint(cert_file: Path) -> str:
    """The SHA-256 fingerprint of the (first) certificate in a PEM file."""
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    return fingerprint(cert.public_bytes(serialization.Encoding.DER))
