"""Attachments: what a request may attach, and how they go into the MIME message.

Bytes are stored once per distinct content (``shared.db.attachments``) and
shared by every recipient of a message; here they are only checked and
placed. File names are kept as sent, Korean included, RFC 2231-encoded
(``filename*=utf-8''…``) on the disposition and as the Content-Type
``name``, which some older clients read instead.
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass, field
from email.message import EmailMessage

from shared.errors import InvalidRequest, PayloadTooLarge

#: SES v2 accepts up to 40 MB per message after MIME encoding; base64 grows
#: data by 4/3, so decoded attachments past 30 MB can never be sent through it.
SES_MAX_ATTACHMENT_BYTES = 30 * 1024 * 1024
MAX_ATTACHMENTS = 100

_TOKEN = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
#: Matched with ``fullmatch``: ``$`` would also match before a trailing newline.
_CONTENT_TYPE = re.compile(rf"{_TOKEN}/{_TOKEN}")
_CONTENT_REF = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.@-]{1,250}")


@dataclass(frozen=True)
class Attachment:
    """One file carried by a message; ``content_ref`` makes it inline (``cid:``)."""

    filename: str
    content_type: str
    data: bytes = field(repr=False)
    content_ref: str | None = None

    @property
    def inline(self) -> bool:
        return self.content_ref is not None


def clean_filename(name: str) -> str:
    """The file name without any client path, control characters, surrogates or extreme
    length."""
    name = re.split(r"[\\/]", name)[-1]
    # Surrogates too: a lone one cannot be stored as text.
    name = "".join(ch for ch in name if ch >= " " and ch != "\x7f"
                   and not "\ud800" <= ch <= "\udfff").strip()
    return name[:255] or "attachment"


def content_type_for(filename: str, declared: str | None) -> str:
    """The declared type when it is specific and well formed, else a guess from the name."""
    declared = (declared or "").split(";")[0].strip().lower()
    # multipart/* and message/* would need a MIME structure, not bytes.
    specific = declared and declared != "application/octet-stream"
    if specific and _CONTENT_TYPE.fullmatch(declared) and not declared.startswith(("multipart/",
                                                                              "message/")):
        return declared
    guessed, _ = mimetypes.guess_type(filename, strict=False)
    return guessed or "application/octet-stream"


def make_attachment(
    filename: str, data: bytes, content_type: str | None = None, content_ref: str | None = None,
    *, field_name: str = "attachments",
) -> Attachment:
    """A checked Attachment; InvalidRequest names ``field_name`` when a part is unusable."""
    if content_type and not _CONTENT_TYPE.fullmatch(content_type.split(";")[0].strip()):
        raise InvalidRequest("invalid_content_type",
                             f"{field_name}: {content_type[:100]!r} is not a MIME type",
                             field=field_name)
    if content_ref is not None:
        content_ref = content_ref.strip().removeprefix("<").removesuffix(">")
        if not _CONTENT_REF.fullmatch(content_ref):
            raise InvalidRequest("invalid_content_id",
                                 f"{field_name}: content id {content_ref[:100]!r} must be "
                                 "1-250 printable ASCII characters without spaces",
                                 field=field_name)
    name = clean_filename(filename)
    return Attachment(name, content_type_for(name, content_type), data, content_ref)


def check_total(attachments: list[Attachment] | tuple[Attachment, ...], limit: int) -> None:
    """Refuse (413) a request whose attachments are too many or too large together."""
    if len(attachments) > MAX_ATTACHMENTS:
        raise PayloadTooLarge("too_many_attachments",
                              f"attachments: {len(attachments)} files; the limit is "
                              f"{MAX_ATTACHMENTS}", field="attachments")
    total = sum(len(a.data) for a in attachments)
    if total > limit:
        raise PayloadTooLarge("attachments_too_large",
                              f"attachments: {total} bytes in all; the limit is {limit} bytes "
                              "per request", field="attachments")


def _part_type(attachment: Attachment) -> tuple[str, str]:
    maintype, _, subtype = attachment.content_type.partition("/")
    return maintype, subtype


def _legacy_name(part: EmailMessage, filename: str) -> None:
    """The name on Content-Type too: some older clients read only that one."""
    part.set_param("name", filename)


def add_attachments(mime: EmailMessage, attachments: tuple[Attachment, ...]) -> None:
    """Put inline parts beside the HTML (multipart/related), the rest as attachments."""
    inline = [a for a in attachments if a.inline]
    html = mime.get_body(("html",)) if inline else None
    for attachment in inline:
        target = html or mime  # a text-only message still carries the part
        maintype, subtype = _part_type(attachment)
        target.add_related(attachment.data, maintype, subtype, cid=f"<{attachment.content_ref}>",
                           disposition="inline", filename=attachment.filename)
        _legacy_name(_last_part(target), attachment.filename)
    for attachment in attachments:
        if attachment.inline:
            continue
        maintype, subtype = _part_type(attachment)
        mime.add_attachment(attachment.data, maintype, subtype, filename=attachment.filename)
        _legacy_name(_last_part(mime), attachment.filename)


def _last_part(container: EmailMessage) -> EmailMessage:
    return container.get_payload()[-1]
