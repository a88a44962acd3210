"""OpenID Connect sign-in (authorization code flow with PKCE), with Authlib and joserfc.

``begin`` makes the authorization URL and the one-time ``Pending`` state
(state, nonce, PKCE verifier) that the callback must match; ``finish``
exchanges the code, verifies the ID token's signature against the issuer's
JWKS, its issuer, audience, expiry and nonce, and returns the verified
email. The issuer's endpoints come from its discovery document, read once
and kept for an hour.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from shared.intake.addresses import is_valid_address

#: How long the discovery document and JWKS are trusted before being read again.
DISCOVERY_TTL = 3600.0
TIMEOUT = 10.0


class OidcError(Exception):
    """Raised when a sign-in cannot be completed: bad state, refused code, invalid ID token."""


@dataclass(frozen=True)
class Pending:
    """What the callback of one sign-in attempt must match (kept server-side, used once)."""

    state: str
    nonce: str
    code_verifier: str
    next_path: str


@dataclass(frozen=True)
class Identity:
    email: str
    subject: str


class OidcClient:
    def __init__(self, issuer: str, client_id: str, client_secret: str | None,
                 redirect_url: str) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_url = redirect_url
        self._lock = threading.Lock()
        self._discovered: tuple[float, dict, KeySet] | None = None

    def _config(self) -> tuple[dict, KeySet]:
        with self._lock:
            if self._discovered and time.monotonic() - self._discovered[0] < DISCOVERY_TTL:
                return self._discovered[1], self._discovered[2]
            try:
                doc = requests.get(f"{self.issuer}/.well-known/openid-configuration",
                                   timeout=TIMEOUT)
                doc.raise_for_status()
                config = doc.json()
                keys = requests.get(config["jwks_uri"], timeout=TIMEOUT)
                keys.raise_for_status()
                key_set = KeySet.import_key_set(keys.json())
            except (requests.RequestException, ValueError, KeyError) as exc:
                raise OidcError(f"the issuer's discovery document could not be read: {exc}") \
                    from None
            if config.get("issuer", "").rstrip("/") != self.issuer:
                raise OidcError(f"the discovery document names issuer {config.get('issuer')!r}")
            self._discovered = (time.monotonic(), config, key_set)
            return config, key_set

    def _session(self) -> OAuth2Session:
        return OAuth2Session(self.client_id, self.client_secret, scope="openid email profile",
                             redirect_uri=self.redirect_url, code_challenge_method="S256")

    def begin(self, next_path: str) -> tuple[str, Pending]:
        """(URL to send the browser to, the state its callback must match)."""
        config, _ = self._config()
        pending = Pending(state=secrets.token_urlsafe(24), nonce=secrets.token_urlsafe(24),
                          code_verifier=generate_token(64), next_path=next_path)
        url, _ = self._session().create_authorization_url(
            config["authorization_endpoint"], state=pending.state, nonce=pending.nonce,
            code_verifier=pending.code_verifier)
        return url, pending

    def finish(self, pending: Pending, params: dict[str, str]) -> Identity:
        """The verified identity of a callback; OidcError when anything does not check out."""
        if params.get("error"):
            raise OidcError(f"the issuer refused: {params['error']}")
        if not params.get("state") or not secrets.compare_digest(params["state"], pending.state):
            raise OidcError("the state does not match this browser's sign-in")
        config, key_set = self._config()
        try:
            token = self._session().fetch_token(
                config["token_endpoint"], code=params.get("code", ""),
                code_verifier=pending.code_verifier, timeout=TIMEOUT)
        except Exception as exc:  # authlib raises OAuthError, requests its own
            raise OidcError(f"the code could not be exchanged: {exc}") from None
        if "id_token" not in token:
            raise OidcError("the issuer sent no ID token")
        return self._verify(token["id_token"], key_set, pending.nonce)

    def _verify(self, id_token: str, key_set: KeySet, nonce: str) -> Identity:
        try:
            decoded = jwt.decode(id_token, key_set, algorithms=["RS256", "ES256", "PS256"])
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "values": [self.issuer, self.issuer + "/"]},
                aud={"essential": True, "value": self.client_id},
                sub={"essential": True}, exp={"essential": True},
                nonce={"essential": True, "value": nonce}, leeway=60,
            ).validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise OidcError(f"the ID token is not valid: {exc}") from None
        claims = decoded.claims
        email = str(claims.get("email") or "").strip()
        # A boolean true only ("true" from issuers that send strings): a token
        # without the claim, or with "false", proves nothing about the address.
        verified = claims.get("email_verified")
        if str(verified).lower() != "true":
            raise OidcError("the ID token's email is not verified (email_verified is "
                            f"{verified!r})")
        if not is_valid_address(email):
            raise OidcError(f"the ID token's email {email[:100]!r} is not an address")
        return Identity(email=email.lower(), subject=f"{claims['iss']} {claims['sub']}")


def client_for(settings) -> OidcClient | None:
    """The configured client, or None when MAILPIPE_OIDC_CLIENT_ID is unset."""
    if not settings.oidc_client_id:
        return None
    secret = settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret \
        else None
    redirect = settings.oidc_redirect_url or \
        settings.public_url.rstrip("/") + "/ui/auth/callback"
    return OidcClient(settings.oidc_issuer, settings.oidc_client_id, secret, redirect)
