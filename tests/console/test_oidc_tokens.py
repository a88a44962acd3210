"""The ID token checks: signature, issuer, audience, expiry, nonce, a verified email."""

from __future__ import annotations

import time

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from services.console.allowlist import allowed
from services.console.oidc import OidcClient, OidcError

ISSUER = "https://issuer.example"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
CLIENT = OidcClient(ISSUER, "client-1", "secret", "https://mail.example/ui/auth/callback")


def _token(key=KEY, **changes) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": "client-1", "sub": "42", "iat": now, "exp": now + 300,
              "nonce": "n-1", "email": "Alice@Corp.example", "email_verified": True}
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)


def test_a_valid_token_gives_the_lower_cased_email():
    identity = CLIENT._verify(_token(), KeySet([KEY]), "n-1")
    assert identity.email == "alice@corp.example" and identity.subject == f"{ISSUER} 42"


@pytest.mark.parametrize("changes", [
    {"nonce": "another"}, {"nonce": None}, {"aud": "someone-else"}, {"iss": "https://evil"},
    {"exp": int(time.time()) - 3600}, {"email_verified": False}, {"email": None},
    # A token that does not say the email is verified, or says so as the string
    # "false", proves nothing about the address (review of part 1).
    {"email_verified": None}, {"email_verified": "false"}, {"email_verified": 0},
    # The claim must be an address: not a bare domain, not a look-alike that
    # str.lower() folds into ASCII (the Kelvin sign K becomes k).
    {"email": "corp.example"}, {"email": "\u212aim@corp.example"},
])
def test_a_token_that_does_not_check_out_is_refused(changes):
    with pytest.raises(OidcError):
        CLIENT._verify(_token(**changes), KeySet([KEY]), "n-1")


def test_a_token_signed_by_another_key_is_refused():
    other = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    with pytest.raises(OidcError):
        CLIENT._verify(_token(key=other), KeySet([KEY]), "n-1")


def test_a_string_true_email_verified_is_accepted():
    assert CLIENT._verify(_token(email_verified="true"), KeySet([KEY]), "n-1").email == \
        "alice@corp.example"


def test_the_allowlist_admits_addresses_only():
    assert not allowed("corp.example", "@corp.example")  # a bare domain is no address
    assert not allowed("@corp.example", "@corp.example")
    assert not allowed("\u212aim@corp.example", "kim@corp.example")  # Kelvin sign K
    assert not allowed("kim@\u212aorp.example", "@korp.example")
    assert allowed("KIM@Corp.Example", "kim@corp.example")


def test_the_allowlist_takes_emails_and_whole_domains_only():
    rule = "alice@corp.com, @team.example"
    assert allowed("Alice@corp.com", rule) and allowed("bob@team.example", rule)
    assert not allowed("bob@corp.com", rule)
    assert not allowed("eve@evil.team.example", rule)  # no sub-domains
    assert not allowed("eve@team.example.evil", rule)
    assert not allowed("anyone@corp.com", "")
