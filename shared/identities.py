"""The SES account's sender identities, and which API keys may send from each.

SES sends only from verified identities: a domain (every address at it) or
a single address. ``read_identities`` lists them (SES v2
``ListEmailIdentities``: the type, whether verified, whether sending is
enabled) and reads each one's DKIM state (``GetEmailIdentity``: status,
whether SES signs, the CNAME tokens to publish), a few at a time.

Which keys send from an identity follows the keys' own rule
(``ApiKey.allows_sender``): a key that names no domain may send from any
address; one that names domains only from addresses at them. So a domain
identity serves the keys that allow it, and a subdomain of it (SES lets a
verified domain send from its subdomains); an address identity, the keys
that allow its domain. A domain a key allows with no identity to send
from is a key that cannot send: ``unserved_domains``.

Errors are SES's own, classified (``SesUnavailable.reason``) so a page can
say what to do: no credentials, no region, refused, throttled, unreachable.
Reads only; the client retries once (reads are safe to repeat) and gives up
after seconds, not the transport's 30.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from shared.db.keys import ApiKey
from shared.errors import MailpipeError
from shared.settings import Settings

#: Identities read at most, in ListEmailIdentities pages of ``PAGE_SIZE`` (its most).
MAX_IDENTITIES = 1000
PAGE_SIZE = 1000
#: Identities whose DKIM state is read (one GetEmailIdentity each), and how many at once.
MAX_DETAILS = 200
PARALLEL_DETAILS = 4

_THROTTLED = {"TooManyRequestsException", "Throttling", "ThrottlingException",
              "LimitExceededException", "RequestLimitExceeded"}
_DENIED = {"AccessDenied", "AccessDeniedException", "UnrecognizedClientException",
           "InvalidClientTokenId", "InvalidSignatureException", "SignatureDoesNotMatch",
           "ExpiredToken", "ExpiredTokenException", "MissingAuthenticationToken"}


class SesUnavailable(MailpipeError):
    """Raised when SES could not answer: ``reason`` is no_credentials, no_region, denied,
    throttled, unreachable or error; ``detail`` is SES's or the SDK's own words."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Identity:
    name: str
    #: ``domain`` or ``address``.
    kind: str
    #: SES's VerificationStatus: SUCCESS, PENDING, FAILED, TEMPORARY_FAILURE, NOT_STARTED.
    verification: str
    sending_enabled: bool
    #: DKIM status as SES says it, None when it was not read (``problem`` says why).
    dkim: str | None = None
    dkim_signing: bool | None = None
    dkim_tokens: tuple[str, ...] = ()
    #: Why this identity's details could not be read (a ``SesUnavailable``), if so.
    problem: SesUnavailable | None = field(default=None, compare=False)

    @property
    def domain(self) -> str:
        return self.name.rpartition("@")[2].lower()

    def serves_domain(self, domain: str) -> bool:
        """Whether an address at ``domain`` may be sent from: this domain or a subdomain
        of it, or (an address identity) this very address's domain."""
        if self.kind == "address":
            return domain == self.domain
        return domain == self.domain or domain.endswith("." + self.domain)

    def serves(self, key: ApiKey) -> bool:
        """Whether ``key`` may send from this identity (see the module's docstring)."""
        return not key.allowed_domains or any(self.serves_domain(d)
                                              for d in key.allowed_domains)

    @property
    def dkim_records(self) -> list[tuple[str, str]]:
        """The CNAME records Easy DKIM asks the domain to publish: (name, value)."""
        return [(f"{token}._domainkey.{self.domain}", f"{token}.dkim.amazonses.com")
                for token in self.dkim_tokens]


def identity_client(settings: Settings):
    """An SES v2 client for reading identities, configured the standard AWS way."""
    config = Config(retries={"total_max_attempts": 2, "mode": "standard"},
                    connect_timeout=3, read_timeout=10)
    try:
        return boto3.session.Session().client("sesv2", region_name=settings.aws_region or None,
                                              config=config)
    except BotoCoreError as exc:
        raise unavailable(exc) from exc


def unavailable(exc: Exception) -> SesUnavailable:
    """``exc`` (from boto3) as a ``SesUnavailable`` with its reason."""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return SesUnavailable("no_credentials", str(exc))
    if isinstance(exc, NoRegionError):
        return SesUnavailable("no_region", str(exc))
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError
                  | ConnectionClosedError):
        return SesUnavailable("unreachable", str(exc))
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message") or str(exc)
        if code in _THROTTLED:
            return SesUnavailable("throttled", message)
        if code in _DENIED:
            return SesUnavailable("denied", f"{code}: {message}")
        return SesUnavailable("error", f"{code}: {message}" if code else message)
    return SesUnavailable("error", str(exc))


def _ask(call, **params) -> dict:
    try:
        return call(**params)
    except (BotoCoreError, ClientError) as exc:
        raise unavailable(exc) from exc


def list_identities(client) -> list[Identity]:
    """Every identity of the account (up to ``MAX_IDENTITIES``), by name; no DKIM yet."""
    found, token = [], None
    while len(found) < MAX_IDENTITIES:
        page = _ask(client.list_email_identities, PageSize=PAGE_SIZE,
                    **({"NextToken": token} if token else {}))
        for item in page.get("EmailIdentities", []):
            found.append(Identity(
                name=item["IdentityName"],
                kind="address" if item.get("IdentityType") == "EMAIL_ADDRESS" else "domain",
                verification=item.get("VerificationStatus") or "NOT_STARTED",
                sending_enabled=bool(item.get("SendingEnabled", False))))
        token = page.get("NextToken")
        if not token:
            break
    # A domain, then the addresses at it.
    return sorted(found[:MAX_IDENTITIES],
                  key=lambda i: (i.domain, i.kind != "domain", i.name.lower()))


def with_details(client, identity: Identity) -> Identity:
    """``identity`` with its DKIM state (``GetEmailIdentity``), or with the problem
    that kept it from being read (one identity's error is not the whole page's)."""
    try:
        answer = _ask(client.get_email_identity, EmailIdentity=identity.name)
    except SesUnavailable as problem:
        return Identity(identity.name, identity.kind, identity.verification,
                        identity.sending_enabled, problem=problem)
    dkim = answer.get("DkimAttributes") or {}
    return Identity(
        name=identity.name, kind=identity.kind,
        verification=answer.get("VerificationStatus") or identity.verification,
        sending_enabled=identity.sending_enabled,
        dkim=dkim.get("Status") or "NOT_STARTED",
        dkim_signing=bool(dkim.get("SigningEnabled", False)),
        dkim_tokens=tuple(dkim.get("Tokens") or ()))


def read_identities(client) -> list[Identity]:
    """Every identity, the first ``MAX_DETAILS`` with their DKIM state. SesUnavailable
    when the list itself cannot be read."""
    identities = list_identities(client)
    with ThreadPoolExecutor(PARALLEL_DETAILS) as pool:
        detailed = list(pool.map(lambda i: with_details(client, i), identities[:MAX_DETAILS]))
    return detailed + identities[MAX_DETAILS:]


def keys_by_identity(identities: Iterable[Identity], keys: Iterable[ApiKey]
                     ) -> dict[str, list[ApiKey]]:
    """{identity name: the active keys that may send from it}."""
    active = [k for k in keys if k.revoked_at is None]
    return {i.name: [k for k in active if i.serves(k)] for i in identities}


def unserved_domains(identities: Iterable[Identity], keys: Iterable[ApiKey]
                     ) -> dict[str, list[ApiKey]]:
    """{domain: the active keys allowing it} for each domain a key allows that no
    verified identity serves (no domain identity at it or above it, no address at it)."""
    verified = [i for i in identities if i.verification == "SUCCESS"]
    found: dict[str, list[ApiKey]] = {}
    for key in keys:
        if key.revoked_at is not None:
            continue
        for domain in key.allowed_domains:
            if not any(i.serves_domain(domain) for i in verified):
                found.setdefault(domain, []).append(key)
    return dict(sorted(found.items()))
