"""The text part drawn from HTML: links with their address, headings and paragraphs as
lines, list items as items, nothing of scripts or styles."""

from __future__ import annotations

import pytest

from shared.rendering.plaintext import html_to_text


def test_heading_and_link_keep_their_lines_and_the_url():
    html = '<h1>Hello 홍길동</h1><a href="https://shop.example/o?a=1&amp;b=2">link</a>'
    assert html_to_text(html) == "Hello 홍길동\n\nlink (https://shop.example/o?a=1&b=2)"


def test_paragraphs_breaks_and_white_space():
    html = "<p>First   line\n  goes <b>on</b>.</p><p>Line<br>break<br><br>after</p>"
    assert html_to_text(html) == "First line goes on.\n\nLine\nbreak\n\nafter"


def test_lists_are_items_numbered_and_indented_when_nested():
    html = ("<p>Steps:</p><ul><li>one</li><li>two<ol><li>a</li><li>b</li></ol></li>"
            "<li>three</li></ul><p>end</p>")
    assert html_to_text(html) == ("Steps:\n\n- one\n- two\n   1. a\n   2. b\n- three\n\nend")


def test_quills_bullet_items_in_an_ol_are_bullets():
    html = '<ol><li data-list="bullet">쿠폰</li><li data-list="ordered">배송</li></ol>'
    assert html_to_text(html) == "- 쿠폰\n2. 배송"


@pytest.mark.parametrize("html,text", [
    ('<a href="https://a.example/">https://a.example/</a>', "https://a.example/"),
    ('<a href="mailto:kim@example.com">kim@example.com</a>', "kim@example.com"),
    ('<a href="#top">top</a>', "top"),
    ('<a href="javascript:void(0)">x</a>', "x"),
    ('<a href="https://a.example/"><img src="b.png" alt="배너"></a>',
     "배너 (https://a.example/)"),
    ('<a href="https://a.example/"><img src="b.png"></a>', "https://a.example/"),
    ("<a>no href</a>", "no href"),
])
def test_links_say_their_address_once(html, text):
    assert html_to_text(html) == text


def test_scripts_styles_and_title_are_left_out_and_entities_read_once():
    html = ("<html><head><title>T</title><style>p { color: red }</style></head><body>"
            "<script>alert(1)</script><p>a &lt;b&gt; &amp;lt; &#54861;</p></body></html>")
    assert html_to_text(html) == "a <b> &lt; 홍"


def test_tables_are_rows_of_cells_and_pre_keeps_its_spacing():
    html = ("<table><tr><th>이름</th><td>홍길동</td></tr><tr><td>도시</td><td>서울</td></tr>"
            "</table><pre>  code\n    indented</pre>")
    assert html_to_text(html) == "이름 홍길동\n도시 서울\n\n  code\n    indented"


def test_broken_markup_still_gives_its_text():
    assert html_to_text("<p>unclosed <b>bold <i>and</p> <div>more") == "unclosed bold and\n\nmore"
    assert html_to_text("") == ""
