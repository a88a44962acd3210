"""Writing a template in the browser: Korean variables, live preview, errors in place,
versions and restore, an editor whose own words are the page's language."""

from __future__ import annotations

from shared.db.templates import get_template
from tests.console.conftest import shot, sign_in
from tests.support.console_pages import DESKTOP, korean_page


def test_a_template_with_korean_variables_is_written_previewed_and_saved(page, console):
    sign_in(page, console, "editor")
    page.goto(f"{console.url}/ui/templates/new")
    page.fill("input[name=name]", "6월 소식")
    page.fill("#subject", "{{이름}}님, 6월 소식입니다")
    page.click(".ql-editor")
    page.keyboard.insert_text("안녕하세요 {{이름}}님, {{쿠폰}} 쿠폰을 드립니다.")
    page.wait_for_function(
        "() => document.querySelectorAll('#variables code').length === 2")
    assert page.locator("#variables code").all_inner_texts() == ["이름", "쿠폰"]
    page.fill('input[data-var="이름"]', "김민수")
    frame = page.frame_locator("#preview-frame")
    page.wait_for_function(
        "() => document.getElementById('preview-subject').textContent.startsWith('김민수님')")
    assert "안녕하세요 김민수님, [쿠폰] 쿠폰을" in frame.locator("body").inner_text()
    shot(page, "template-editor")

    # A bad tag is shown where it is, by its part's name and as written, as you type...
    page.click("#mode-source")
    source = page.locator("#html-source")
    good = source.input_value()
    source.fill(good + "\n<p>{{잘못 된}}</p>")
    page.wait_for_selector("#live-error-html:not([hidden])")
    said = "In the body, '{{잘못 된}}' is not a variable: write {{name}}"
    assert page.locator("#live-error-html").inner_text().startswith(said)
    # ...and the server refuses to save it, naming the same place.
    page.click("#save-template")
    assert page.locator("#error-html").inner_text().startswith(said)
    shot(page, "template-error")

    page.locator("#html-source").fill(good)
    page.click("#save-template")
    page.wait_for_url("**/ui/templates/*?saved=1")
    template_id = int(page.url.split("/")[-1].split("?")[0])
    with console.engine.connect() as conn:
        saved = get_template(conn, console.key.id, template_id)
    assert saved.variables == ["이름", "쿠폰"] and saved.version == 1
    assert "{{쿠폰}}" in saved.html


def test_an_old_version_is_restored_as_a_new_one(page, console):
    sign_in(page, console, "editor")
    page.goto(f"{console.url}/ui/templates/new")
    page.fill("input[name=name]", "versions")
    page.fill("#subject", "first")
    page.click(".ql-editor")
    page.keyboard.insert_text("one")
    page.click("#save-template")
    page.wait_for_url("**?saved=1")
    page.fill("#subject", "second")
    page.click("#save-template")
    page.wait_for_url("**?saved=1")
    page.click('button[data-restore="1"]')
    page.wait_for_url("**?restored=1")
    template_id = int(page.url.split("/")[-1].split("?")[0])
    with console.engine.connect() as conn:
        current = get_template(conn, console.key.id, template_id)
    assert (current.version, current.subject) == (3, "first")
    assert page.locator(".versions li").count() == 3


def _before(page, selector: str) -> str:
    """The words CSS writes before ``selector`` (Quill's pickers and tooltip are drawn so)."""
    return page.eval_on_selector(
        selector, "n => getComputedStyle(n, '::before').content.replace(/^\"|\"$/g, '')")


def test_the_editor_speaks_korean_in_a_korean_console(browser, console):
    with korean_page(browser, DESKTOP) as page:
        sign_in(page, console, "editor")
        page.goto(f"{console.url}/ui/templates/new")
        heading = ".ql-toolbar .ql-picker.ql-header"
        assert _before(page, f"{heading} .ql-picker-label") == "본문"
        assert page.get_attribute(f"{heading} .ql-picker-label", "aria-label") == "문단 스타일"
        page.click(f"{heading} .ql-picker-label")
        items = page.locator(f"{heading} .ql-picker-item")
        assert [_before(page, f"{heading} .ql-picker-item:nth-child({n})")
                for n in range(1, items.count() + 1)] == ["제목 1", "제목 2", "제목 3", "본문"]
        page.click(f'{heading} .ql-picker-item[data-value="1"]')
        assert _before(page, f"{heading} .ql-picker-label") == "제목 1"
        assert page.get_attribute(".ql-toolbar button.ql-bold", "aria-label") == "굵게"

        page.click(".ql-editor")
        page.keyboard.type("안내")
        page.keyboard.press("Shift+Home")
        page.click(".ql-toolbar button.ql-link")
        assert _before(page, ".ql-tooltip.ql-editing") == "링크 주소:"
        page.keyboard.type("https://example.com/a")
        page.keyboard.press("Enter")
        page.click(".ql-editor a")
        # Quill shows the link's tooltip on its next selection change, not at once.
        page.wait_for_selector(".ql-tooltip:not(.ql-hidden)")
        assert _before(page, ".ql-tooltip:not(.ql-hidden)") == "링크 열기:"
        assert page.eval_on_selector(".ql-tooltip a.ql-action", "a => getComputedStyle(a, "
                                     "'::after').content") == '"편집"'
        assert _before(page, ".ql-tooltip a.ql-remove") == "삭제"
