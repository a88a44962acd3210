"""SES answers, over real HTTP through boto3, sorted into sent / retry / failed / unknown."""

from __future__ import annotations

import pytest
from botocore.config import Config

from shared.errors import Failure, TransportError
from shared.transports.base import Envelope
from shared.transports.ses import SesTransport

ENVELOPE = Envelope("s@example.com", ("r@example.com",), b"Subject: x\r\n\r\nbody\r\n")


def failure_of(transport, ses, answer: str) -> TransportError:
    ses.script.append(answer)
    with pytest.raises(TransportError) as caught:
        transport.send(ENVELOPE)
    return caught.value


def test_accepted_message_returns_ses_message_id(fake_ses):
    assert SesTransport.from_environment(region="us-east-1").send(ENVELOPE)
    assert fake_ses.accepted[0]["Destination"]["ToAddresses"] == ["r@example.com"]


def test_pace_is_called_once_the_request_is_built_and_before_it_leaves(fake_ses):
    transport = SesTransport.from_environment(region="us-east-1")
    seen = []

    def pace():
        # Signed already: botocore has built the request; SES has not seen it yet.
        seen.append(fake_ses.requests)

    transport.send(ENVELOPE, pace)
    transport.send(ENVELOPE)  # the next send on this thread does not reuse the pace
    assert seen == [0] and fake_ses.requests == 2


def test_a_pace_that_refuses_sends_nothing(fake_ses):
    def refuse():
        raise TransportError("not sent: no slot", Failure.TRANSIENT)

    with pytest.raises(TransportError, match="no slot"):
        SesTransport.from_environment(region="us-east-1").send(ENVELOPE, refuse)
    assert fake_ses.requests == 0


def test_throttling_is_transient_and_not_retried_by_the_sdk(fake_ses):
    error = failure_of(SesTransport.from_environment(region="us-east-1"), fake_ses, "throttle")
    assert error.failure is Failure.TRANSIENT and error.throttled
    assert fake_ses.requests == 1  # botocore did not retry on its own


def test_rejection_is_permanent_with_ses_reason(fake_ses):
    error = failure_of(SesTransport.from_environment(region="us-east-1"), fake_ses, "reject")
    assert error.failure is Failure.PERMANENT
    assert "MessageRejected" in str(error) and "not verified" in str(error)


def test_paused_account_pauses_the_fleet(fake_ses):
    error = failure_of(SesTransport.from_environment(region="us-east-1"), fake_ses, "paused")
    assert error.failure is Failure.TRANSIENT and error.pauses_fleet


def test_server_error_after_sending_is_ambiguous(fake_ses):
    error = failure_of(SesTransport.from_environment(region="us-east-1"), fake_ses, "error500")
    assert error.failure is Failure.AMBIGUOUS
    assert fake_ses.requests == 1


def test_read_timeout_is_ambiguous(fake_ses):
    import boto3

    config = Config(retries={"total_max_attempts": 1}, read_timeout=0.5)
    client = boto3.client("sesv2", region_name="us-east-1", config=config)
    fake_ses.timeout_sleep = 1.5
    error = failure_of(SesTransport(client), fake_ses, "timeout")
    assert error.failure is Failure.AMBIGUOUS


def test_connection_refused_is_transient(monkeypatch):
    from shared.runtime.localservers import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL_SESV2", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    with pytest.raises(TransportError) as caught:
        SesTransport.from_environment(region="us-east-1").send(ENVELOPE)
    assert caught.value.failure is Failure.TRANSIENT
