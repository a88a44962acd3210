"""A change made in a console form says it was made: a notice (role=status) after a template
is saved or an old version restored, after a send plan is created, paused, resumed or
cancelled (or was not changed), and after a list is deleted."""

from __future__ import annotations

import pytest

from shared.db.recipient_lists import insert_list
from shared.db.templates import create_template
from shared.intake.addresses import NamedAddress
from shared.rendering.mustache import TemplateSource
from tests.console.conftest import shot, sign_in


@pytest.fixture(scope="module")
def template_id(console) -> int:
    with console.engine.begin() as conn:
        return create_template(conn, console.key.id, "알림 테스트", TemplateSource(
            "{{이름}}님께", "<p>{{이름}}님 안녕하세요</p>", None)).id


def _notice(page) -> str:
    notice = page.locator("#notice")
    assert notice.get_attribute("role") == "status"
    return notice.inner_text()


def test_saving_and_restoring_a_template_say_so(page, console):
    sign_in(page, console, "editor")
    page.goto(f"{console.url}/ui/templates/new")
    assert page.locator("#notice").count() == 0  # nothing said before anything is done
    page.fill("input[name=name]", "notices")
    page.fill("#subject", "first")
    page.click(".ql-editor")
    page.keyboard.insert_text("one")
    page.click("#save-template")
    page.wait_for_url("**?saved=1")
    assert _notice(page) == "Saved (version 1)."
    page.fill("#subject", "second")
    page.click("#save-template")
    page.wait_for_url("**?saved=1")
    assert _notice(page) == "Saved (version 2)."
    page.click('button[data-restore="1"]')
    page.wait_for_url("**?restored=1")
    assert _notice(page) == "Version 1 restored, as version 3."
    shot(page, "template-restored")


def test_a_saved_template_says_so_in_korean(korean_page, console, template_id):
    page = korean_page
    sign_in(page, console, "editor")
    page.goto(f"{console.url}/ui/templates/{template_id}")
    page.fill("#subject", "{{이름}}님, 안녕하세요")
    page.click("#save-template")
    page.wait_for_url("**?saved=1")
    assert _notice(page) == "저장했습니다 (버전 2)."
    shot(page, "template-saved-korean")


def test_a_plan_created_paused_resumed_and_cancelled_says_so(korean_page, console,
                                                             template_id):
    page = korean_page
    with console.engine.begin() as conn:
        insert_list(conn, console.key.id, "알림 목록",
                    [(NamedAddress("n1@example.com"), {"이름": "하나"})],
                    template_id=template_id)
    sign_in(page, console, "editor")
    page.goto(f"{console.url}/ui/plans")
    page.fill("input[name=name]", "다음 주 발송")
    page.select_option("select[name=template]", str(template_id))
    page.fill("input[name=topic]", "next-week")
    page.select_option("select[name=grid]", label="알림 목록 (1명)")
    page.fill("#plan-when", "2031-01-01T09:00:00")  # far ahead: it stays scheduled
    page.click("#create-plan")
    page.wait_for_url("**/ui/plans?created=*")
    assert _notice(page) == "발송 계획 “다음 주 발송”을(를) 만들었습니다."
    plan = page.locator(".plan").first
    shot(page, "plan-created-korean")

    page.on("dialog", lambda dialog: dialog.accept())  # cancel asks first
    for action, done, said in (("pause", "paused", "일시 정지했습니다"),
                               ("resume", "resumed", "재개했습니다"),
                               ("cancel", "cancelled", "취소했습니다")):
        plan.locator(f'button[data-action="{action}"]').click()
        page.wait_for_url(f"**/ui/plans?{done}=*")
        assert _notice(page) == f"발송 계획 “다음 주 발송”을(를) {said}.", action

    # Pausing a cancelled plan (say, from a tab opened before): nothing changes, and the
    # page says so rather than pretending.
    plan_id = plan.get_attribute("id").split("-")[1]
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    answer = page.request.post(f"{console.url}/ui/plans/{plan_id}/pause",
                               form={"csrf": csrf}, max_redirects=0)
    assert answer.status == 303
    page.goto(console.url + answer.headers["location"])
    assert _notice(page) == "발송 계획 “다음 주 발송”은(는) 바뀌지 않았습니다. 현재 상태: 취소됨."


def test_deleting_a_list_says_so(page, console):
    with console.engine.begin() as conn:
        stored = insert_list(conn, console.key.id, "to delete",
                             [(NamedAddress("d1@example.com"), {})])
    sign_in(page, console, "editor")
    page.goto(f"{console.url}/ui/grids/{stored.id}")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#delete-grid")
    page.wait_for_url("**/ui/grids?deleted=1")
    assert _notice(page) == "List deleted."
    assert page.locator(f'[data-list="{stored.id}"]').count() == 0
