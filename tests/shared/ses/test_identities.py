"""Sender identities read from SES over HTTP (moto's, and an endpoint for the states moto
cannot give) with their DKIM, matched to the keys that may send from them."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest

from shared.db.keys import ApiKey
from shared.ses.account import Identity, SesUnavailable
from shared.ses.identities import (
    SenderIdentity,
    keys_by_identity,
    read_sender_identities,
    unserved_domains,
)
from shared.transports.ses import ses_client
from tests.support.fake_identities import FakeIdentities, identity


def _key(key_id: int, *domains: str, revoked: bool = False) -> ApiKey:
    now = datetime.now(UTC)
    return ApiKey(key_id, f"k{key_id}", "mp_x", domains, now, now if revoked else None)


@pytest.fixture
def fake(monkeypatch):
    fake = FakeIdentities({
        "shop.example": identity(),
        "news.example": identity(verification="PENDING", dkim="PENDING"),
        "ops@corp.example": identity(kind="EMAIL_ADDRESS", dkim="NOT_STARTED", tokens=()),
        "corp.example": identity(verification="FAILED", dkim="FAILED"),
    })
    for name, value in {"AWS_ENDPOINT_URL_SESV2": fake.url, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    yield fake
    fake.close()


def test_identities_are_read_with_their_verification_and_dkim(fake, settings):
    found = read_sender_identities(ses_client(settings))
    # A domain, then the addresses at it.
    assert [i.name for i in found] == ["corp.example", "ops@corp.example", "news.example",
                                       "shop.example"]
    by_name = {i.name: i for i in found}
    news = by_name["news.example"]
    assert (news.identity.status, news.dkim.status) == ("PENDING", "PENDING")
    assert news.dkim_records[0] == ("tok1._domainkey.news.example", "tok1.dkim.amazonses.com")
    assert by_name["ops@corp.example"].is_address
    assert by_name["corp.example"].dkim.status == "FAILED"
    assert by_name["shop.example"].dkim.signing


def test_an_identity_whose_dkim_cannot_be_read_keeps_its_reason(fake, settings):
    client = ses_client(settings)
    fake.throttle_details = 1  # the list is answered; one GetEmailIdentity is throttled
    found = read_sender_identities(client)
    assert len(found) == 4
    assert [i.problem.reason for i in found if i.problem] == ["throttled"]
    fake.throttle = 1  # now the list itself
    with pytest.raises(SesUnavailable) as refused:
        read_sender_identities(client)
    assert refused.value.reason == "throttled"


def test_moto_identities_are_read_over_http(aws_env, settings):
    ses = boto3.client("sesv2", region_name="us-east-1")
    ses.create_email_identity(EmailIdentity="moto-identities.example",
                              DkimSigningAttributes={"NextSigningKeyLength": "RSA_2048_BIT"})
    ses.create_email_identity(EmailIdentity="someone@moto-identities.example")
    found = {i.name: i for i in read_sender_identities(ses_client(settings))}
    assert found["moto-identities.example"].dkim.status == "SUCCESS"
    assert found["moto-identities.example"].identity.verified
    assert found["someone@moto-identities.example"].is_address


def test_keys_are_matched_to_the_identities_they_send_from():
    identities = [SenderIdentity(Identity("shop.example", "DOMAIN", "SUCCESS", True)),
                  SenderIdentity(Identity("ops@corp.example", "EMAIL_ADDRESS", "SUCCESS", True)),
                  SenderIdentity(Identity("news.example", "DOMAIN", "PENDING", False))]
    keys = [_key(1), _key(2, "shop.example"), _key(3, "mail.shop.example"),
            _key(4, "corp.example"), _key(5, "nowhere.example", "shop.example"),
            _key(6, "shop.example", revoked=True), _key(7, "news.example")]
    served = {name: [k.id for k in ks] for name, ks in keys_by_identity(identities, keys).items()}
    assert served == {"shop.example": [1, 2, 3, 5], "ops@corp.example": [1, 4],
                      "news.example": [1, 7]}
    # news.example is not verified; corp.example has only one address verified.
    assert {d: [k.id for k in ks] for d, ks in unserved_domains(identities, keys).items()} \
        == {"corp.example": [4], "news.example": [7], "nowhere.example": [5]}
