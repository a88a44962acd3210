"""Email address and header-value checks shared by every intake path.

``has_line_break`` (every ``str.splitlines`` boundary, and NUL) lives in
``shared.intake.text`` and is re-exported here for the callers that check
addresses and header values together.
"""

from __future__ import annotations

import re
from email.utils import formataddr, parseaddr

from shared.intake.text import has_line_break, text_problem

_LOCAL = r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"{_LOCAL}@{_LABEL}(?:\.{_LABEL})+")


def is_valid_address(address: str) -> bool:
    """A plain ``local@domain`` address SES will accept (no display name)."""
    # fullmatch, not match: ``$`` would also match before a trailing newline.
    if len(address) > 254 or not _ADDRESS.fullmatch(address):
        return False
    local = address.rpartition("@")[0]
    return (len(local) <= 64 and not local.startswith(".") and not local.endswith(".")
            and ".." not in local)


def normalize_mailbox(value: str) -> str | None:
    """``a@b``, ``<a@b>`` or ``Name <a@b>`` as a header-safe mailbox, or None if invalid."""
    if has_line_break(value) or text_problem(value):
        return None
    name, address = parseaddr(value)
    if not is_valid_address(address):
        return None
    return formataddr((name, address)) if name else address


__all__ = ["address_of", "has_line_break", "is_valid_address", "normalize_mailbox"]


def address_of(mailbox: str) -> str:
    """The bare address in a mailbox string."""
    return parseaddr(mailbox)[1]
