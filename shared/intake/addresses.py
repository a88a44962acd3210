"""Email addresses and mailboxes (an address with a display name), as every intake path reads them.

A recipient or sender may be given as ``a@b``, ``<a@b>`` or ``Name <a@b>``
(RFC 5322 ``name-addr``). mailpipe keeps the two apart (``NamedAddress``):
the address is what is matched, de-duplicated and suppressed (lower-cased:
``NamedAddress.key``), the name is only shown, and written on the wire as
RFC 2047 encoded words (``NamedAddress.header``).

A display name is an RFC 5322 phrase: words of any script (RFC 6532), or a
quoted string for one with specials (``"Kim, Minsu" <m@example.com>``).
One with an unquoted special, a line break (any ``str.splitlines``
boundary, U+2028 included) or another control character is refused with
the reason (``AddressError``), never passed on: the name is re-quoted when
written, so what a caller sends can never become a header of its own.

``has_line_break`` (every ``str.splitlines`` boundary, and NUL) lives in
``shared.intake.text`` and is re-exported here for the callers that check
addresses and header values together.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.utils import formataddr, parseaddr

from shared.i18n import Text
from shared.intake.text import has_line_break, text_problem

_LOCAL = r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"{_LOCAL}@{_LABEL}(?:\.{_LABEL})+")
#: RFC 5322 specials that may appear in a display name only inside double quotes
#: (``.`` is left out: RFC 5322's obs-phrase allows it, and every mailer writes ``J. Doe``).
_SPECIALS = re.compile(r'[()<>\[\]:;@\\,"]')
#: Characters that need quoting when a name is written back (formataddr's set).
_NEEDS_QUOTES = re.compile(r'[][\\()<>@,:;".]')
_QUOTED_PAIR = re.compile(r'\\(.)')
MAX_NAME = 200


class AddressError(ValueError):
    """Raised when a value is not an address or a mailbox; ``code`` and the message say why.

    ``text`` is the message not yet in a language (``shared.i18n.Text``),
    ``message`` its English, as ``RequestError`` keeps them.
    """

    def __init__(self, code: str, message: Text) -> None:
        super().__init__(str(message))
        self.code = code
        self.text = message
        self.message = str(message)


def is_valid_address(address: str) -> bool:
    """A plain ``local@domain`` address SES will accept (no display name)."""
    # fullmatch, not match: ``$`` would also match before a trailing newline.
    if len(address) > 254 or not _ADDRESS.fullmatch(address):
        return False
    local = address.rpartition("@")[0]
    return (len(local) <= 64 and not local.startswith(".") and not local.endswith(".")
            and ".." not in local)


@dataclass(frozen=True)
class NamedAddress:
    """An address and the display name it was given with (None: none)."""

    address: str
    name: str | None = None

    @property
    def key(self) -> str:
        """What matching, de-duplication and suppression go by: the address, lower-cased."""
        return self.address.lower()

    def header(self) -> str:
        """The mailbox as a header carries it: a non-ASCII name as RFC 2047 encoded words."""
        return formataddr((self.name, self.address), charset="utf-8") if self.name \
            else self.address

    def __str__(self) -> str:
        """The mailbox as people read and type it (``"Kim, Minsu" <m@example.com>``)."""
        return mailbox_text(self.address, self.name)


def mailbox_text(address: str, name: str | None) -> str:
    """``Name <address>`` with the name quoted where RFC 5322 needs it, not encoded.

    ``parse_mailbox`` reads it back as the same name: one that looks like RFC 2047
    encoded words (``=?``) is quoted too, since unquoted such words are decoded.
    """
    if not name:
        return address
    if _NEEDS_QUOTES.search(name) or "=?" in name:
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{address}>"


def parse_mailbox(value: str) -> NamedAddress:
    """``a@b``, ``<a@b>`` or ``Name <a@b>`` as a NamedAddress; raises AddressError.

    Exactly one mailbox: ``a@b, c@d`` or a name with an unquoted comma is
    refused, not read as its first part.
    """
    # invalid_email, as for any other bad address: the code callers already match on.
    problem = text_problem(value)
    if problem:
        raise AddressError("invalid_email", Text("not a valid email address: %(problem)s",
                                                 problem=problem))
    if has_line_break(value):
        raise AddressError("invalid_email", Text(
            "not a valid email address: must not contain line breaks (CR, LF, VT, FF, "
            "U+001C-U+001E, U+0085, U+2028, U+2029)"))
    value = value.strip()
    name = None
    if value.endswith(">") and "<" in value:
        opening = value.rindex("<")
        name = _display_name(value[:opening].strip())
        value = value[opening + 1:-1].strip()
    if not is_valid_address(value):
        raise AddressError("invalid_email", Text("'%(value)s' is not a valid email address",
                                                 value=value[:100]))
    return NamedAddress(value, name)


def _display_name(phrase: str) -> str | None:
    """The text of an RFC 5322 display name (unquoted, encoded words decoded), or None."""
    if len(phrase) >= 2 and phrase.startswith('"') and phrase.endswith('"'):
        inner = phrase[1:-1]
        if '"' in _QUOTED_PAIR.sub("", inner):
            raise AddressError("invalid_display_name", Text(
                'the display name has an unescaped double quote; write it as '
                '"Kim \\"MS\\" Minsu" <m@example.com>'))
        name = _QUOTED_PAIR.sub(r"\1", inner)
    else:
        if _SPECIALS.search(phrase):
            raise AddressError("invalid_display_name", Text(
                'the display name %(name)r has a special character (, ; : @ < > ( ) [ ] \\ "): '
                'put it in double quotes, as "Kim, Minsu" <m@example.com>', name=phrase[:100]))
        name = " ".join(phrase.split())
        if "=?" in name:  # RFC 2047 encoded words, as another mailer wrote them
            try:
                name = str(make_header(decode_header(name)))
            except (ValueError, LookupError, UnicodeError):
                raise AddressError("invalid_display_name", Text(
                    "the display name has encoded words that do not decode")) from None
    return checked_name(name)


def checked_name(name: str) -> str | None:
    """A display name already unquoted (by ``parse_mailbox`` or ``email.utils``), checked:
    no control character or line break, at most MAX_NAME characters; None when blank."""
    if any(unicodedata.category(c) == "Cc" for c in name) or has_line_break(name):
        raise AddressError("invalid_display_name", Text(
            "the display name must not contain control characters"))
    if len(name) > MAX_NAME:
        raise AddressError("invalid_display_name", Text(
            "the display name is longer than %(max)s characters", max=MAX_NAME))
    return name.strip() or None


def normalize_mailbox(value: str) -> str | None:
    """``a@b``, ``<a@b>`` or ``Name <a@b>`` as mailbox text (``mailbox_text``), or None if
    invalid. Stored as such (a sender's From); encoded when written (``encoded_mailbox``)."""
    try:
        return str(parse_mailbox(value))
    except AddressError:
        return None


def address_of(mailbox: str) -> str:
    """The bare address in a mailbox string."""
    return parseaddr(mailbox)[1]


def encoded_mailbox(mailbox: str) -> str:
    """Mailbox text with a non-ASCII display name as RFC 2047 encoded words (SES, SMTP and
    the MIME headers take 7-bit text)."""
    if mailbox.isascii():
        return mailbox
    name, address = parseaddr(mailbox)
    return formataddr((name, address), charset="utf-8") if address else mailbox


__all__ = ["AddressError", "NamedAddress", "address_of", "checked_name", "encoded_mailbox",
           "has_line_break",
           "is_valid_address", "mailbox_text", "normalize_mailbox", "parse_mailbox"]
