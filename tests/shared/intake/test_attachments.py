"""Attachment names reach every kind of mail client: RFC 2047 and RFC 2231 both written."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from urllib.parse import unquote

import pytest

from shared.intake.attachments import Attachment, add_attachments

NAMES = ["견적서.pdf", "2026년_상반기_매출_보고서_최종본_수정본_진짜최종_결재용_사본.xlsx",
         'plain "quoted" name.txt']


def _rendered(*attachments: Attachment) -> bytes:
    mime = EmailMessage()
    mime.set_content("본문")
    mime.add_alternative("<p>본문 <img src=\"cid:logo\"></p>", subtype="html")
    add_attachments(mime, attachments)
    return mime.as_bytes()


def _header(raw: bytes, filename_part: int, name: str) -> str:
    """A header of the n-th named part, unfolded, as the bytes on the wire carry it."""
    blocks = [b for b in raw.decode().split("\n--") if "filename" in b]
    block = blocks[filename_part].split("\n\n")[0]
    match = re.search(rf"^{name}: (.*?)(?=^\S)", block + "\nX", re.M | re.S)
    return match.group(1).replace("\n ", " ").strip()


def _rfc2047_reader(value: str, param: str) -> str:
    """What a client that reads only ``param="=?…?="`` (Outlook, Korean webmail) sees."""
    quoted = re.search(rf'(?:^|;)\s*{param}="((?:[^"\\]|\\.)*)"', value).group(1)
    return str(make_header(decode_header(quoted.replace('\\"', '"'))))


def _rfc2231_reader(value: str, param: str) -> str | None:
    """What a client that reads only ``param*=utf-8''…`` (or its continuations) sees."""
    pieces = re.findall(rf"{param}\*(\d*)\*?=([^;\s]+)", value)
    if not pieces:
        return None
    joined = "".join(p for _, p in sorted(pieces, key=lambda p: int(p[0] or 0)))
    charset, _, encoded = joined.split("'", 2)
    return unquote(encoded, encoding=charset)


@pytest.mark.parametrize("index", range(len(NAMES)))
def test_non_ascii_names_are_written_in_both_encodings(index):
    raw = _rendered(*(Attachment(n, "application/octet-stream", b"x") for n in NAMES))
    name = NAMES[index]
    for header, param in (("Content-Disposition", "filename"), ("Content-Type", "name")):
        value = _header(raw, index, header)
        assert _rfc2047_reader(value, param) == name
        if name.isascii():
            assert _rfc2231_reader(value, param) is None  # plain ASCII stays plain
        else:
            assert _rfc2231_reader(value, param) == name


def test_named_parts_keep_lines_short_and_parse_back_whole():
    raw = _rendered(Attachment(NAMES[1], "application/pdf", b"%PDF-1.7"),
                    Attachment("로고.png", "image/png", b"\x89PNG", content_ref="logo"))
    assert max(len(line) for line in raw.split(b"\n")) <= 78
    parsed = message_from_bytes(raw, policy=policy.default)
    named = {p.get_filename(): p for p in parsed.walk() if p.get_filename()}
    assert named[NAMES[1]].get_content() == b"%PDF-1.7"
    assert named["로고.png"]["Content-ID"] == "<logo>"
    assert named["로고.png"].get_content_disposition() == "inline"
