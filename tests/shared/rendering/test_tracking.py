"""Tracking tokens and HTML instrumentation: only tokens mailpipe made are honoured."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from shared.rendering.tracking import Claim, Kind, Tracker, machine_reason

tracker = Tracker("k" * 32, "https://mail.example.com/")


def token_of(url: str) -> str:
    return unquote(parse_qs(urlsplit(url).query)["t"][0])


def test_valid_tokens_read_back_what_they_say():
    assert tracker.read(tracker.token(Kind.OPEN, 42)) == Claim(Kind.OPEN, 42)
    assert tracker.read(tracker.token(Kind.UNSUBSCRIBE, 7)) == Claim(Kind.UNSUBSCRIBE, 7)
    url = "https://example.com/a?b=1&c=d:e#f"
    assert tracker.read(tracker.token(Kind.CLICK, 42, url)) == Claim(Kind.CLICK, 42, url)


def test_token_made_with_another_key_is_refused():
    forged = Tracker("another key", "https://mail.example.com").token(Kind.OPEN, 42)
    assert tracker.read(forged) is None


def test_altered_message_id_or_url_is_refused():
    data, mac = tracker.token(Kind.CLICK, 42, "https://example.com/").split(".")
    for altered in (b"c:43:https://example.com/", b"c:42:https://evil.example/"):
        fake = base64.urlsafe_b64encode(altered).rstrip(b"=").decode()
        assert tracker.read(f"{fake}.{mac}") is None


@pytest.mark.parametrize("junk", ["", ".", "abc", "abc.def", "o:1", "b zz.!!", "x" * 200])
def test_junk_and_truncated_tokens_are_refused(junk):
    assert tracker.read(junk) is None
    valid = tracker.token(Kind.OPEN, 1)
    assert tracker.read(valid[:-2]) is None


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _other_spellings(part: str) -> list[str]:
    """``part`` with its last base64 character's unused low bits set otherwise."""
    unused = {2: 4, 3: 2}.get(len(part) % 4, 0)  # 1 byte: 4 bits spare, 2 bytes: 2
    value = _ALPHABET.index(part[-1])
    base = value & ~((1 << unused) - 1)
    return [part[:-1] + _ALPHABET[base | low] for low in range(1 << unused)
            if base | low != value]


def test_flipping_the_unused_bits_of_a_token_fails_verification():
    token = tracker.token(Kind.OPEN, 42)
    data, mac = token.split(".")
    assert tracker.read(token) == Claim(Kind.OPEN, 42)
    spellings = [f"{d}.{mac}" for d in _other_spellings(data)]
    spellings += [f"{data}.{m}" for m in _other_spellings(mac)]
    assert spellings  # a 16-byte MAC leaves 4 bits spare in its last character
    for spelling in spellings:
        assert base64.urlsafe_b64decode(spelling.split(".")[1] + "==")  # still decodes
        assert tracker.read(spelling) is None, spelling


def test_characters_outside_the_alphabet_make_no_second_spelling():
    data, mac = tracker.token(Kind.OPEN, 42).split(".")
    for spelling in (f"{data}!.{mac}", f"{data}.{mac}=", f"{data}.{mac[:5]}*{mac[5:]}",
                     f"{data}=.{mac}"):
        assert tracker.read(spelling) is None, spelling


def test_sequential_ids_do_not_give_sequential_tokens():
    a, b = tracker.token(Kind.OPEN, 1), tracker.token(Kind.OPEN, 2)
    assert a.split(".")[1] != b.split(".")[1]
    assert len(a.split(".")[1]) >= 22  # 128-bit MAC


def test_links_are_rewritten_and_a_pixel_added():
    html = ('<html><body><p><a href="https://example.com/x?a=1&amp;b=2">x</a> '
            "<a class='c' href='http://example.org/'>y</a> <a href=\"mailto:a@b.c\">m</a> "
            '<a href="#top">t</a> <a data-notrack href="https://keep.example/">k</a></p>'
            "</body></html>")
    out = tracker.instrument(html, 9)
    assert "https://example.com/x" not in out and "http://example.org/" not in out
    assert 'href="mailto:a@b.c"' in out and 'href="#top"' in out
    assert 'href="https://keep.example/"' in out
    clicks = [part.split('"')[0] for part in out.split('href="')[1:]
              if part.startswith("https://mail.example.com/v1/events/click")]
    claims = [tracker.read(token_of(c.replace("&amp;", "&"))) for c in clicks]
    assert [c.url for c in claims] == ["https://example.com/x?a=1&b=2", "http://example.org/"]
    assert {c.message_id for c in claims} == {9}
    assert out.index("/v1/events/open?t=") < out.index("</body>")


def test_html_without_body_gets_the_pixel_at_the_end():
    out = tracker.instrument("<p>hi</p>", 3)
    assert out.startswith("<p>hi</p><img ") and "/v1/events/open?t=" in out


@pytest.mark.parametrize("kind,agent,ip,method,since,machine", [
    ("opened", "Mozilla/5.0", "203.0.113.9", "GET", 3600, True),        # Apple MPP agent
    ("opened", "Mozilla/5.0 (iPhone) AppleWebKit", "17.58.1.2", "GET", 3600, True),  # Apple net
    ("opened", "Mozilla/5.0 (Windows NT 10.0) Firefox/120.0", "203.0.113.9", "GET", 5, False),
    ("opened", "Mozilla/5.0 (via ggpht.com GoogleImageProxy)", "66.249.1.1", "GET", 60, False),
    ("clicked", "Mozilla/5.0 (Windows NT 10.0) Firefox/120.0", "203.0.113.9", "GET", 2, True),
    ("clicked", "Mozilla/5.0 (Windows NT 10.0) Firefox/120.0", "203.0.113.9", "GET", 300, False),
    ("clicked", "Mozilla/5.0 Firefox/120.0", "203.0.113.9", "HEAD", 300, True),
    ("clicked", "python-requests/2.31", "203.0.113.9", "GET", 300, True),
    ("clicked", "Barracuda Sentinel (EE)", "203.0.113.9", "GET", 300, True),
    ("clicked", "", "203.0.113.9", "GET", 300, True),
])
def test_prefetchers_and_scanners_are_told_from_people(kind, agent, ip, method, since, machine):
    reason = machine_reason(kind, user_agent=agent, ip=ip, method=method,
                            seconds_since_arrival=since)
    assert (reason is not None) is machine, reason


def test_very_long_urls_are_left_untracked():
    long_url = "https://example.com/?q=" + "x" * 3000
    out = tracker.instrument(f'<a href="{long_url}">x</a>', 1)
    assert f'href="{long_url}"' in out
