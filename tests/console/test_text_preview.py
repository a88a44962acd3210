"""The editor's preview shows the text part as it will be sent: drawn from the HTML with
links kept, or the template's own when it has one."""

from __future__ import annotations

from shared.db.templates import create_template
from shared.rendering.mustache import TemplateSource
from tests.console.conftest import shot, sign_in


def test_the_preview_shows_the_text_part_drawn_from_the_html(page, console):
    with console.engine.begin() as conn:
        template = create_template(conn, console.key.id, "text part", TemplateSource(
            "안내", '<h1>Hello 홍길동</h1><a href="https://shop.example/o/12">link</a>'
            "<ul><li>쿠폰</li></ul>", None))
    sign_in(page, console, "editor")
    page.goto(f"{console.url}/ui/templates/{template.id}")
    page.wait_for_function("() => document.getElementById('preview-text').textContent"
                           ".includes('link (https://shop.example/o/12)')")
    assert page.locator("#preview-text").inner_text() == (
        "Hello 홍길동\n\nlink (https://shop.example/o/12)\n\n- 쿠폰")
    shot(page, "template-text-preview")
    page.eval_on_selector("#text-part", "t => { const d = t.closest('details'); "
                          "if (d) d.open = true; }")
    page.fill("#text-part", "직접 쓴 텍스트 본문")
    page.wait_for_function("() => document.getElementById('preview-text').textContent"
                           " === '직접 쓴 텍스트 본문'")
