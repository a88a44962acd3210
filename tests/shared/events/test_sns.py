"""SNS signature verification: only messages SNS signed, from SNS's own certificate URLs."""

from __future__ import annotations

import time

import pytest

from shared.events.sns import CertificateCache, SnsVerificationError, SnsVerifier, check_sns_url
from tests.support.sns import (
    CERT_URL,
    TOPIC,
    SigningAuthority,
    notification,
    subscription,
)


@pytest.fixture
def verifier(sns_http):
    return SnsVerifier(CertificateCache(sns_http))


@pytest.mark.parametrize("version", ["1", "2"])
def test_notification_signed_with_either_version_is_verified(ca, verifier, version):
    message = ca.sign(notification({"eventType": "Delivery"}, subject="s"), version)
    verified = verifier.verify(message)
    assert verified.type == "Notification" and verified.topic_arn == TOPIC
    assert verified.message_id == message["MessageId"] and verified.subject == "s"


@pytest.mark.parametrize("kind", ["SubscriptionConfirmation", "UnsubscribeConfirmation"])
def test_subscription_messages_are_verified_over_their_own_fields(ca, verifier, kind):
    verified = verifier.verify(ca.sign(subscription(kind), "2"))
    assert verified.type == kind and verified.subscribe_url.startswith("https://sns.")


@pytest.mark.parametrize("field,value", [
    ("Message", '{"eventType": "Bounce"}'),
    ("MessageId", "another-id"),
    ("TopicArn", "arn:aws:sns:us-east-1:999999999999:other"),
    ("Timestamp", "2030-01-01T00:00:00.000Z"),
    ("Type", "SubscriptionConfirmation"),
    ("Subject", "added after signing"),
])
def test_any_signed_field_altered_fails(ca, verifier, field, value):
    message = {**ca.sign(notification({"eventType": "Delivery"})), field: value}
    with pytest.raises(SnsVerificationError):
        verifier.verify(message)


def test_signature_from_another_key_fails(verifier):
    forged = SigningAuthority().sign(notification({"eventType": "Delivery"}))
    with pytest.raises(SnsVerificationError, match="signature does not match"):
        verifier.verify(forged)


def test_signature_made_with_sha1_but_labelled_version_2_fails(ca, verifier):
    message = {**ca.sign(notification({"eventType": "Delivery"}), "1"), "SignatureVersion": "2"}
    with pytest.raises(SnsVerificationError):
        verifier.verify(message)


@pytest.mark.parametrize("version", [None, "3", "0", 1])
def test_unknown_signature_version_fails(ca, verifier, version):
    message = {**ca.sign(notification({})), "SignatureVersion": version}
    with pytest.raises(SnsVerificationError, match="SignatureVersion"):
        verifier.verify(message)


@pytest.mark.parametrize("url", [
    "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
    "https://sns.us-east-1.amazonaws.com.evil.example/SimpleNotificationService-abc.pem",
    "https://evil.example/SimpleNotificationService-abc.pem",
    "https://sns.us-east-1.amazonaws.com/other.pem",
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem?x=1",
    "https://sns.us-east-1.amazonaws.com/x/../SimpleNotificationService-abc.pem",
    "https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-abc.pem",
    "https://user:pw@sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
    "https://s3.amazonaws.com/SimpleNotificationService-abc.pem",
    "file:///etc/passwd",
    "",
])
def test_certificate_url_off_sns_is_refused_before_any_fetch(ca, sns_http, verifier, url):
    sns_http.certificates[url] = ca.pem  # even a source that would serve it is never asked
    message = ca.sign({**notification({}), "SigningCertURL": url})
    with pytest.raises(SnsVerificationError):
        verifier.verify(message)
    assert sns_http.fetched == []


@pytest.mark.parametrize("url", [
    "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-01d088a6f77103d0fe307c0069e40ed6.pem",
    "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem",
])
def test_certificate_urls_of_every_partition_pass_the_check(url):
    assert check_sns_url(url, certificate=True) == url


def test_subscribe_url_off_sns_is_refused(ca, verifier):
    message = ca.sign(subscription(subscribe_url="https://evil.example/confirm"))
    with pytest.raises(SnsVerificationError, match="sns"):
        verifier.verify(message)


def test_certificate_is_fetched_once_and_cached(ca, sns_http, verifier):
    for _ in range(3):
        verifier.verify(ca.sign(notification({})))
    assert sns_http.fetched == [CERT_URL]


def test_expired_certificate_fails(sns_http):
    expired = SigningAuthority(valid_days=-1, not_before_days=-10)
    sns_http.certificates[CERT_URL] = expired.pem
    with pytest.raises(SnsVerificationError, match="expired"):
        SnsVerifier(CertificateCache(sns_http)).verify(expired.sign(notification({})))


def test_topic_outside_the_allowlist_fails(ca, sns_http):
    verifier = SnsVerifier(CertificateCache(sns_http), topic_arns=frozenset({"arn:aws:sns:x:1:ok"}))
    with pytest.raises(SnsVerificationError, match="MAILPIPE_SNS_TOPIC_ARNS"):
        verifier.verify(ca.sign(notification({})))
    assert verifier.verify(ca.sign(notification({}, topic="arn:aws:sns:x:1:ok")))


def test_old_signed_message_is_refused_as_a_replay(ca, sns_http):
    verifier = SnsVerifier(CertificateCache(sns_http), max_age=3600)
    with pytest.raises(SnsVerificationError, match="old"):
        verifier.verify(ca.sign(notification({}, at=time.time() - 3700)))


def test_raw_delivery_needs_the_configured_secret(sns_http):
    def raw(verifier, secret):
        return verifier.verify_raw("{}", message_id="m", topic_arn=TOPIC,
                                   message_type="Notification", presented_secret=secret)

    with pytest.raises(SnsVerificationError, match="MAILPIPE_SNS_RAW_SECRET"):
        raw(SnsVerifier(CertificateCache(sns_http)), "anything")
    verifier = SnsVerifier(CertificateCache(sns_http), raw_secret="s3cret")
    with pytest.raises(SnsVerificationError, match="secret"):
        raw(verifier, "wrong")
    with pytest.raises(SnsVerificationError, match="secret"):
        raw(verifier, None)
    assert raw(verifier, "s3cret").message_id == "m"


def test_certificate_that_cannot_be_fetched_fails_verification(ca):
    class Unreachable:
        def certificate(self, url):
            raise OSError("network down")

    with pytest.raises(SnsVerificationError, match="cannot load"):
        SnsVerifier(CertificateCache(Unreachable())).verify(ca.sign(notification({})))


def test_https_client_does_not_follow_redirects():
    import http.server
    import threading

    from shared.events.sns import HttpsSnsClient

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/SimpleNotificationService-x.pem"
        with pytest.raises(SnsVerificationError, match="redirected"):
            HttpsSnsClient(timeout=5).certificate(url)
    finally:
        server.shutdown()
