"""Reading request bodies with a size cap, and the charset an uploaded CSV names."""

from __future__ import annotations

import io
import json

import falcon

from shared.errors import InvalidRequest, PayloadTooLarge
from shared.i18n import Text
from shared.intake.text import bad_text


def read_body(req: falcon.Request, max_bytes: int) -> bytes:
    """The whole body, never more than ``max_bytes`` read: 413 past it (by its
    Content-Length before reading, or while reading a chunked body)."""
    if req.content_length is not None and req.content_length > max_bytes:
        raise PayloadTooLarge("body_too_large", Text(
            "the body is %(size)s bytes; the limit is %(max)s", size=req.content_length,
            max=max_bytes))
    raw = req.bounded_stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise PayloadTooLarge("body_too_large", Text(
            "the body is over the limit of %(max)s bytes", max=max_bytes))
    return raw


def read_json(req: falcon.Request, max_bytes: int):
    """The parsed JSON body; 413 past ``max_bytes``, 400 when it is not JSON or holds
    text that cannot be stored (NUL, a lone surrogate), naming the field."""
    raw = read_body(req, max_bytes)
    if not raw:
        raise InvalidRequest("invalid_json", Text(
            "the request body is empty; send a JSON object"))
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidRequest("invalid_json", Text("the body is not valid JSON: %(problem)s",
                                                  problem=str(exc))) from None
    # Every text field at once: "\u0000" and a lone "\ud800" are valid JSON but
    # cannot be stored, whichever field (or field name) carries them.
    for field, problem in bad_text(body):
        raise InvalidRequest("invalid_character", Text(
            "%(field)s: %(problem)s", field=field, problem=problem), field=field)
    return body


class _CappedStream(io.RawIOBase):
    """A request body read in chunks that raises PayloadTooLarge past ``max_bytes``.

    With ``digest`` (a hashlib object), every byte read is fed into it.
    """

    def __init__(self, stream, max_bytes: int, digest=None) -> None:
        self._stream = stream
        self._left = max_bytes
        self._digest = digest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)

    def _read(self, size: int) -> bytes:
        chunk = self._stream.read(min(size, self._left + 1))
        self._left -= len(chunk)
        if self._left < 0:
            raise PayloadTooLarge("body_too_large", Text("the upload is over the limit"))
        if self._digest is not None:
            self._digest.update(chunk)
        return chunk

    def drain(self) -> None:
        """Read the source to its end. Works after ``close()`` too: a TextIOWrapper
        that read to the end closes its buffer (and this) when it is collected."""
        while self._read(256 * 1024):
            pass


def csv_charset(values: dict, content_type: str | None) -> str | None:
    """The charset a CSV upload names: ``charset`` among ``values`` (the query string or
    form fields, removed from them), else its Content-Type's; None: detect it
    (``shared.intake.csvtext``)."""
    named = values.pop("charset", None)
    if named not in (None, ""):
        return str(named)
    return falcon.parse_header(content_type or "text/csv")[1].get("charset")


def upload_stream(req: falcon.Request, max_bytes: int, digest=None) -> io.BufferedReader:
    """The body as a binary file to stream through (a CSV upload); 413 past ``max_bytes``.

    With ``digest`` (a hashlib object), every byte read is fed into it.
    """
    if req.content_length is not None and req.content_length > max_bytes:
        raise PayloadTooLarge("body_too_large", Text(
            "the upload is %(size)s bytes; the limit is %(max)s", size=req.content_length,
            max=max_bytes))
    chunked = "chunked" in (req.get_header("Transfer-Encoding") or "").lower()
    # A chunked body has no Content-Length, so falcon's bounded_stream would read
    # nothing; the server de-chunks wsgi.input and ends it at the last chunk.
    return capped(req.stream if chunked else req.bounded_stream, max_bytes, digest)


def capped(stream, max_bytes: int, digest=None) -> io.BufferedReader:
    """``stream`` (anything with ``read(n)``) as a buffered binary file; 413 past ``max_bytes``.

    With ``digest`` (a hashlib object), every byte read is fed into it.
    """
    return io.BufferedReader(_CappedStream(stream, max_bytes, digest), 256 * 1024)


def read_rest(reader: io.BufferedReader) -> None:
    """Read what is left of a ``capped`` stream (to complete its digest), even once closed.

    Bytes the buffer already holds were fed to the digest when they were
    read from the source; only the source's remainder is read here.
    """
    reader.raw.drain()
