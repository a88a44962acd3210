"""A Korean console says the domain's errors in Korean: a grid's cell errors, a plan refused
for its rows (each row once, numbered as the grid numbers them) or for a missing column (one
line), and a template's bad tag (by the part's name, the tag quoted, no line number). The
API answers the same errors over HTTP in English, with their codes, whoever asks."""

from __future__ import annotations

import requests

from shared.db.recipient_lists import RecipientList, insert_list
from shared.db.templates import create_template
from shared.intake.addresses import NamedAddress
from shared.rendering.mustache import TemplateSource
from tests.console.conftest import shot, sign_in
from tests.support.console_pages import DESKTOP, korean_page
from tests.support.grid import open_grid, paste


def _template(console, name: str, html: str) -> int:
    with console.engine.begin() as conn:
        return create_template(conn, console.key.id, name,
                               TemplateSource("{{이름}}님께", html, None)).id


def test_a_grid_cell_error_is_said_in_korean(browser, console):
    template_id = _template(console, "셀 오류", "<p>{{이름}}님</p>")
    with korean_page(browser, DESKTOP) as page:
        sign_in(page, console, "editor")
        open_grid(page, console.url, template_id)
        paste(page, 'input[data-row="0"][data-col="0"]',
              "kim@example.com\t김민수\nbad-address\t\n")
        page.wait_for_function("() => document.querySelectorAll('input.bad').length === 2")
        email = page.locator('input[data-row="1"][data-col="0"]')
        name = page.locator('input[data-row="1"][data-col="1"]')
        assert email.get_attribute("title") == (
            "2행: 'bad-address'은(는) 올바른 이메일 주소가 아닙니다")
        assert name.get_attribute("title") == (
            "2행: 수신자 bad-address에게 변수 '이름'의 값이 없습니다")
        assert page.locator("#grid-errors li").all_inner_texts() == [
            "2행: 'bad-address'은(는) 올바른 이메일 주소가 아닙니다",
            "2행: 수신자 bad-address에게 변수 '이름'의 값이 없습니다"]
        shot(page, "grid-cell-error-ko")


def _plan_of(page, console, template_id: int, list_id: int, name: str) -> None:
    page.goto(f"{console.url}/ui/plans")
    if page.locator("#new-plan").get_attribute("open") is None:
        page.click("#new-plan summary")
    page.fill("input[name=name]", name)
    page.select_option("select[name=template]", str(template_id))
    page.fill("input[name=topic]", f"topic-{list_id}")
    page.select_option("select[name=grid]", str(list_id))
    page.click("#create-plan")
    page.wait_for_selector("#plan-errors li")


def _lists(console, template_id: int) -> tuple[RecipientList, RecipientList]:
    """A list with a blank value in rows 2 and 4, and one without the 등급 column."""
    people = [("a1@example.com", "하나", "골드"), ("a2@example.com", "둘", ""),
              ("a3@example.com", "셋", "실버"), ("a4@example.com", "", "골드")]
    with console.engine.begin() as conn:
        blanks = insert_list(conn, console.key.id, "빈칸 있는 목록",
                             [(NamedAddress(email), {"이름": name, "등급": grade})
                              for email, name, grade in people], template_id=template_id)
        no_grade = insert_list(conn, console.key.id, "등급 없는 목록",
                               [(NamedAddress(email), {"이름": name or "넷"})
                                for email, name, _ in people], template_id=template_id)
    return blanks, no_grade


def test_a_plan_error_is_said_in_korean_each_row_once_numbered_as_the_grid(browser, console):
    template_id = _template(console, "등급 안내", "<p>{{이름}}님은 {{등급}} 회원입니다</p>")
    blanks, no_grade = _lists(console, template_id)
    with korean_page(browser, DESKTOP) as page:
        sign_in(page, console, "editor")
        _plan_of(page, console, template_id, blanks.id, "빈칸")
        assert page.locator("#plan-errors li").all_inner_texts() == [
            "올바르지 않은 수신자 행이 2개 있어 발송 계획을 만들지 않았습니다.",
            "2행: 수신자 a2@example.com에게 변수 '등급'의 값이 없습니다",
            "4행: 수신자 a4@example.com에게 변수 '이름'의 값이 없습니다"]
        shot(page, "plan-error-ko")

        # A column the list does not have: one line, not one per row.
        _plan_of(page, console, template_id, no_grade.id, "등급 없음")
        assert page.locator("#plan-errors li").all_inner_texts() == [
            "목록에 템플릿 변수 '등급'의 열이 없습니다"]


def test_a_template_error_is_said_in_korean_by_the_parts_name(browser, console):
    with korean_page(browser, DESKTOP) as page:
        sign_in(page, console, "editor")
        page.goto(f"{console.url}/ui/templates/new")
        page.fill("input[name=name]", "잘못된 태그")
        page.fill("#subject", "{{이름}}님")
        page.click(".ql-editor")
        page.keyboard.insert_text("안녕하세요 {{first name}}님")
        said = ("본문의 '{{first name}}'은(는) 변수가 아닙니다. {{이름}}처럼 쓰세요 (HTML을 그대로 "
                "넣으려면 {{{이름}}}). 이름에는 글자, 숫자, _, -, .만 쓸 수 있습니다.")
        live = page.locator("#live-error-html")
        live.wait_for()
        assert live.inner_text() == said
        page.click("#save-template")
        assert page.locator("#error-html").inner_text() == said
        shot(page, "template-error-ko")

        page.fill("#subject", "{{이름")
        page.wait_for_function("() => !document.getElementById('live-error-subject').hidden")
        assert page.locator("#live-error-subject").inner_text().startswith(
            "제목의 '{{이름'은(는) 변수가 아닙니다.")


def test_the_api_answers_the_same_errors_in_english_with_their_codes(console):
    template_id = _template(console, "등급 안내 API", "<p>{{이름}}님은 {{등급}} 회원입니다</p>")
    blanks, no_grade = _lists(console, template_id)
    korean = {"x-api-key": console.api_key, "Accept-Language": "ko-KR,ko;q=0.9",
              "Cookie": "mp_lang=ko"}

    def refused(path: str, body: dict) -> dict:
        answer = requests.post(f"{console.url}{path}", json=body, headers=korean, timeout=10)
        assert answer.status_code == 400, answer.text
        return answer.json()

    plan = {"name": "n", "templateId": template_id, "topicId": "api-errors"}
    rows = refused("/v1/campaigns", {**plan, "listId": blanks.id})
    assert rows["code"] == "invalid_recipients"
    assert rows["message"] == rows["error"] == (
        "2 recipient rows are invalid; the campaign was not created.")
    assert [(e["row"], e["code"], e["message"]) for e in rows["errors"]] == [
        (2, "missing_variable", "row 2: recipient a2@example.com has no value for variable '등급'"),
        (4, "missing_variable", "row 4: recipient a4@example.com has no value for variable '이름'")]

    column = refused("/v1/campaigns", {**plan, "listId": no_grade.id})
    assert (column["code"], column["field"], column["message"]) == (
        "missing_column", "등급", "the list has no column for template variable '등급'")

    tag = refused("/v1/templates", {"name": "잘못된 태그 API", "subject": "{{이름}}님",
                                    "html": "<p>안녕하세요 {{first name}}님</p>"})
    assert (tag["code"], tag["field"]) == ("invalid_template", "html")
    assert tag["message"] == ("html, line 1: '{{first name}}' is not a variable; write {{name}} "
                              "or {{{name}}} with a name of letters, digits, '_', '-' or '.'")
