"""The SES account's sender identities with their DKIM state, and which API keys send
from each.

SES sends only from verified identities: a domain (every address at it, and
its subdomains) or a single address. The list and the verification state are
``shared.ses.account.read_identities`` (ListEmailIdentities); each identity's
DKIM state (status, whether SES signs, the CNAME tokens to publish) is one
``GetEmailIdentity``, read a few at a time; an identity whose DKIM could not
be read keeps its reason (one identity's error is not the whole page's).
Failures are ``shared.ses.account.SesUnavailable``, classified there.

Which keys send from an identity follows the keys' own rule
(``ApiKey.allows_sender``): a key that names no domain may send from any
address; one that names domains only from addresses at them. So a domain
identity serves the keys that allow it or a subdomain of it; an address
identity, the keys that allow its domain. A domain a key allows that no
verified identity covers (``shared.ses.checks.covering_identity``, the SES
page's rule) is a key whose mail SES refuses: ``unserved_domains``.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from shared.db.keys import ApiKey
from shared.ses.account import Identity, SesUnavailable, read_identities, unavailable
from shared.ses.checks import Sender, covering_identity

#: Identities whose DKIM state is read (one GetEmailIdentity each), and how many at once.
MAX_DETAILS = 200
PARALLEL_DETAILS = 4


@dataclass(frozen=True)
class Dkim:
    """An identity's Easy DKIM, as GetEmailIdentity says it."""

    #: SUCCESS, PENDING, FAILED, TEMPORARY_FAILURE or NOT_STARTED.
    status: str
    signing: bool
    tokens: tuple[str, ...] = ()


@dataclass(frozen=True)
class SenderIdentity:
    identity: Identity
    #: None when it was not read: past ``MAX_DETAILS``, or ``problem`` says why.
    dkim: Dkim | None = None
    problem: SesUnavailable | None = None
    #: The custom MAIL FROM domain and its status (SUCCESS, PENDING, FAILED,
    #: TEMPORARY_FAILURE), e.g. ``bounce.example.com SUCCESS``; None: SES's own.
    mail_from: str | None = None

    @property
    def name(self) -> str:
        return self.identity.name

    @property
    def is_address(self) -> bool:
        return self.identity.kind == "EMAIL_ADDRESS"

    @property
    def domain(self) -> str:
        return self.name.rpartition("@")[2].lower()

    @property
    def dkim_records(self) -> list[tuple[str, str]]:
        """The CNAME records Easy DKIM asks the domain to publish: (name, value)."""
        return [(f"{token}._domainkey.{self.domain}", f"{token}.dkim.amazonses.com")
                for token in (self.dkim.tokens if self.dkim else ())]

    def serves_domain(self, domain: str) -> bool:
        """Whether an address at ``domain`` may be sent from this identity."""
        if self.is_address:
            return domain == self.domain
        return domain == self.domain or domain.endswith("." + self.domain)

    def serves(self, key: ApiKey) -> bool:
        """Whether ``key`` may send from this identity (see the module's docstring)."""
        return not key.allowed_domains or any(self.serves_domain(d)
                                              for d in key.allowed_domains)


def read_dkim(client, identity: Identity) -> SenderIdentity:
    """``identity`` with its DKIM state (GetEmailIdentity), or with why it was not read."""
    try:
        answer = client.get_email_identity(EmailIdentity=identity.name)
    except (BotoCoreError, ClientError) as exc:
        return SenderIdentity(identity, problem=unavailable(exc, "GetEmailIdentity"))
    dkim = answer.get("DkimAttributes") or {}
    mail_from = answer.get("MailFromAttributes") or {}
    return SenderIdentity(identity, Dkim(dkim.get("Status") or "NOT_STARTED",
                                         bool(dkim.get("SigningEnabled", False)),
                                         tuple(dkim.get("Tokens") or ())),
                          mail_from=(f"{mail_from['MailFromDomain']} "
                                     f"{mail_from.get('MailFromDomainStatus') or '?'}"
                                     if mail_from.get("MailFromDomain") else None))


def read_sender_identities(client) -> list[SenderIdentity]:
    """Every identity, a domain before the addresses at it, the first ``MAX_DETAILS`` with
    their DKIM state. SesUnavailable when the list itself cannot be read."""
    identities = sorted(read_identities(client), key=lambda i: (
        i.name.rpartition("@")[2].lower(), i.kind == "EMAIL_ADDRESS", i.name.lower()))
    with ThreadPoolExecutor(PARALLEL_DETAILS) as pool:
        detailed = list(pool.map(lambda i: read_dkim(client, i), identities[:MAX_DETAILS]))
    return detailed + [SenderIdentity(i) for i in identities[MAX_DETAILS:]]


def keys_by_identity(identities: Iterable[SenderIdentity], keys: Iterable[ApiKey]
                     ) -> dict[str, list[ApiKey]]:
    """{identity name: the active keys that may send from it}."""
    active = [k for k in keys if k.revoked_at is None]
    return {i.name: [k for k in active if i.serves(k)] for i in identities}


def unserved_domains(identities: Iterable[SenderIdentity], keys: Iterable[ApiKey]
                     ) -> dict[str, list[ApiKey]]:
    """{domain: the active keys allowing it} for each domain a key allows that no verified
    identity covers."""
    listed = tuple(i.identity for i in identities)
    found: dict[str, list[ApiKey]] = {}
    for key in keys:
        if key.revoked_at is not None:
            continue
        for domain in key.allowed_domains:
            covering = covering_identity(Sender(domain), listed)
            if covering is None or not covering.verified:
                found.setdefault(domain, []).append(key)
    return dict(sorted(found.items()))
