"""Display names typed and pasted into the grid and the plan's From reach the email: the
.eml the file transport writes, read with Python's email package, has the decoded names."""

from __future__ import annotations

from email import message_from_bytes, policy

from sqlalchemy import text

from services.scheduler.expand import expand_step
from services.sender.batch import send_batch
from shared.broker.payloads import SendBatch
from shared.db.messages import insert_messages
from shared.db.templates import create_template
from shared.intake.requests import MessageRequest
from shared.rendering.mustache import TemplateSource
from tests.console.conftest import shot, sign_in
from tests.support.grid import open_grid, paste, saved_grid
from tests.support.pump import sender_deps


def test_names_in_the_grid_and_the_plan_from_reach_the_sent_email(page, console):
    with console.engine.begin() as conn:
        template = create_template(conn, console.key.id, "names test",
                                   TemplateSource("안내", "<p>안녕하세요</p>", None))
    sign_in(page, console, "editor")
    open_grid(page, console.url, template.id)
    page.fill('input[data-row="0"][data-col="0"]', "홍길동 <a@example.com>")
    # As Excel copies a cell holding quotes: the cell quoted, its quotes doubled. Unquoted
    # in the name, the comma would make two mailboxes: the cell is flagged with the reason.
    paste(page, 'input[data-row="1"][data-col="0"]', "Kim, Minsu <m@example.com>\n")
    page.wait_for_selector("input.bad")
    bad = page.locator("input.bad")
    assert bad.count() == 1 and bad.get_attribute("data-row") == "1"
    assert "double quotes" in bad.get_attribute("title")
    paste(page, 'input[data-row="1"][data-col="0"]', '"""Kim, Minsu"" <m@example.com>"\n')
    page.wait_for_function("() => document.querySelectorAll('input.bad').length === 0")
    assert page.locator('input[data-row="1"][data-col="0"]').input_value() == \
        '"Kim, Minsu" <m@example.com>'
    page.fill("#grid-name", "이름 있는 수신자")
    page.click("#save-grid")
    page.wait_for_function("() => document.getElementById('grid-status').textContent === 'Saved.'")
    shot(page, "grid-display-names")
    grid = saved_grid(console.engine, console.key.id, "이름 있는 수신자")

    page.goto(f"{console.url}/ui/plans")
    page.fill("input[name=name]", "이름 발송")
    page.select_option("select[name=template]", str(template.id))
    page.fill("input[name=topic]", "names")
    page.fill("input[name=from]", "Shop <news@shop.example>")
    page.select_option("select[name=grid]", str(grid.id))
    page.click("#create-plan")
    page.wait_for_selector(".plan")

    # The scheduler's expansion and a sender's batch, in-process, on the console's database.
    while expand_step(console.engine, console.broker, console.settings):
        pass
    with console.engine.connect() as conn:
        ids = conn.execute(text("SELECT id FROM messages WHERE topic_id = 'names' "
                                "ORDER BY id")).scalars().all()
    assert len(ids) == 2
    send_batch(sender_deps(console.settings, console.engine, console.broker, console.redis,
                           rate=1000), SendBatch(tuple(ids)))
    sent = {}
    for path in console.settings.file_dir.glob("*.eml"):
        mime = message_from_bytes(path.read_bytes(), policy=policy.default)
        [to] = mime["To"].addresses
        sent[to.addr_spec] = (to.display_name, mime["From"].addresses[0])
    assert sent["a@example.com"][0] == "홍길동"
    assert sent["m@example.com"][0] == "Kim, Minsu"
    sender = sent["a@example.com"][1]
    assert (sender.display_name, sender.addr_spec) == ("Shop", "news@shop.example")


def test_the_message_page_shows_the_name_beside_the_address(page, console):
    with console.engine.begin() as conn:
        [created] = insert_messages(conn, console.key.id, [MessageRequest(
            topic_id="page", from_addr="s@example.com", recipients=["홍길동 <a@example.com>"],
            subject="s", html="<p>h</p>")], queue_timeout=300)
    message_id = created.id
    sign_in(page, console, "viewer")
    page.goto(f"{console.url}/ui/messages/{message_id}")
    assert "홍길동 <a@example.com>" in page.inner_text("body")
