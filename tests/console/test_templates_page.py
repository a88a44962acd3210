"""Writing a template in the browser: Korean variables, live preview, errors in place,
versions and restore."""

from __future__ import annotations

from shared.db.templates import get_template
from tests.console.conftest import shot, sign_in


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

    # A bad tag is shown where it is, with its line, as you type...
    page.click("#mode-source")
    source = page.locator("#html-source")
    good = source.input_value()
    source.fill(good + "\n<p>{{잘못 된}}</p>")
    page.wait_for_selector("#live-error-html:not([hidden])")
    assert "html, line 2" in page.locator("#live-error-html").inner_text()
    # ...and the server refuses to save it, naming the same place.
    page.click("#save-template")
    assert "html, line 2" in page.locator("#error-html").inner_text()
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
