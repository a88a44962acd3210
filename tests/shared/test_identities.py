"""Sender identities read from SES over HTTP (moto's, and an endpoint for the states moto
cannot give), matched to the keys that may send from them; SES's errors classified."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest

from shared.db.keys import ApiKey
from shared.identities import (
    SesUnavailable,
    identity_client,
    keys_by_identity,
    read_identities,
    unserved_domains,
)
from tests.support.fake_identities import FakeIdentities, identity


def _key(key_id: int, *domains: str, revoked: bool = False) -> ApiKey:
    now = datetime.now(UTC)
    return ApiKey(key_id, f"k{key_id}", "mp_x", domains, now, now if revoked else None)


@pytest.fixture
def fake(monkeypatch, settings):
    fake = FakeIdentities({
        "shop.example": identity(),
        "news.example": identity(verification="PENDING", dkim="PENDING"),
        "ops@corp.example": identity(kind="EMAIL_ADDRESS", dkim="NOT_STARTED", tokens=()),
        "old.example": identity(verification="FAILED", dkim="FAILED"),
    })
    monkeypatch.setenv("AWS_ENDPOINT_URL_SESV2", fake.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    yield fake
    fake.close()


def test_identities_are_read_with_their_verification_and_dkim(fake, settings, monkeypatch):
    monkeypatch.setattr("shared.identities.PAGE_SIZE", 3)  # two pages of ListEmailIdentities
    found = {i.name: i for i in read_identities(identity_client(settings))}
    assert sorted(found) == ["news.example", "old.example", "ops@corp.example", "shop.example"]
    assert sum(path.startswith("/v2/email/list-identities") for path in fake.paths) == 2
    assert (found["news.example"].verification, found["news.example"].dkim) == (
        "PENDING", "PENDING")
    assert found["ops@corp.example"].kind == "address"
    assert found["old.example"].dkim == "FAILED" and not found["old.example"].dkim_signing


def test_one_identity_that_cannot_be_read_does_not_hide_the_others(fake, settings):
    client = identity_client(settings)
    fake.throttle = 0
    identities = read_identities(client)
    assert all(i.problem is None for i in identities)
    fake.throttle = 2  # the list, then its one retry: the whole read is refused
    with pytest.raises(SesUnavailable) as refused:
        read_identities(client)
    assert refused.value.reason == "throttled"


def test_moto_identities_are_read_over_http(aws_env, settings):
    ses = boto3.client("sesv2", region_name="us-east-1")
    ses.create_email_identity(EmailIdentity="moto-identities.example",
                              DkimSigningAttributes={"NextSigningKeyLength": "RSA_2048_BIT"})
    ses.create_email_identity(EmailIdentity="someone@moto-identities.example")
    found = {i.name: i for i in read_identities(identity_client(settings))}
    assert found["moto-identities.example"].dkim == "SUCCESS"
    assert found["moto-identities.example"].verification == "SUCCESS"
    assert found["someone@moto-identities.example"].kind == "address"


@pytest.mark.parametrize(("env", "reason"), [
    ({"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None,
      "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent",
      "AWS_EC2_METADATA_DISABLED": "true"}, "no_credentials"),
    ({"AWS_ACCESS_KEY_ID": "someone-else"}, "denied"),
    ({"AWS_ENDPOINT_URL_SESV2": "http://127.0.0.1:9"}, "unreachable"),
])
def test_ses_errors_are_classified(fake, settings, monkeypatch, env, reason):
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    with pytest.raises(SesUnavailable) as refused:
        read_identities(identity_client(settings))
    assert refused.value.reason == reason


def test_keys_are_matched_to_the_identities_they_send_from():
    identities = [i for i in _identities()]
    keys = [_key(1), _key(2, "shop.example"), _key(3, "mail.shop.example"),
            _key(4, "corp.example"), _key(5, "nowhere.example", "shop.example"),
            _key(6, "shop.example", revoked=True)]
    served = {name: [k.id for k in ks] for name, ks in keys_by_identity(identities, keys).items()}
    assert served == {"shop.example": [1, 2, 3, 5], "ops@corp.example": [1, 4],
                      "news.example": [1]}
    # news.example is not verified: a key allowing only it could not send.
    assert {d: [k.id for k in ks] for d, ks in unserved_domains(identities, keys).items()} \
        == {"nowhere.example": [5]}


def _identities():
    from shared.identities import Identity

    return [Identity("shop.example", "domain", "SUCCESS", True),
            Identity("ops@corp.example", "address", "SUCCESS", True),
            Identity("news.example", "domain", "PENDING", False)]
