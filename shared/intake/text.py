"""What caller text may hold: the checks every intake path shares.

Two rules, each with a reason outside mailpipe:

- No NUL and no lone surrogate (``"\\ud800"``) anywhere: PostgreSQL text
  and jsonb cannot hold NUL, and psycopg cannot encode a lone surrogate, so
  either would otherwise fail the insert as a server error.
- No line break in a value that goes into a header line (a subject, a header
  value, a value used in the subject). A line break is anything
  ``str.splitlines()`` breaks at: CR and LF, but also VT, FF, the file/group/
  record separators U+001C-U+001E, NEL U+0085 and U+2028/U+2029. The email
  package folds headers at those too, so one in a subject breaks the message
  when it is rendered, long after the request was answered.

Charsets named by a caller (a CSV upload) must be text encodings: not
``base64`` or ``zlib`` (bytes-to-bytes codecs) and not the Python-specific
codecs that turn escape sequences into arbitrary text.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from typing import Any

from shared.i18n import Text

#: Every character ``str.splitlines()`` breaks at, and NUL (which ends a C string).
LINE_BREAKS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\x00"
_BREAK = re.compile(f"[{re.escape(LINE_BREAKS)}]")
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
#: Codecs that are text encodings to Python but are not charsets a file is written in.
_NOT_CHARSETS = frozenset({
    "punycode", "idna", "raw-unicode-escape", "unicode-escape", "undefined", "mbcs", "oem",
})


def has_line_break(value: str) -> bool:
    """True when ``value`` would break a header line (any ``splitlines`` boundary, or NUL)."""
    return _BREAK.search(value) is not None


def text_problem(value: str) -> Text | None:
    """Why ``value`` cannot be stored as text (NUL, lone surrogate), or None when it can."""
    found = _BAD_TEXT.search(value)
    if found is None:
        return None
    return Text("contains a NUL character") if found.group() == "\x00" else Text(
        "contains a lone surrogate (not valid Unicode text)")


def _path(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


def bad_text(data: Any, where: str = "") -> Iterator[tuple[str, Text]]:
    """``(field path, problem)`` for every key or string in parsed JSON that fails
    ``text_problem``; the path reads like the schema layer's (``messages[0].subject``)."""
    stack = [(where, data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            problem = text_problem(value)
            if problem:
                yield path or "body", problem
        elif isinstance(value, dict):
            for key, item in value.items():
                problem = text_problem(key)
                if problem:
                    yield _path(path, _printable(key)), Text("field name %(problem)s",
                                                             problem=problem)
                stack.append((_path(path, _printable(key)), item))
        elif isinstance(value, list):
            stack.extend((_path(path, index), item) for index, item in enumerate(value))


def _printable(key: str) -> str:
    """A field name fit for an error message (its bad characters escaped)."""
    return key[:80].encode("unicode_escape").decode("ascii") if text_problem(key) else key[:80]


def is_text_charset(name: str) -> bool:
    """True when ``name`` is a charset text files are written in (utf-8, cp949, latin-1…)."""
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):  # ValueError: a name with a NUL
        return False
    return info._is_text_encoding and info.name not in _NOT_CHARSETS
