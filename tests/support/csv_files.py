"""CSV files as a Korean office saves them, made by the test from the text they hold."""

from __future__ import annotations

import codecs


def office_files(text: str) -> dict[str, bytes]:
    """``text`` in each charset Korean Excel and its neighbours write, by name: CP949,
    EUC-KR, UTF-8 with a BOM, UTF-16 (little-endian) with a BOM."""
    return {
        "cp949": text.encode("cp949"),
        "euc-kr": text.encode("euc-kr"),
        "utf-8-bom": codecs.BOM_UTF8 + text.encode("utf-8"),
        "utf-16": codecs.BOM_UTF16_LE + text.encode("utf-16-le"),
    }


def undecodable(text: str) -> bytes:
    """``text`` in CP949 and one more row whose second cell holds 0xFF, a lead byte in no
    candidate charset (nor a UTF-8 byte at all); the row has as many cells as the header."""
    cells = text.split("\r\n", 1)[0].count(",") + 1
    return text.encode("cp949") + b"bad@example.com,\xff\xfe\xb0" + b",x" * (cells - 2) + b"\r\n"
