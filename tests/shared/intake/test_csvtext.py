"""CSV text: a named charset strictly, else a BOM, else strict UTF-8 then CP949; bad bytes
refused naming their line, never replaced."""

from __future__ import annotations

import codecs
import io

import pytest

from shared.errors import InvalidRequest
from shared.intake import csvtext
from shared.intake.csvtext import csv_bytes, csv_lines, read_csv

ROWS = [["email", "이름"], ["hong@example.com", "홍길동"], ["sam@example.com", "삼번"],
        ["똠@example.com".replace("똠", "ddom"), "똠방각하"]]  # 똠: CP949, not in EUC-KR
TEXT = "".join(",".join(row) + "\r\n" for row in ROWS)

ENCODINGS = {
    "cp949": TEXT.encode("cp949"),
    "euc-kr": TEXT.replace("똠", "김").encode("euc-kr"),
    "utf-8": TEXT.encode("utf-8"),
    "utf-8-bom": codecs.BOM_UTF8 + TEXT.encode("utf-8"),
    "utf-16-le-bom": codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"),
    "utf-16-be-bom": codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"),
}


def expected(name: str) -> list[list[str]]:
    rows = [list(row) for row in ROWS]
    if name == "euc-kr":
        rows[3][1] = rows[3][1].replace("똠", "김")
    return rows


@pytest.mark.parametrize("name", ENCODINGS)
def test_each_charset_is_detected_when_none_is_named(name):
    assert read_csv(ENCODINGS[name]) == expected(name)
    assert read_csv(ENCODINGS[name], "auto") == expected(name)


@pytest.mark.parametrize("name,charset", [("cp949", "cp949"), ("euc-kr", "EUC-KR"),
                                          ("cp949", "euc-kr"), ("utf-8-bom", "utf-8"),
                                          ("utf-8", "UTF8"), ("utf-16-le-bom", "utf-16"),
                                          ("utf-16-be-bom", "utf-16")])
def test_a_named_charset_is_used(name, charset):
    assert read_csv(ENCODINGS[name], charset) == expected(name)


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 64])
@pytest.mark.parametrize("name", ENCODINGS)
def test_chunk_boundaries_never_cut_a_character_or_a_crlf(monkeypatch, name, chunk):
    monkeypatch.setattr(csvtext, "CHUNK", chunk)
    monkeypatch.setattr(csvtext, "WINDOW", 16)  # from the first non-ASCII byte
    lines = list(csv_lines(io.BytesIO(ENCODINGS[name])))
    assert [line.rstrip("\r\n").split(",") for line in lines] == expected(name)
    assert all(line.endswith("\r\n") for line in lines)


def test_a_long_ascii_start_defers_the_choice_to_the_first_korean_byte():
    body = b"a@example.com,A\n" * 20_000 + "z@example.com,홍길동\n".encode("cp949")
    rows = read_csv(body)
    assert len(rows) == 20_001 and rows[-1] == ["z@example.com", "홍길동"]


def test_lone_cr_and_lf_endings_and_quoted_line_breaks():
    assert read_csv(b"a,b\rc,d\re,f") == [["a", "b"], ["c", "d"], ["e", "f"]]
    assert read_csv('a,"홍\n길동"\nc,d\n'.encode("cp949")) == [["a", "홍\n길동"], ["c", "d"]]


def test_bytes_no_candidate_reads_are_refused_with_their_line():
    body = TEXT.encode("cp949") + b"bad@example.com,\xff\xfe\r\nlast@example.com,x\r\n"
    with pytest.raises(InvalidRequest) as refused:
        read_csv(body)
    assert refused.value.code == "undecodable_csv"
    assert refused.value.message.startswith("line 5: bytes ff ")
    assert refused.value.details == [{"line": 5, "charset": "cp949"}]
    assert "\ufffd" not in refused.value.message


def test_a_named_charset_is_strict():
    with pytest.raises(InvalidRequest) as refused:
        read_csv(ENCODINGS["cp949"], "utf-8")
    assert refused.value.message.startswith("line 1: ")  # 이름 in the header
    with pytest.raises(InvalidRequest) as refused:
        read_csv(b"email\r\na@example.com\r\n" + "\ud55c".encode("utf-8") + b"\xc3", "utf-8")
    assert refused.value.details == [{"line": 3, "charset": "utf-8"}]  # cut at the end


def test_a_truncated_utf16_file_is_refused():
    body = codecs.BOM_UTF16_LE + "a,b\r\n홍,c\r\n".encode("utf-16-le") + b"x"
    with pytest.raises(InvalidRequest) as refused:
        read_csv(body)
    assert refused.value.details == [{"line": 3, "charset": "utf-16-le"}]


@pytest.mark.parametrize("charset", ["base64", "rot13", "punycode", "nope"])
def test_a_charset_that_is_not_a_text_encoding_is_refused(charset):
    with pytest.raises(InvalidRequest) as refused:
        read_csv(b"a\n", charset)
    assert (refused.value.code, refused.value.field) == ("invalid_charset", "charset")


@pytest.mark.parametrize("charset", ["utf-8-sig", "cp949"])
def test_export_reads_back_in_its_charset(charset):
    rows = [["email", "이름"], ["hong@example.com", "홍길동"], ["a@example.com", 'say "hi", 똠']]
    body = b"".join(csv_bytes(iter(rows * 400), charset))
    assert body.startswith(codecs.BOM_UTF8) == (charset == "utf-8-sig")
    assert read_csv(body) == rows * 400
    assert read_csv(body, charset) == rows * 400


def test_cp949_export_marks_what_cp949_lacks():
    body = b"".join(csv_bytes([["a@example.com", "홍 😀"]], "cp949"))
    assert body.decode("cp949") == "a@example.com,홍 ?\r\n"
