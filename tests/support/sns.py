"""A test certificate authority for SNS: certificates, signed messages, a fake SNS HTTP side.

The production URL checks stay on: messages name a real-looking SNS
certificate URL, and ``FakeSnsHttp`` (the test double of SNS's HTTPS side)
serves the test certificate there.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from shared.events.sns import string_to_sign

CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem"
TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-events"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class SigningAuthority:
    """A CA and one leaf certificate it issued, like SNS's signing certificate."""

    def __init__(self, *, valid_days: int = 30, not_before_days: int = -1) -> None:
        now = datetime.now(UTC)
        self.ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ca_cert = (
            x509.CertificateBuilder().subject_name(_name("mailpipe test CA"))
            .issuer_name(_name("mailpipe test CA")).public_key(self.ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.ca_key, hashes.SHA256())
        )
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.cert = (
            x509.CertificateBuilder().subject_name(_name("sns.amazonaws.com"))
            .issuer_name(self.ca_cert.subject).public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now + timedelta(days=not_before_days))
            .not_valid_after(now + timedelta(days=valid_days))
            .sign(self.ca_key, hashes.SHA256())
        )

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def sign(self, message: dict, version: str = "1") -> dict:
        """``message`` with SignatureVersion, SigningCertURL and Signature set."""
        message = {"SignatureVersion": version, "SigningCertURL": CERT_URL, **message}
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(string_to_sign(message), padding.PKCS1v15(), algorithm)
        return {**message, "Signature": base64.b64encode(signature).decode()}


class FakeSnsHttp:
    """SNS's HTTPS side: serves certificates by URL and records confirmations."""

    def __init__(self, certificates: dict[str, bytes]) -> None:
        self.certificates = certificates
        self.fetched: list[str] = []
        self.confirmed: list[str] = []

    def certificate(self, url: str) -> bytes:
        self.fetched.append(url)
        return self.certificates[url]

    def confirm_subscription(self, url: str) -> None:
        self.confirmed.append(url)


def iso(at: float | None = None) -> str:
    at = time.time() if at is None else at
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def notification(body: dict | str, *, topic: str = TOPIC, at: float | None = None,
                 message_id: str | None = None, subject: str | None = None) -> dict:
    """An unsigned SNS Notification envelope around ``body``."""
    message = {
        "Type": "Notification",
        "MessageId": message_id or str(uuid.uuid4()),
        "TopicArn": topic,
        "Message": body if isinstance(body, str) else json.dumps(body),
        "Timestamp": iso(at),
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
    }
    if subject is not None:
        message["Subject"] = subject
    return message


def subscription(kind: str = "SubscriptionConfirmation", *, topic: str = TOPIC,
                 subscribe_url: str | None = None) -> dict:
    return {
        "Type": kind,
        "MessageId": str(uuid.uuid4()),
        "Token": "2336412f37fb687f5d51e6e2425c464de12884",
        "TopicArn": topic,
        "Message": f"You have chosen to subscribe to the topic {topic}.",
        "SubscribeURL": subscribe_url or (
            "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription"
            f"&TopicArn={topic}&Token=2336412f37fb687f5d51e6e2425c464de12884"),
        "Timestamp": iso(),
    }


# --- SES notification fixtures -------------------------------------------------------

def _mail(provider_id: str, to: str) -> dict:
    return {
        "timestamp": iso(), "source": "sender@example.com", "messageId": provider_id,
        "destination": [to], "headersTruncated": False,
        "headers": [{"name": "To", "value": to}],
        "commonHeaders": {"from": ["sender@example.com"], "to": [to], "subject": "Hi"},
    }


def _details(kind: str, to: str) -> tuple[str, dict]:
    """SES's details object for ``kind`` (its key, its content)."""
    now = iso()
    recipient = {"emailAddress": to}
    return {
        "Send": ("send", {}),
        "Delivery": ("delivery", {"timestamp": now, "processingTimeMillis": 546,
                                  "recipients": [to], "smtpResponse": "250 ok",
                                  "reportingMTA": "a8-70.smtp-out.amazonses.com"}),
        "HardBounce": ("bounce", {"bounceType": "Permanent", "bounceSubType": "General",
                                  "bouncedRecipients": [recipient], "timestamp": now,
                                  "feedbackId": "0100-bounce"}),
        "SoftBounce": ("bounce", {"bounceType": "Transient", "bounceSubType": "MailboxFull",
                                  "bouncedRecipients": [recipient], "timestamp": now,
                                  "feedbackId": "0100-bounce"}),
        "Complaint": ("complaint", {"complainedRecipients": [recipient], "timestamp": now,
                                    "feedbackId": "0100-complaint",
                                    "complaintFeedbackType": "abuse"}),
        "Reject": ("reject", {"reason": "Bad content"}),
        "Open": ("open", {"ipAddress": "192.0.2.1", "timestamp": now,
                          "userAgent": "Mozilla/5.0 (Windows NT 10.0) Firefox/120.0"}),
        "Click": ("click", {"ipAddress": "192.0.2.1", "timestamp": now,
                            "userAgent": "Mozilla/5.0 (Windows NT 10.0) Firefox/120.0",
                            "link": "https://example.com/offer", "linkTags": {}}),
        "Rendering Failure": ("failure", {"templateName": "t",
                                          "errorMessage": "Attribute 'name' is not present"}),
        "DeliveryDelay": ("deliveryDelay", {"timestamp": now, "delayType": "MailboxFull",
                                            "expirationTime": now,
                                            "delayedRecipients": [recipient]}),
        "Subscription": ("subscription", {"contactList": "news", "timestamp": now,
                                          "source": "UnsubscribeHeader",
                                          "newTopicPreferences": {}, "oldTopicPreferences": {}}),
    }[kind]


#: Fixture names → the SES event name they publish.
SES_NAMES = {"HardBounce": "Bounce", "SoftBounce": "Bounce"}
EVENT_PUBLISHING = ["Send", "Delivery", "HardBounce", "SoftBounce", "Complaint", "Reject",
                    "Open", "Click", "Rendering Failure", "DeliveryDelay", "Subscription"]
IDENTITY_NOTIFICATIONS = ["Delivery", "HardBounce", "SoftBounce", "Complaint"]


def ses_event_publishing(kind: str, provider_id: str, to: str = "a@example.com") -> dict:
    """An SES event-publishing record (configuration set → SNS)."""
    key, details = _details(kind, to)
    return {"eventType": SES_NAMES.get(kind, kind), "mail": _mail(provider_id, to), key: details}


def ses_identity_notification(kind: str, provider_id: str, to: str = "a@example.com") -> dict:
    """An SES identity notification (feedback forwarding → SNS)."""
    key, details = _details(kind, to)
    return {"notificationType": SES_NAMES.get(kind, kind), "mail": _mail(provider_id, to),
            key: details}
