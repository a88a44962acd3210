"""Attachments: what a request may attach, and how they go into the MIME message.

Bytes are stored once per distinct content (``shared.db.attachments``) and
shared by every recipient of a message; here they are only checked and
placed. File names are kept as sent, Korean included (without a client's
folders), and refused at intake, at every door, when they hold a character
no header can carry (``filename_problem``). A name that is not
plain ASCII is written in both encodings mail clients read, on the
disposition (``filename``) and on the Content-Type (``name``): RFC 2047
encoded words in the plain parameter (what Outlook, Korean webmail and most
mobile clients read) and RFC 2231's ``filename*`` (what the RFCs define;
readers that know it prefer it), as widely used mailers write them.
"""

from __future__ import annotations

import base64
import mimetypes
import re
import unicodedata
from dataclasses import dataclass, field
from email import message_from_string
from email.message import EmailMessage
from urllib.parse import quote

from shared.errors import InvalidRequest, PayloadTooLarge
from shared.i18n import Text

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


#: Unicode categories no file name may hold: controls (CR, LF, TAB, VT, FF, NEL U+0085,
#: the separators U+001C-U+001E, DEL …), the line and paragraph separators U+2028 and
#: U+2029, and surrogates (a lone one cannot be stored as text).
_REFUSED_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cs"})
#: Bidirectional embeddings, overrides and isolates: "report\u202efdp.exe" shows as
#: "reportexe.pdf". (The marks U+200E/U+200F and joiners stay: RTL and Indic names need them.)
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def filename_problem(name: str) -> Text | None:
    """Why ``name`` cannot name an attached file, or None; the rule of every door.

    The name is written into the part's Content-Type and Content-Disposition
    headers, where a line break or a control character is no text a reader
    keeps: CR and LF end the header, and a name such as "\u2028.pdf" arrives
    as ".pdf". Such names were accepted and then failed or changed in the
    sender (issue 23); they are refused when the request comes in, naming the
    field, never cleaned into another name.
    """
    for ch in name:
        if unicodedata.category(ch) in _REFUSED_CATEGORIES or ch in _BIDI_CONTROLS:
            return Text("holds the control or separator character U+%(code)04X", code=ord(ch))
    return None


def clean_filename(name: str) -> str:
    """The file name (checked by ``filename_problem``) without a client's folders, the
    spaces around it or extreme length."""
    name = re.split(r"[\\/]", name)[-1].strip()
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


def attachment_problem(content_type: str | None,
                       content_ref: str | None) -> tuple[str, Text] | None:
    """``(code, reason)`` when a declared MIME type or content id is unusable, else None."""
    if content_type and not _CONTENT_TYPE.fullmatch(content_type.split(";")[0].strip()):
        return "invalid_content_type", Text("%(value)r is not a MIME type",
                                            value=content_type[:100])
    if content_ref is not None and not _CONTENT_REF.fullmatch(_bare(content_ref)):
        return "invalid_content_id", Text("content id %(value)r must be 1-250 printable ASCII "
                                          "characters without spaces",
                                          value=_bare(content_ref)[:100])
    return None


def _bare(content_ref: str) -> str:
    return content_ref.strip().removeprefix("<").removesuffix(">")


def make_attachment(
    filename: str, data: bytes, content_type: str | None = None, content_ref: str | None = None,
    *, field_name: str = "attachments",
) -> Attachment:
    """A checked Attachment; InvalidRequest names ``field_name`` when a part is unusable."""
    problem = attachment_problem(content_type, content_ref)
    if problem is not None:
        raise InvalidRequest(problem[0], Text("%(field)s: %(problem)s", field=field_name,
                                              problem=problem[1]), field=field_name)
    reason = filename_problem(filename)
    if reason is not None:
        raise InvalidRequest("invalid_filename", Text(
            "%(field)s: the file name %(problem)s", field=field_name, problem=reason),
            field=field_name)
    name = clean_filename(filename)
    ref = _bare(content_ref) if content_ref is not None else None
    return Attachment(name, content_type_for(name, content_type), data, ref)


def check_total(attachments: list[Attachment] | tuple[Attachment, ...], limit: int) -> None:
    """Refuse (413) a request whose attachments are too many or too large together."""
    if len(attachments) > MAX_ATTACHMENTS:
        raise PayloadTooLarge("too_many_attachments", Text(
            "attachments: %(count)s files; the limit is %(max)s", count=len(attachments),
            max=MAX_ATTACHMENTS), field="attachments")
    total = sum(len(a.data) for a in attachments)
    if total > limit:
        raise PayloadTooLarge("attachments_too_large", Text(
            "attachments: %(size)s bytes in all; the limit is %(max)s bytes per request",
            size=total, max=limit), field="attachments")


def _part_type(attachment: Attachment) -> tuple[str, str]:
    maintype, _, subtype = attachment.content_type.partition("/")
    return maintype, subtype


def add_attachments(mime: EmailMessage, attachments: tuple[Attachment, ...]) -> None:
    """Put inline parts beside the HTML (multipart/related), the rest as attachments."""
    inline = [a for a in attachments if a.inline]
    html = mime.get_body(("html",)) if inline else None
    for attachment in inline:
        target = html or mime  # a text-only message still carries the part
        maintype, subtype = _part_type(attachment)
        target.add_related(attachment.data, maintype, subtype, cid=f"<{attachment.content_ref}>",
                           disposition="inline")
        _name_part(target, attachment.filename)
    for attachment in attachments:
        if attachment.inline:
            continue
        maintype, subtype = _part_type(attachment)
        mime.add_attachment(attachment.data, maintype, subtype)
        _name_part(mime, attachment.filename)


def _name_part(container: EmailMessage, filename: str) -> None:
    """Name the part just added to ``container``, in both encodings.

    The email package writes one RFC 2231 parameter for a non-ASCII name and
    merges ``filename`` with ``filename*`` when it reads them, so the two
    headers are written here as text, folded under 78 characters (the
    generator keeps such source lines as they are), and the part re-read.
    """
    parts = container.get_payload()
    part = parts[-1]
    headers = {"Content-Type": (part.get_content_type(), "name"),
               "Content-Disposition": (part.get_content_disposition(), "filename")}
    lines = []
    for name, value in part.raw_items():
        if name.lower() not in ("content-type", "content-disposition"):
            lines.append(f"{name}: {value}")
    for name, (value, param) in headers.items():
        lines.append(f"{name}: {value};\n " + ";\n ".join(_name_params(param, filename)))
    named = message_from_string("\n".join(lines) + "\n\n", policy=part.policy)
    named.set_payload(part.get_payload())
    parts[-1] = named


def _name_params(param: str, filename: str) -> list[str]:
    """``param="…"`` (and ``param*0*=…`` continuations) for a file name."""
    if filename.isascii():
        escaped = filename.replace("\\", "\\\\").replace('"', '\\"')
        return [f'{param}="{escaped}"']
    # An encoded word of 39 bytes keeps ` filename="=?utf-8?b?…?=";` within 78.
    words = [f"=?utf-8?b?{base64.b64encode(chunk.encode()).decode()}?="
             for chunk in _chunks(filename, 39)]
    folded = "\n ".join(words)
    plain = f'{param}="{folded}"'
    encoded = quote(filename, safe="")
    pieces, start = [], 0
    while start < len(encoded):
        end = min(start + 54, len(encoded))
        if "%" in encoded[end - 2:end] and end < len(encoded):
            end = encoded.rindex("%", start, end)  # never split a %XX escape
        pieces.append(encoded[start:end])
        start = end
    if len(pieces) == 1:  # the form most readers know; continuations only when needed
        return [plain, f"{param}*=utf-8''{pieces[0]}"]
    first = f"{param}*0*=utf-8''{pieces[0]}"
    return [plain, first, *(f"{param}*{i}*={p}" for i, p in enumerate(pieces[1:], 1))]


def _chunks(text: str, max_bytes: int) -> list[str]:
    """``text`` cut between characters into pieces of at most ``max_bytes`` UTF-8 bytes."""
    out, current = [], ""
    for ch in text:
        if len((current + ch).encode()) > max_bytes:
            out.append(current)
            current = ""
        current += ch
    return [*out, current]
