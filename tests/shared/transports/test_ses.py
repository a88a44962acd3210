"""SES answers, over real HTTP, sorted into sent / retry / failed / unknown: alike whether the
sending calls go over mailpipe's own wire (``direct``) or through boto3's calls."""

from __future__ import annotations

import time

import pytest
from botocore.config import Config

from shared.errors import Failure, TransportError
from shared.transports.base import Envelope
from shared.transports.ses import SesTransport

ENVELOPE = Envelope("s@example.com", ("r@example.com",), b"Subject: x\r\n\r\nbody\r\n")


@pytest.fixture(params=["direct", "boto3"])
def ses_transport(request, fake_ses):
    """A transport to the scripted SES, making its sending calls one way or the other."""
    def make(client=None, **options) -> SesTransport:
        direct = request.param == "direct"
        transport = (SesTransport(client, direct=direct, **options) if client is not None
                     else SesTransport.from_environment(region="us-east-1", direct=direct,
                                                        **options))
        assert (transport.wire is not None) == direct
        return transport
    return make


def failure_of(transport, ses, answer: str) -> TransportError:
    ses.script.append(answer)
    with pytest.raises(TransportError) as caught:
        transport.send(ENVELOPE)
    return caught.value


def test_accepted_message_returns_ses_message_id(ses_transport, fake_ses):
    assert ses_transport().send(ENVELOPE)
    assert fake_ses.accepted[0]["Destination"]["ToAddresses"] == ["r@example.com"]
    assert fake_ses.refused_signatures == []  # SigV4 as SES checks it


def test_the_configured_configuration_set_is_named_on_every_sending_call(ses_transport,
                                                                        fake_ses):
    from shared.transports.base import BulkEntry, BulkSend

    transport = ses_transport(configuration_set="mailpipe-events")
    transport.send(ENVELOPE)
    transport.send_bulk(BulkSend(from_header="s@example.com", subject="{{v0}}", html=None,
                                 text="Hi {{v0}}", reply_to=None, headers=(),
                                 entries=(BulkEntry("a@example.com", {"v0": "A"}),
                                          BulkEntry("b@example.com", {"v0": "B"}))))
    assert fake_ses.accepted[0]["ConfigurationSetName"] == "mailpipe-events"
    assert fake_ses.bulk_calls[0]["ConfigurationSetName"] == "mailpipe-events"
    ses_transport().send(ENVELOPE)
    assert "ConfigurationSetName" not in fake_ses.accepted[-1]


def test_temporary_credentials_sign_their_session_token(ses_transport, fake_ses, monkeypatch):
    monkeypatch.setenv("AWS_SESSION_TOKEN", "a-session-token")
    assert ses_transport().send(ENVELOPE)
    assert fake_ses.refused_signatures == [] and fake_ses.requests == 1


def test_a_wrong_secret_is_refused_by_ses_and_pauses_the_fleet(ses_transport, fake_ses,
                                                               monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    error = failure_of(ses_transport(), fake_ses, "ok")
    # The account's problem, not the message's: not sent, sent again once fixed.
    assert error.failure is Failure.TRANSIENT and error.pauses_fleet
    assert "SignatureDoesNotMatch" in str(error)
    assert fake_ses.accepted == []


@pytest.mark.parametrize(("status", "code", "account"), [
    (403, "ExpiredTokenException", True), (400, "ExpiredToken", True),
    (403, "InvalidClientTokenId", True), (400, "UnrecognizedClientException", True),
    (403, "SignatureDoesNotMatch", True), (403, "RequestExpired", True),
    (403, "AccessDeniedException", True), (403, "AccessDenied", True),
    (403, "IncompleteSignature", True), (403, "MissingAuthenticationToken", True),
    (403, "SomethingNewAboutTheCaller", True), (400, "SendingPausedException", True),
    (400, "AccountSuspendedException", True),
    (400, "MessageRejected", False), (400, "MailFromDomainNotVerifiedException", False),
    (400, "BadRequestException", False), (404, "NotFoundException", False),
])
def test_answers_about_the_account_pause_the_fleet_and_about_the_message_fail_it(
        status, code, account):
    from botocore.exceptions import ClientError

    from shared.transports.ses import classify_client_error

    error = classify_client_error(ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "SendEmail"))
    assert error.pauses_fleet is account
    assert error.failure is (Failure.TRANSIENT if account else Failure.PERMANENT)


def test_a_connection_the_server_closed_while_idle_is_replaced(ses_transport, fake_ses):
    transport = ses_transport()
    fake_ses.close_after_answer = True
    for _ in range(3):
        assert transport.send(ENVELOPE)  # never "unknown": the closed one is not reused
        time.sleep(0.05)  # idle: the server's close has arrived
    assert fake_ses.requests == 3


def test_pace_is_called_once_the_request_is_built_and_before_it_leaves(ses_transport, fake_ses):
    transport = ses_transport()
    seen = []

    def pace():
        # Signed already: botocore has built the request; SES has not seen it yet.
        seen.append(fake_ses.requests)

    transport.send(ENVELOPE, pace)
    transport.send(ENVELOPE)  # the next send on this thread does not reuse the pace
    assert seen == [0] and fake_ses.requests == 2


def test_a_pace_that_refuses_sends_nothing(ses_transport, fake_ses):
    def refuse():
        raise TransportError("not sent: no slot", Failure.TRANSIENT)

    with pytest.raises(TransportError, match="no slot"):
        ses_transport().send(ENVELOPE, refuse)
    assert fake_ses.requests == 0


def test_throttling_is_transient_and_not_retried_by_the_sdk(ses_transport, fake_ses):
    error = failure_of(ses_transport(), fake_ses, "throttle")
    assert error.failure is Failure.TRANSIENT and error.throttled
    assert fake_ses.requests == 1  # botocore did not retry on its own


def test_rejection_is_permanent_with_ses_reason(ses_transport, fake_ses):
    error = failure_of(ses_transport(), fake_ses, "reject")
    assert error.failure is Failure.PERMANENT
    assert "MessageRejected" in str(error) and "not verified" in str(error)


def test_paused_account_pauses_the_fleet(ses_transport, fake_ses):
    error = failure_of(ses_transport(), fake_ses, "paused")
    assert error.failure is Failure.TRANSIENT and error.pauses_fleet


def test_server_error_after_sending_is_ambiguous(ses_transport, fake_ses):
    error = failure_of(ses_transport(), fake_ses, "error500")
    assert error.failure is Failure.AMBIGUOUS
    assert fake_ses.requests == 1


def test_a_connection_dropped_after_the_request_is_ambiguous(ses_transport, fake_ses):
    error = failure_of(ses_transport(), fake_ses, "drop")
    assert error.failure is Failure.AMBIGUOUS and fake_ses.requests == 1


def test_read_timeout_is_ambiguous(ses_transport, fake_ses):
    import boto3

    config = Config(retries={"total_max_attempts": 1}, read_timeout=0.5)
    client = boto3.client("sesv2", region_name="us-east-1", config=config)
    fake_ses.timeout_sleep = 1.5
    error = failure_of(ses_transport(client), fake_ses, "timeout")
    assert error.failure is Failure.AMBIGUOUS


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "boto3"])
def test_connection_refused_is_transient(monkeypatch, direct):
    from shared.runtime.localservers import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL_SESV2", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    with pytest.raises(TransportError) as caught:
        SesTransport.from_environment(region="us-east-1", direct=direct).send(ENVELOPE)
    assert caught.value.failure is Failure.TRANSIENT


def test_a_proxy_for_the_endpoint_leaves_the_sending_calls_to_boto3(fake_ses, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert SesTransport.from_environment(region="us-east-1").wire is None
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert SesTransport.from_environment(region="us-east-1").wire is not None


@pytest.mark.parametrize("request_", [
    {"FromEmailAddress": "Shop <s@example.com>", "Destination": {"ToAddresses": ["r@example.com"]},
     "Content": {"Raw": {"Data": "Subject: 세일\r\n\r\n\x00\xff body\r\n".encode()}}},
    {"FromEmailAddress": "s@example.com", "ReplyToAddresses": ["h@example.com"],
     "Destination": {"ToAddresses": ["r@example.com"], "BccAddresses": ["b@example.com"]},
     "Content": {"Simple": {"Subject": {"Data": '"세일" \\ </p>', "Charset": "UTF-8"},
                            "Body": {"Html": {"Data": "<p>\u2028</p>", "Charset": "UTF-8"}},
                            "Headers": [{"Name": "X-Campaign", "Value": "spring"}]}}},
], ids=["raw", "simple"])
def test_the_wire_writes_the_json_botocores_serializer_writes(request_):
    import json

    import boto3
    from botocore.serialize import create_serializer

    from shared.transports.ses_wire import request_body

    model = boto3.client("sesv2", region_name="us-east-1").meta.service_model
    botocore_body = create_serializer("rest-json", include_validation=False) \
        .serialize_to_request(request_, model.operation_model("SendEmail"))["body"]
    assert json.loads(request_body(request_)) == json.loads(botocore_body)


def test_a_request_the_wire_cannot_write_fails_permanently_and_sends_nothing(fake_ses):
    transport = SesTransport.from_environment(region="us-east-1")
    with pytest.raises(TransportError) as caught:
        transport.wire.call("SendEmail", {"FromEmailAddress": "s\ud800@example.com"},
                            lambda: None)
    assert caught.value.failure is Failure.PERMANENT and fake_ses.requests == 0


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "boto3"])
def test_over_https_ses_certificate_is_verified_against_aws_ca_bundle(
        fake_ses_over_https, smtp_cert, monkeypatch, direct):
    monkeypatch.setenv("AWS_CA_BUNDLE", str(smtp_cert[0]))
    transport = SesTransport.from_environment(region="us-east-1", direct=direct)
    assert transport.send(ENVELOPE) and transport.send(ENVELOPE)
    assert len(fake_ses_over_https.accepted) == 2
    assert fake_ses_over_https.refused_signatures == []


def test_over_https_an_untrusted_certificate_sends_nothing(fake_ses_over_https, monkeypatch):
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    with pytest.raises(TransportError) as caught:
        SesTransport.from_environment(region="us-east-1").send(ENVELOPE)
    assert caught.value.failure is Failure.TRANSIENT  # no request could be made
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    assert fake_ses_over_https.requests == 0


def test_without_credentials_nothing_is_sent_and_the_send_is_retried_later(fake_ses,
                                                                           monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    transport = SesTransport.from_environment(region="us-east-1")
    assert transport.wire is None  # nothing to sign with: boto3 says so
    with pytest.raises(TransportError) as caught:
        transport.send(ENVELOPE)
    assert caught.value.failure is Failure.TRANSIENT and "credentials" in str(caught.value)
    assert fake_ses.requests == 0
