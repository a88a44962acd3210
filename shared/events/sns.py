"""Amazon SNS messages: signature verification and the HTTPS calls SNS asks for.

Every field of an SNS message is attacker-controlled until its signature is
checked against a certificate fetched from SNS itself, so the order here is
fixed: the certificate URL is checked (https, an ``sns.<region>`` AWS host, a
``SimpleNotificationService-*.pem`` path), the certificate is loaded (cached
by URL), the signature over the fields SNS signs for the message's type is
verified, and only then are TopicArn and Timestamp trusted.

The HTTP side (certificate download, subscription confirmation) sits behind
``SnsHttp`` so tests can serve their own test certificate at a real-looking
SNS URL; the URL checks apply to whatever source is used.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import re
import threading
import time
import urllib.request
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from shared.errors import MailpipeError

log = logging.getLogger("mailpipe.sns")

#: The hosts SNS serves certificates and subscription URLs from, in every
#: partition mailpipe supports (commercial and China).
SNS_HOST = re.compile(r"^sns\.[a-z0-9-]{3,}\.amazonaws\.com(\.cn)?$")
CERT_PATH = re.compile(r"^/SimpleNotificationService-[A-Za-z0-9_-]+\.pem$")

#: The fields SNS signs, in the order it signs them, per message type.
SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
    ),
    "UnsubscribeConfirmation": (
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
    ),
}
HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}

#: A signed message may arrive a little before our clock says it was sent.
CLOCK_SKEW = 300.0
MAX_CERT_BYTES = 64 * 1024


class SnsVerificationError(MailpipeError):
    """Raised when an SNS message is not provably from SNS (or from a topic we accept)."""


@dataclass(frozen=True)
class SnsMessage:
    """A verified SNS message: what was signed, nothing else."""

    type: str
    message_id: str
    topic_arn: str
    timestamp: float
    message: str
    subject: str | None = None
    subscribe_url: str | None = None


class SnsHttp(Protocol):
    """The two HTTPS calls to SNS; tests substitute their own."""

    def certificate(self, url: str) -> bytes:
        """The PEM certificate at ``url`` (already checked to be an SNS URL)."""

    def confirm_subscription(self, url: str) -> None:
        """Visit a SubscribeURL (already checked to be an SNS URL)."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would lead away from the URL that passed ``check_sns_url``."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise SnsVerificationError(f"{req.full_url} redirected to {newurl}; not followed")


class HttpsSnsClient:
    """The real ``SnsHttp``: urllib with certificate-verified TLS, no redirects, short timeouts."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirects())

    def certificate(self, url: str) -> bytes:
        with self._opener.open(url, timeout=self.timeout) as answer:
            pem = answer.read(MAX_CERT_BYTES + 1)
        if len(pem) > MAX_CERT_BYTES:
            raise SnsVerificationError(f"certificate at {url} is larger than {MAX_CERT_BYTES}B")
        return pem

    def confirm_subscription(self, url: str) -> None:
        with self._opener.open(url, timeout=self.timeout) as answer:
            answer.read(MAX_CERT_BYTES)


def check_sns_url(url: str, *, certificate: bool) -> str:
    """``url`` if it is an https URL on an SNS host (and a certificate path); else raise.

    Used for SigningCertURL and SubscribeURL alike: mailpipe fetches nothing
    that SNS itself does not serve, so a forged message cannot make the API
    call an arbitrary URL.
    """
    if not isinstance(url, str):
        raise SnsVerificationError("the URL is not a string")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises for ":99999" or ":abc"
    except ValueError as exc:
        raise SnsVerificationError(f"{url!r:.200} is not a URL: {exc}") from None
    if parts.scheme != "https":
        raise SnsVerificationError(f"{url!r:.200} is not an https URL")
    host = parts.hostname or ""
    if parts.netloc.lower() not in (host, f"{host}:443") or port not in (None, 443):
        raise SnsVerificationError(f"{url!r:.200} carries credentials or a port")
    if not SNS_HOST.fullmatch(parts.hostname or ""):
        raise SnsVerificationError(f"{url!r:.200} is not on an sns.<region>.amazonaws.com host")
    if certificate and (parts.query or parts.fragment or not CERT_PATH.fullmatch(parts.path)):
        raise SnsVerificationError(f"{url!r:.200} is not a SimpleNotificationService-*.pem path")
    return url


class CertificateCache:
    """Certificates by URL, loaded once per process (SNS rotates them under new URLs)."""

    def __init__(self, http: SnsHttp, max_entries: int = 32) -> None:
        self.http = http
        self.max_entries = max_entries
        self._certs: OrderedDict[str, x509.Certificate] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, url: str) -> x509.Certificate:
        with self._lock:
            cert = self._certs.get(url)
            if cert is not None:
                self._certs.move_to_end(url)
                return cert
        try:
            pem = self.http.certificate(url)
            cert = x509.load_pem_x509_certificate(pem)
        except SnsVerificationError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure to load means "not verified"
            raise SnsVerificationError(f"cannot load the certificate at {url}: {exc}") from exc
        with self._lock:
            self._certs[url] = cert
            while len(self._certs) > self.max_entries:
                self._certs.popitem(last=False)
        return cert


def string_to_sign(message: dict) -> bytes:
    """The canonical text SNS signs: ``name\\nvalue\\n`` for each signed field present."""
    kind = message.get("Type")
    # isinstance first: a JSON list or object is unhashable.
    fields = SIGNED_FIELDS.get(kind) if isinstance(kind, str) else None
    if fields is None:
        raise SnsVerificationError(f"unknown SNS message Type {message.get('Type')!r:.50}")
    lines = []
    for name in fields:
        value = message.get(name)
        if value is None and name == "Subject":
            continue  # the only optional signed field
        if not isinstance(value, str):
            raise SnsVerificationError(f"SNS field {name} is missing or not a string")
        lines.append(f"{name}\n{value}\n")
    return "".join(lines).encode()


def _parse_time(value: str) -> float:
    try:
        return datetime.fromisoformat(value).timestamp()
    except (TypeError, ValueError) as exc:
        raise SnsVerificationError(f"bad SNS Timestamp {value!r:.50}") from exc


class SnsVerifier:
    """Verifies SNS messages; one per API process (it holds the certificate cache)."""

    def __init__(
        self, certificates: CertificateCache, *, topic_arns: frozenset[str] = frozenset(),
        max_age: float = 86_400.0, raw_secret: str | None = None, clock=time.time,
    ) -> None:
        self.certificates = certificates
        self.topic_arns = topic_arns
        self.max_age = max_age
        self.raw_secret = raw_secret
        self.clock = clock

    def verify(self, message: dict) -> SnsMessage:
        """The verified message, or SnsVerificationError saying why not."""
        if not isinstance(message, dict):
            raise SnsVerificationError("an SNS message is a JSON object")
        version = message.get("SignatureVersion")
        algorithm = HASHES.get(version) if isinstance(version, str) else None
        if algorithm is None:
            raise SnsVerificationError(
                f"unsupported SignatureVersion {message.get('SignatureVersion')!r:.20}")
        signed = string_to_sign(message)
        url = check_sns_url(str(message.get("SigningCertURL", "")), certificate=True)
        try:
            signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SnsVerificationError("Signature is not base64") from exc
        self._check_signature(self.certificates.get(url), signature, signed, algorithm())
        return self._trusted(message)

    def verify_raw(
        self, body: str, *, message_id: str | None, topic_arn: str | None,
        message_type: str | None, presented_secret: str | None,
    ) -> SnsMessage:
        """A raw-delivery notification (no envelope, no signature), authenticated by secret.

        SNS signs nothing when raw message delivery is on, so the shared
        secret in the subscription URL is the only proof; without a
        configured secret, raw deliveries are refused.
        """
        if not self.raw_secret:
            raise SnsVerificationError(
                "unsigned message: raw message delivery needs MAILPIPE_SNS_RAW_SECRET")
        if not presented_secret or not hmac.compare_digest(
                presented_secret.encode(), self.raw_secret.encode()):
            raise SnsVerificationError("raw delivery without the right secret")
        if message_type != "Notification" or not message_id or not topic_arn:
            raise SnsVerificationError(
                "raw delivery without x-amz-sns-message-type/-message-id/-topic-arn headers")
        if self.topic_arns and topic_arn not in self.topic_arns:
            raise SnsVerificationError(f"topic {topic_arn:.200} is not in MAILPIPE_SNS_TOPIC_ARNS")
        return SnsMessage(type="Notification", message_id=message_id, topic_arn=topic_arn,
                          timestamp=self.clock(), message=body)

    def _check_signature(self, cert: x509.Certificate, signature: bytes, signed: bytes,
                         algorithm: hashes.HashAlgorithm) -> None:
        now = self.clock()
        if not (cert.not_valid_before_utc.timestamp() <= now
                <= cert.not_valid_after_utc.timestamp()):
            raise SnsVerificationError("the signing certificate is expired or not yet valid")
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise SnsVerificationError("the signing certificate does not hold an RSA key")
        try:
            key.verify(signature, signed, padding.PKCS1v15(), algorithm)
        except InvalidSignature as exc:
            raise SnsVerificationError("the signature does not match the message") from exc

    def _trusted(self, message: dict) -> SnsMessage:
        topic = message["TopicArn"]
        if self.topic_arns and topic not in self.topic_arns:
            raise SnsVerificationError(f"topic {topic:.200} is not in MAILPIPE_SNS_TOPIC_ARNS")
        timestamp = _parse_time(message["Timestamp"])
        age = self.clock() - timestamp
        if age > self.max_age or age < -CLOCK_SKEW:
            # A validly signed message from long ago is a replay, not news.
            raise SnsVerificationError(f"the message is {age:.0f}s old; too old or from the future")
        subscribe_url = message.get("SubscribeURL")
        if subscribe_url is not None:
            check_sns_url(subscribe_url, certificate=False)
        return SnsMessage(
            type=message["Type"], message_id=message["MessageId"], topic_arn=topic,
            timestamp=timestamp, message=message["Message"], subject=message.get("Subject"),
            subscribe_url=subscribe_url,
        )


def parse_topic_arns(value: str) -> frozenset[str]:
    """MAILPIPE_SNS_TOPIC_ARNS: comma- or space-separated; empty means any topic."""
    return frozenset(part for part in re.split(r"[\s,]+", value) if part)


def loads_object(raw: bytes | str) -> dict:
    """A JSON object from an SNS body or Message field; SnsVerificationError otherwise.

    SNS sends UTF-8: bytes in any other encoding (json.loads would guess
    UTF-16 from a BOM) are refused, so the raw-delivery path, which decodes
    the body itself, sees the same text.
    """
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SnsVerificationError(f"the body is not UTF-8: {exc}") from exc
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise SnsVerificationError(f"not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise SnsVerificationError("not a JSON object")
    return value
