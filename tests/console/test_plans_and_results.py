"""A send plan scheduled a minute ahead goes to sent while its bar moves, and an open
recorded by the pixel shows in the results."""

from __future__ import annotations

import re
import time
from contextlib import contextmanager

from services.up import Stack
from shared.db.recipient_lists import insert_list
from shared.db.templates import create_template
from shared.intake.addresses import NamedAddress
from shared.rendering.mustache import TemplateSource
from tests.console.conftest import shot, sign_in
from tests.support.stack import settings_env

#: A person reading mail in a desktop browser.
MAIL_CLIENT = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/126.0.0.0 Safari/537.36")


@contextmanager
def pipeline(console, log_dir):
    """mailpipe's real scheduler, sender and recorder processes, on the console's database.

    One message per send batch, so that outcomes arrive one by one as the fleet's rate
    (1/s here) lets them go out.
    """
    env = settings_env(console.settings, MAILPIPE_SEND_BATCH="1",
                       MAILPIPE_PUBLIC_URL=console.settings.public_url,
                       MAILPIPE_SECRET_KEY=console.settings.secret_key)
    stack = Stack(env, log_dir=log_dir)
    stack.start("scheduler", "scheduler")
    stack.start("sender", "sender", "--processes", "1", "--threads", "2")
    stack.start("recorder", "recorder")
    try:
        yield stack
    finally:
        stack.stop_all()


def _sent_width(page, plan_id: int) -> float:
    return page.eval_on_selector(
        f'.progress[data-plan="{plan_id}"] .seg[data-state="sent"]',
        "seg => parseFloat(seg.style.width) || 0")


def test_a_plan_a_minute_ahead_is_sent_and_an_open_shows_in_the_results(page, console,
                                                                         tmp_path):
    with console.engine.begin() as conn:
        template = create_template(conn, console.key.id, "plan test", TemplateSource(
            "{{이름}}님께", '<p>{{이름}}님 <a href="https://example.com/x">보기</a></p>', None))
        insert_list(conn, console.key.id, "plan grid",
                    [(NamedAddress(f"p{n}@example.com"), {"이름": name})
                     for n, name in enumerate(["하나", "둘", "셋", "넷"], start=1)],
                    template_id=template.id)
    sign_in(page, console, "editor")
    page.goto(f"{console.url}/ui/plans")
    page.fill("input[name=name]", "6월 발송")
    page.select_option("select[name=template]", str(template.id))
    page.fill("input[name=topic]", "june-news")
    page.select_option("select[name=grid]", label="plan grid (4 recipients)")
    when = page.evaluate("""() => { const d = new Date(Date.now() + 60000);
        const p = n => String(n).padStart(2, '0');
        return `${d.getFullYear()}-${p(d.getMonth()+1)}-${p(d.getDate())}T${p(d.getHours())}:` +
               `${p(d.getMinutes())}:${p(d.getSeconds())}`; }""")
    page.fill("#plan-when", when)
    created_at = time.monotonic()
    page.click("#create-plan")
    page.wait_for_selector(".plan")
    plan_id = int(page.locator(".plan").first.get_attribute("id").split("-")[1])
    phase = page.locator(f'[data-phase="{plan_id}"]')
    assert phase.get_attribute("data-value") == "scheduled"
    assert phase.inner_text() == "Scheduled"
    shot(page, "plans-scheduled")

    widths = []
    with pipeline(console, tmp_path / "logs"):
        while time.monotonic() - created_at < 120:
            widths.append(_sent_width(page, plan_id))
            if 0 < widths[-1] < 100 and not any(0 < w < 100 for w in widths[:-1]):
                shot(page, "plans-sending")
            if widths[-1] >= 100:
                break
            time.sleep(0.5)
        assert widths[-1] == 100, widths
        started = time.monotonic() - created_at
        assert started >= 55, "sent before its time"
        # The bar moved on the open page (polled, never reloaded): from empty, through
        # part-sent (the fleet rate is 1/s, one message per batch), to full.
        assert widths[0] == 0 and any(0 < w < 100 for w in widths), widths
        assert widths == sorted(widths)
        phase = f"[data-phase=\"{plan_id}\"]"
        page.wait_for_function(f"() => document.querySelector('{phase}').dataset.value "
                               "=== 'completed'")
        page.wait_for_timeout(800)  # the bar's width transition
        assert page.locator(f"#plan-{plan_id} .actions form").count() == 0
        shot(page, "plans-sent")

        pixel = _open_pixel(console, "p2@example.com")
        # A headless browser's fetch counts as a machine; the recipient's mail client not.
        assert page.request.get(pixel).status == 200
        recipient = page.context.browser.new_context(user_agent=MAIL_CLIENT)
        assert recipient.new_page().goto(pixel).status == 200
        recipient.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            page.goto(f"{console.url}/ui/results?plan={plan_id}")
            if page.locator('[data-stat="opened"]').inner_text() == "1":
                break
            time.sleep(0.5)
    assert page.locator('[data-stat="sent"]').inner_text() == "4"
    assert page.locator('[data-stat="opened"]').inner_text() == "1"
    assert "machine 1" in page.locator('[data-stat="opened"] + span').inner_text()
    assert page.locator("svg.chart").count() == 1
    shot(page, "results")

    page.fill("#search", "p2@example.com")
    page.click(".searchbar button[type=submit]")
    page.click("#found a")
    opens = page.locator('#timeline li[data-event="opened"]')
    assert opens.count() == 2 and opens.locator(".chip").count() == 1  # one is the machine
    shot(page, "message-timeline")
    export = page.request.get(f"{console.url}/ui/results/export?topic=june-news")
    lines = export.body().decode("utf-8-sig").strip().splitlines()  # a BOM: Excel's UTF-8
    assert lines[0].startswith("id,email,state") and len(lines) == 5
    opened = next(line for line in lines if "p2@example.com" in line)
    assert ",1,0," in opened  # one open, no click


def _open_pixel(console, address: str) -> str:
    for eml in console.settings.file_dir.glob("*.eml"):
        raw = eml.read_bytes().decode("utf-8", "replace")
        if f"To: {address}" in raw:
            body = re.sub(r"=\r?\n", "", raw).replace("=3D", "=")
            return re.search(r'(http://[^"\s]+/v1/events/open\?t=[^"\s]+)', body).group(1)
    raise AssertionError(f"no message to {address} in the outbox")
