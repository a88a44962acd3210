"""A send plan scheduled a minute ahead goes to sent while its bar moves, and an open
recorded by the pixel shows in the results."""

from __future__ import annotations

import re
import threading
import time
from contextlib import contextmanager

from services.scheduler.dispatch import dispatch_all_due
from services.scheduler.expand import expand_due_campaigns
from shared.db.console_grids import save_grid
from shared.db.templates import create_template
from shared.rendering.mustache import TemplateSource
from shared.transports import make_transport
from tests.console.conftest import shot, sign_in
from tests.support.pump import Pump


@contextmanager
def pipeline(console):
    """The scheduler's expand and dispatch steps and the sender and recorder, on a loop."""
    pump = Pump(console.settings, console.engine, console.broker, console.redis,
                make_transport(console.settings))
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            expand_due_campaigns(console.engine, console.settings)
            dispatch_all_due(console.engine, console.broker, console.settings)
            pump.step()
            stop.wait(0.2)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield pump
    finally:
        stop.set()
        thread.join(10)


def _sent_width(page, plan_id: int) -> float:
    return page.eval_on_selector(
        f'.progress[data-plan="{plan_id}"] .seg[data-state="sent"]',
        "seg => parseFloat(seg.style.width) || 0")


def test_a_plan_a_minute_ahead_is_sent_and_an_open_shows_in_the_results(page, console):
    with console.engine.begin() as conn:
        template = create_template(conn, console.key.id, "plan test", TemplateSource(
            "{{이름}}님께", '<p>{{이름}}님 <a href="https://example.com/x">보기</a></p>', None))
        save_grid(conn, console.key.id, "plan grid", template.id, ["email", "이름"],
                  [["p1@example.com", "하나"], ["p2@example.com", "둘"],
                   ["p3@example.com", "셋"], ["p4@example.com", "넷"]])
    sign_in(page, console, "editor")
    page.goto(f"{console.url}/ui/plans")
    page.fill("input[name=name]", "6월 발송")
    page.select_option("select[name=template]", str(template.id))
    page.fill("input[name=topic]", "june-news")
    page.select_option("select[name=grid]", label="plan grid (4)")
    when = page.evaluate("""() => { const d = new Date(Date.now() + 60000);
        const p = n => String(n).padStart(2, '0');
        return `${d.getFullYear()}-${p(d.getMonth()+1)}-${p(d.getDate())}T${p(d.getHours())}:` +
               `${p(d.getMinutes())}:${p(d.getSeconds())}`; }""")
    page.fill("#plan-when", when)
    created_at = time.monotonic()
    page.click("#create-plan")
    page.wait_for_selector(".plan")
    plan_id = int(page.locator(".plan").first.get_attribute("id").split("-")[1])
    assert page.locator(f'[data-phase="{plan_id}"]').inner_text() == "scheduled"
    shot(page, "plans-scheduled")

    widths = []
    with pipeline(console) as pump:
        while time.monotonic() - created_at < 120:
            widths.append(_sent_width(page, plan_id))
            if widths[-1] >= 100:
                break
            time.sleep(0.5)
        assert widths[-1] == 100, widths
        started = time.monotonic() - created_at
        assert started >= 55, "sent before its time"
        # The bar moved on the open page (polled, never reloaded): from empty, through
        # part-sent (the fleet rate is 1/s), to full.
        assert widths[0] == 0 and any(0 < w < 100 for w in widths), widths
        assert widths == sorted(widths)
        page.wait_for_function(
            f"() => document.querySelector('[data-phase=\"{plan_id}\"]').textContent === 'completed'")
        shot(page, "plans-sent")

        pixel = _open_pixel(console, "p2@example.com")
        assert page.request.get(pixel).status == 200
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            pump.step()
            page.goto(f"{console.url}/ui/results?plan={plan_id}")
            if page.locator('[data-stat="opened"]').inner_text() == "1":
                break
            time.sleep(0.5)
    assert page.locator('[data-stat="sent"]').inner_text() == "4"
    assert page.locator('[data-stat="opened"]').inner_text() == "1"
    assert page.locator("svg.chart").count() == 1
    shot(page, "results")

    page.fill("#search", "p2@example.com")
    page.click(".searchbar button[type=submit]")
    page.click("#found a")
    assert page.locator('#timeline li[data-event="opened"]').count() == 1
    shot(page, "message-timeline")
    export = page.request.get(f"{console.url}/ui/results/export?topic=june-news")
    lines = export.text().strip().splitlines()
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
