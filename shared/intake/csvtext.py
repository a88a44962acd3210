"""The text of an uploaded CSV: its charset named or detected, decoded strictly, line by line.

Every CSV entry point (a campaign's recipients through the API or the
console, a saved list, the console's grid import) reads its upload through
``csv_lines``, so one rule decides what a file says:

- a charset the caller names is used as named, strictly (``utf-8`` skips a
  leading BOM; ``euc-kr`` is read as ``cp949``, its superset, which Korean
  Excel writes under either name; ``utf-16`` follows its BOM, else little-endian);
- otherwise a BOM decides (UTF-8, UTF-16 LE or BE);
- otherwise the bytes do, at the first byte that is not ASCII (ASCII reads
  the same in every candidate, so nothing before it needs a decision): the
  next ``WINDOW`` bytes are decoded strictly as UTF-8, then as CP949; the
  first that reads them all is used for the whole file. When neither does,
  the one that reads further is used, and its error is the answer.

Why a strict order and not charset-normalizer: UTF-8 and CP949 are both
self-checking multi-byte codes, and Korean text in one is almost never valid
in the other (``홍길동`` in CP949 breaks UTF-8 at its second syllable), so
"the first that decodes" is decisive where a statistical guess is not: on a
short CSV charset-normalizer has too little text to weigh. The ambiguous
cases that remain are CP949 files whose every Hangul pair happens to be
valid UTF-8 (one syllable, ``홍`` = ``C8 AB`` = ``ȫ``); for those,
charset-normalizer was tried as a tie-breaker and it answers ``utf_8`` with
a mess ratio of 0 for both readings, so it adds nothing and is not used.
UTF-16 without a BOM is not guessed (it must be named).

Text that cannot be decoded is refused (``InvalidRequest``, code
``undecodable_csv``) naming its line, never replaced with U+FFFD. Lines are
yielded with their endings (CRLF, LF or a lone CR), as ``csv.reader`` wants
them; a file is read ``CHUNK`` bytes at a time, so a large upload costs no
more memory than a small one.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import IO

from shared.errors import InvalidRequest
from shared.i18n import Text
from shared.intake.text import is_text_charset

CHUNK = 64 * 1024
#: Bytes decoded from the first non-ASCII byte on to choose between UTF-8 and CP949.
WINDOW = 64 * 1024
#: How each codec is named to a person.
LABELS = {"utf-8": "UTF-8", "utf-16-le": "UTF-16LE", "utf-16-be": "UTF-16BE",
          "cp949": "CP949 (EUC-KR)"}
#: Charsets a CSV may be exported in: codec -> the charset its Content-Type names.
#: ``utf-8-sig`` is UTF-8 with a BOM, which Excel needs to read UTF-8; cp949 is what
#: Korean Excel writes (browsers read the label euc-kr as windows-949, i.e. CP949).
EXPORTS = {"utf-8-sig": "utf-8", "cp949": "euc-kr"}

_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
         (codecs.BOM_UTF16_BE, "utf-16-be"))
_NON_ASCII = re.compile(rb"[\x80-\xff]")
_ENDING = re.compile(r"\r\n|\r|\n")
_CANDIDATES = ("utf-8", "cp949")


class _BadBytes(Exception):
    """Raised inside the decoder when bytes cannot be read; carries them and the codec."""

    def __init__(self, codec: str, bad: bytes, detected: bool) -> None:
        super().__init__(codec)
        self.codec, self.bad, self.detected = codec, bad, detected


def codec_for(charset: str | None) -> str | None:
    """The codec a caller's charset name means (None: detect); InvalidRequest if none."""
    if charset is None or charset.strip().lower() in ("", "auto"):
        return None
    name = charset.strip()
    if not is_text_charset(name):
        # base64, zlib, rot13 are bytes or text transforms, not charsets; punycode
        # and the escape codecs are not file charsets.
        raise InvalidRequest("invalid_charset", Text(
            "charset %(name)r is not a text encoding (use auto, utf-8, cp949, euc-kr or utf-16)",
            name=name[:50]), field="charset")
    codec = codecs.lookup(name).name
    return {"euc_kr": "cp949", "utf-8-sig": "utf-8", "utf-16": "utf-16"}.get(codec, codec)


def _decode(data: bytes, codec: str, final: bool) -> tuple[str, bytes, UnicodeDecodeError | None]:
    """(text, bytes held for the next chunk, error): a sequence cut by the chunk's end is
    held (a truly bad one there fails again with more bytes, or at the end)."""
    try:
        return data.decode(codec), b"", None
    except UnicodeDecodeError as exc:
        text = data[:exc.start].decode(codec)
        if not final and exc.end == len(data) and len(data) - exc.start <= 3:
            return text, data[exc.start:], None
        return text, b"", exc


def _choose(data: bytes, final: bool) -> str:
    """The first candidate that reads ``data`` strictly, else the one that reads further."""
    reach = []
    for codec in _CANDIDATES:
        error = _decode(data, codec, final)[2]
        if error is None:
            return codec
        reach.append((error.start, -len(reach), codec))
    return max(reach)[2]


def _start(head: bytes, codec: str | None) -> tuple[bytes, str | None]:
    """``head`` without its BOM, and the codec the BOM or the caller names."""
    if codec in (None, "utf-8", "utf-16"):
        for bom, bom_codec in _BOMS:
            if head.startswith(bom) and (codec is None or bom_codec.startswith(codec)):
                return head[len(bom):], bom_codec
    return head, "utf-16-le" if codec == "utf-16" else codec


def _texts(stream: IO[bytes], codec: str | None) -> Iterator[str]:
    """The file's text, chunk by chunk; ``_BadBytes`` after the text before an error."""
    head = stream.read(CHUNK)
    while 0 < len(head) < 4:  # enough to see a BOM
        more = stream.read(CHUNK)
        if not more:
            break
        head += more
    final = not head
    data, codec = _start(head, codec)
    detected = codec is None
    while True:
        if codec is None:  # ASCII so far: decide at the first byte that is not
            found = _NON_ASCII.search(data)
            if found is None:
                yield data.decode("ascii")
                if final:
                    return
                data = stream.read(CHUNK)
                final = not data
                continue
            yield data[:found.start()].decode("ascii")
            data = data[found.start():]
            while len(data) < WINDOW and not final:
                more = stream.read(CHUNK)
                data, final = data + more, not more
            codec = _choose(data, final)
        text, held, error = _decode(data, codec, final)
        yield text
        if error is not None:
            raise _BadBytes(codec, error.object[error.start:error.end], detected)
        if final:
            if held:
                raise _BadBytes(codec, held, detected)
            return
        more = stream.read(CHUNK)
        data, final = held + more, not more


def _refusal(exc: _BadBytes, line: int) -> InvalidRequest:
    label = LABELS.get(exc.codec, exc.codec)
    how = Text("the file reads as %(charset)s up to there (detected; name the charset if it "
               "is another)", charset=label) if exc.detected else Text(
        "the charset named is %(charset)s", charset=label)
    return InvalidRequest(
        "undecodable_csv", Text(
            "line %(line)s: bytes %(bytes)s are not valid text: %(how)s; nothing was "
            "replaced, correct the line or save the file again",
            line=line, bytes=exc.bad[:8].hex(" "), how=how),
        field="recipients", details=[{"line": line, "charset": exc.codec}])


def csv_lines(stream: IO[bytes], charset: str | None = None) -> Iterator[str]:
    """The lines of the CSV in ``stream``, endings kept; ``charset`` None or "auto" detects.

    Raises InvalidRequest (``undecodable_csv``, naming the line) at the first
    bytes the charset cannot read, after yielding the lines before them.
    """
    codec = codec_for(charset)
    lines = 0
    buffer = ""
    try:
        for text in _texts(stream, codec):
            buffer += text
            start = 0
            for match in _ENDING.finditer(buffer):
                if match.end() == len(buffer) and match.group() == "\r":
                    break  # a CRLF cut by the chunk's end: wait for the LF
                yield buffer[start:match.end()]
                lines += 1
                start = match.end()
            buffer = buffer[start:]
    except _BadBytes as exc:
        raise _refusal(exc, lines + 1 + (buffer == "\r" or buffer.endswith("\r"))) from None
    if buffer:
        yield buffer


def read_csv(data: bytes | IO[bytes], charset: str | None = None,
             limit: int | None = None) -> list[list[str]]:
    """The records of a CSV (a grid import), decoded by ``csv_lines``; at most ``limit``."""
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    reader = csv.reader(csv_lines(stream, charset))
    try:
        return list(islice(reader, limit))
    except csv.Error as exc:
        raise InvalidRequest("invalid_csv", Text("line %(line)s: %(problem)s",
                                                 line=reader.line_num, problem=str(exc))
                             ) from None


def csv_bytes(rows: Iterable[Iterable[object]], charset: str) -> Iterator[bytes]:
    """``rows`` as CSV in one of ``EXPORTS`` (a BOM first for ``utf-8-sig``), a few
    hundred rows per piece. CP949 lacks some characters (most emoji, rare Hanja):
    each becomes ``?``, as Excel does when it saves such a sheet as CSV."""
    encoder = codecs.getincrementalencoder(charset)("replace")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for number, row in enumerate(rows, start=1):
        writer.writerow(row)
        if number % 500 == 0:
            yield encoder.encode(buffer.getvalue())
            buffer.seek(0)
            buffer.truncate()
    yield encoder.encode(buffer.getvalue(), final=True)


def export_charset(value: str | None) -> str:
    """A requested export charset (default UTF-8 with a BOM); InvalidRequest if unknown."""
    value = (value or "utf-8-sig").strip().lower()
    value = {"utf-8": "utf-8-sig", "utf8": "utf-8-sig", "euc-kr": "cp949"}.get(value, value)
    if value not in EXPORTS:
        raise InvalidRequest("invalid_charset", Text("charset: one of %(charsets)s",
                                                     charsets=", ".join(EXPORTS)),
                             field="charset")
    return value


def export_content_type(charset: str) -> str:
    """The Content-Type of a CSV exported in ``charset`` (one of ``EXPORTS``)."""
    return f"text/csv; charset={EXPORTS[charset]}"
