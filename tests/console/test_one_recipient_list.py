"""One recipient list: a list made by ``POST /v1/lists`` opens and is edited in the console's
grid, a grid saved in the console is a list of ``GET /v1/lists`` that a campaign's
``listId`` sends to, and a send plan is made from a list; the names reach the email."""

from __future__ import annotations

import json
import urllib.request
from email import message_from_bytes, policy

from sqlalchemy import text

from services.console.pages.grids import MAX_ROWS
from services.scheduler.expand import expand_step
from services.sender.batch import send_batch
from shared.broker.payloads import SendBatch
from shared.db.recipient_lists import insert_list
from shared.db.templates import create_template
from shared.intake.addresses import NamedAddress
from shared.rendering.mustache import TemplateSource
from tests.console.conftest import shot, sign_in
from tests.support.grid import grid_values, open_grid
from tests.support.pump import sender_deps


def api(console, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    """The REST API as a producer calls it, with the console's API key."""
    request = urllib.request.Request(
        f"{console.url}{path}", method=method, headers={
            "x-api-key": console.api_key, "content-type": "application/json"},
        data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.status, json.loads(answer.read() or b"null")


def template_id(console, name: str) -> int:
    with console.engine.begin() as conn:
        return create_template(conn, console.key.id, name, TemplateSource(
            "{{이름}}님께", "<p>{{이름}}님, 안녕하세요</p>", None)).id


def sent_to(console, topic: str) -> dict[str, tuple[str, str]]:
    """Expand and send the topic's campaign in-process; {address: (To name, Subject)} of
    the .eml files the file transport wrote for it."""
    while expand_step(console.engine, console.broker, console.settings):
        pass
    with console.engine.connect() as conn:
        ids = conn.execute(text("SELECT id FROM messages WHERE topic_id = :t ORDER BY id"),
                           {"t": topic}).scalars().all()
    send_batch(sender_deps(console.settings, console.engine, console.broker, console.redis,
                           rate=1000), SendBatch(tuple(ids)))
    found = {}
    for path in console.settings.file_dir.glob("*.eml"):
        mime = message_from_bytes(path.read_bytes(), policy=policy.default)
        [to] = mime["To"].addresses
        found[to.addr_spec] = (to.display_name, str(mime["Subject"]))
    return found


def test_a_list_made_by_the_api_opens_in_the_grid_and_its_edit_is_the_apis(page, console):
    status, made = api(console, "POST", "/v1/lists", {"name": "API 고객", "recipients": [
        {"email": "홍길동 <hong@example.com>", "등급": "골드"},
        {"email": '"Kim, Minsu" <m@example.com>', "등급": "실버"}]})
    assert status == 201
    sign_in(page, console, "editor")
    page.goto(f"{console.url}/ui/grids")
    link = page.locator(f'.saved-grids a[data-list="{made["id"]}"]')
    assert link.inner_text().startswith("API 고객 (2")  # its two recipients
    link.click()
    page.wait_for_url(f"{console.url}/ui/grids/{made['id']}")
    assert page.locator("#grid thead th").all_inner_texts()[1:3] == ["email", "등급"]
    assert grid_values(page) == [["홍길동 <hong@example.com>", "골드"],
                                 ['"Kim, Minsu" <m@example.com>', "실버"]]
    assert page.input_value("#grid-name") == "API 고객"
    page.wait_for_function("() => document.getElementById('grid-status').textContent"
                           ".endsWith('all rows are valid')")

    page.fill('input[data-row="1"][data-col="1"]', "골드")
    page.click("#add-row")
    page.fill('input[data-row="2"][data-col="0"]', "박지성 <park@example.com>")
    page.fill('input[data-row="2"][data-col="1"]', "브론즈")
    page.click("#save-grid")
    page.wait_for_function("() => document.getElementById('grid-status').textContent === 'Saved.'")
    shot(page, "grid-api-list")

    status, shown = api(console, "GET", f"/v1/lists/{made['id']}")
    assert (shown["name"], shown["total"], shown["columns"]) == ("API 고객", 3, ["등급"])
    assert shown["recipients"] == [
        {"email": "홍길동 <hong@example.com>", "등급": "골드"},
        {"email": '"Kim, Minsu" <m@example.com>', "등급": "골드"},
        {"email": "박지성 <park@example.com>", "등급": "브론즈"}]
    assert shown["updatedAt"] > shown["createdAt"]


def test_a_grid_saved_in_the_console_is_a_list_a_campaign_sends_to(page, console):
    template = template_id(console, "grid to campaign")
    sign_in(page, console, "editor")
    open_grid(page, console.url, template)
    page.fill('input[data-row="0"][data-col="0"]', "이순신 <yi@example.com>")
    page.fill('input[data-row="0"][data-col="1"]', "순신")
    page.fill('input[data-row="1"][data-col="0"]', '"Lee, Jane" <jane@example.com>')
    page.fill('input[data-row="1"][data-col="1"]', "제인")
    page.fill("#grid-name", "콘솔에서 만든 목록")
    page.click("#save-grid")
    page.wait_for_function("() => document.getElementById('grid-status').textContent === 'Saved.'")

    _, page_of_lists = api(console, "GET", "/v1/lists")
    [saved] = [item for item in page_of_lists["lists"] if item["name"] == "콘솔에서 만든 목록"]
    assert (saved["columns"], saved["total"], saved["templateId"]) == (["이름"], 2, template)
    assert page.url == f"{console.url}/ui/grids/{saved['id']}"  # the grid's id is the list's

    status, campaign = api(console, "POST", "/v1/campaigns", {
        "name": "목록 발송", "templateId": template, "topicId": "grid-list",
        "listId": saved["id"]})
    assert (status, campaign["total"]) == (201, 2)
    sent = sent_to(console, "grid-list")
    assert sent["yi@example.com"] == ("이순신", "순신님께")
    assert sent["jane@example.com"] == ("Lee, Jane", "제인님께")


def test_a_plan_made_from_a_list_sends_to_its_rows_with_their_names(page, console):
    template = template_id(console, "list to plan")
    _, made = api(console, "POST", "/v1/lists", {"name": "플랜 목록", "recipients": [
        {"email": "유관순 <yu@example.com>", "이름": "관순"},
        {"email": "ann@example.com", "이름": "Ann"}]})
    sign_in(page, console, "editor")
    page.goto(f"{console.url}/ui/plans")
    if page.get_attribute("#new-plan", "open") is None:  # folded once there are plans
        page.click("#new-plan summary")
    page.fill("input[name=name]", "목록으로 만든 발송")
    page.select_option("select[name=template]", str(template))
    page.fill("input[name=topic]", "list-plan")
    option = page.locator(f'select[name=grid] option[value="{made["id"]}"]')
    assert option.inner_text().startswith("플랜 목록 (2")  # its two recipients
    page.select_option("select[name=grid]", str(made["id"]))
    page.click("#create-plan")
    page.locator(".plan strong", has_text="목록으로 만든 발송").wait_for()
    shot(page, "plan-from-list")
    sent = sent_to(console, "list-plan")
    assert sent["yu@example.com"] == ("유관순", "관순님께")
    assert sent["ann@example.com"] == ("", "Ann님께")


def test_a_list_too_large_for_the_grid_opens_read_only(browser, console):
    with console.engine.begin() as conn:
        large = insert_list(conn, console.key.id, "큰 목록", (
            (NamedAddress(f"r{n}@example.com"), {}) for n in range(MAX_ROWS + 1)))
    context = browser.new_context(locale="ko-KR",
                                  extra_http_headers={"Accept-Language": "ko-KR,ko;q=0.9"})
    try:
        page = context.new_page()
        sign_in(page, console, "editor")
        html = page.request.get(f"{console.url}/ui/grids/{large.id}").text()
    finally:
        context.close()
    assert f"수신자는 {MAX_ROWS + 1}명" in html and f"처음 {MAX_ROWS}명만" in html
    assert 'id="save-grid"' not in html and 'id="add-row"' not in html
    assert '"editable": false' in html
