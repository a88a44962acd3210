"""``MAILPIPE_CONSOLE_ALLOW``: which OIDC identities may sign in (emails and ``@domains``)."""

from __future__ import annotations

from shared.intake.addresses import is_valid_address


def parse_allowlist(value: str) -> tuple[frozenset[str], frozenset[str]]:
    """(emails, domains) from ``alice@corp.com, @corp.com``; all lower-cased."""
    emails, domains = set(), set()
    for entry in value.replace(" ", ",").split(","):
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry.startswith("@"):
            domains.add(entry[1:])
        elif "@" in entry:
            emails.add(entry)
        else:
            domains.add(entry)
    return frozenset(emails), frozenset(domains)


def allowed(email: str, allowlist: str) -> bool:
    """True when ``email`` is an address and is listed, or its domain is (exactly: no
    sub-domains). Only ASCII addresses are compared: ``str.lower`` folds look-alikes
    (the Kelvin sign K into k), so a claim that is not a plain address never matches."""
    email = email.strip()
    if not is_valid_address(email):
        return False
    emails, domains = parse_allowlist(allowlist)
    email = email.lower()
    return email in emails or email.rpartition("@")[2] in domains
