"""The console's messages, in Chromium, in Korean and English: the list filtered by state,
topic, recipient domain and prefix, and time; a message's page with its names, its body
as sent in a sandboxed frame that loads nothing (a local server named in the body gets no
request, the open pixel does not fire), its text part, headers, files and timeline; an
``unknown`` message requeued from the list and sent once, through the sender and recorder
steps and the file transport; the server refusing a viewer's and an editor's requeue.

Screenshots of each page at desktop and phone size go to ``SHOTS``.
"""

from __future__ import annotations

import struct
import threading
import zlib
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from services.scheduler.dispatch import dispatch_due
from shared.db.audit import entries
from shared.db.claims import claim_for_sending
from shared.db.keys import create_key
from shared.db.messages import insert_messages, message_states
from shared.db.sweeps import expire_leases
from shared.intake.attachments import Attachment
from shared.intake.requests import MessageRequest
from shared.rendering.tracking import PIXEL_GIF
from shared.transports.file import FileTransport
from tests.console.conftest import sign_in
from tests.support.browser import serving
from tests.support.console_pages import DESKTOP, PHONE
from tests.support.pump import Pump

SHOTS = Path("/tmp/mailpipe-shots")
ZONE = "Asia/Seoul"
#: What each language's page calls things the tests look for.
WORDS = {
    "en": {"heading": "Messages", "unknown": "Unknown", "failed": "Failed",
           "risk": "may already have been delivered", "requeued": "1 message requeued"},
    "ko": {"heading": "메시지", "unknown": "알 수 없음", "failed": "실패",
           "risk": "이미 전달되었을 수 있습니다", "requeued": "메시지 1건을 다시 대기열에"},
}
PDF = b"%PDF-1.4\n" + b"x" * 3000


def _png(width: int = 24, height: int = 24) -> bytes:
    """A small blue square, a real PNG (the inline image the page must show)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    rows = b"".join(b"\x00" + b"\x25\x63\xeb" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


PNG = _png()


class Elsewhere:
    """A web server standing for another site: it counts every request it gets."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            self.requests.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "image/gif")])
        return [PIXEL_GIF]


@pytest.fixture(scope="module")
def elsewhere():
    site = Elsewhere()
    with serving(site) as port:
        site.url = f"http://127.0.0.1:{port}"
        yield site


@pytest.fixture(scope="module")
def seeded(console, elsewhere):
    """Messages of two keys and several doors, states, topics and domains; ids by name."""
    with console.engine.begin() as conn:
        partner, _ = create_key(conn, "partner", [])
        body = (
            '<html><head><style>h1 { color: #2563eb; }</style>'
            f'<link rel="stylesheet" href="{elsewhere.url}/style.css"></head><body>'
            '<h1>6월 소식</h1><p>홍길동님, 6월 소식입니다.</p>'
            f'<p><img src="{elsewhere.url}/remote.png" alt="remote image"></p>'
            '<p><img src="cid:logo" alt="logo"></p>'
            f'<div style="background: url({elsewhere.url}/background.png)">배경</div>'
            f'<script src="{elsewhere.url}/script.js"></script>'
            '<p><a href="https://example.com/june">자세히 보기</a></p></body></html>')
        [news] = insert_messages(conn, console.key.id, [MessageRequest(
            topic_id="june-news", from_addr="쇼핑몰 <news@shop.example>",
            recipients=["홍길동 <hong.gildong@naver.com>"], subject="6월 소식입니다",
            html=body, text="홍길동님, 6월 소식입니다.\n자세히 보기: https://example.com/june",
            headers=(("X-Campaign-Code", "june-42"),),
            attachments=(Attachment("6월 안내.pdf", "application/pdf", PDF),
                         Attachment("logo.png", "image/png", PNG, content_ref="logo")))],
            queue_timeout=300)
        alerts = insert_messages(conn, console.key.id, [MessageRequest(
            topic_id="alerts", from_addr="alerts@shop.example",
            recipients=["kim.minsu@daum.net", "김지우 <kim.jiwoo@naver.com>"],
            subject="알림", html="<p>알림</p>")], queue_timeout=300)
        partners = insert_messages(conn, partner.id, [MessageRequest(
            topic_id="alerts", from_addr="partner@partner.example",
            recipients=["lee@corp.example", "park@gmail.com"], subject="Partner news",
            html="<p>news</p>")], queue_timeout=300)
        older = insert_messages(conn, console.key.id, [MessageRequest(
            topic_id="archive", from_addr="news@shop.example",
            recipients=["old.reader@naver.com"], subject="지난 소식",
            html="<p>old</p>")], queue_timeout=300)
        ids = {"news": news.id, "unknown": alerts[0].id, "kim.jiwoo": alerts[1].id,
               "failed": partners[0].id, "gmail": partners[1].id, "older": older[0].id}
        now = datetime.now(UTC)
        sent_at = now - timedelta(minutes=30)
        conn.execute(text("UPDATE messages SET state = 'delivered', sent_at = :at, attempts = 1,"
                          " created_at = :at - interval '1 minute',"
                          " scheduled_at = :at - interval '1 minute',"
                          " provider_message_id = 'ses-' || id WHERE id = ANY(:ids)"),
                     {"at": sent_at, "ids": [ids["news"], ids["kim.jiwoo"], ids["gmail"]]})
        conn.execute(text("UPDATE messages SET state = 'unknown', attempts = 1, error = "
                          "'lease expired while sending' WHERE id = :id"), {"id": ids["unknown"]})
        conn.execute(text("UPDATE messages SET state = 'failed', attempts = 3, error = "
                          "'550 mailbox unavailable', source = 'biz' WHERE id = :id"),
                     {"id": ids["failed"]})
        conn.execute(text("UPDATE messages SET state = 'sent', created_at = :at WHERE id = :id"),
                     {"at": now - timedelta(days=3), "id": ids["older"]})
        for kind, after, machine in (("sent", 1, False), ("delivered", 4, False),
                                     ("opened", 60, True), ("opened", 300, False),
                                     ("clicked", 320, False)):
            conn.execute(text(
                "INSERT INTO events (message_id, type, occurred_at, machine, detail) VALUES "
                "(:m, :t, :at, :machine, :detail)"),
                {"m": ids["news"], "t": kind, "at": sent_at + timedelta(seconds=after),
                 "machine": machine,
                 "detail": "https://example.com/june" if kind == "clicked" else None})
    return ids


@contextmanager
def browsing(browser, lang: str, viewport: dict = DESKTOP):
    """A fresh page in ``lang``, in Seoul, recording every request answered
    (``page.requested``) and what a message's framed body was refused (``page.blocked``);
    fails on a script error or a CSP violation of the console's own pages."""
    accept = {"en": "en-US,en;q=0.9", "ko": "ko-KR,ko;q=0.9"}[lang]
    context = browser.new_context(locale=accept.split(",")[0], timezone_id=ZONE,
                                  viewport=viewport,
                                  extra_http_headers={"Accept-Language": accept})
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.requested, page.blocked = [], []

    def console_message(msg) -> None:
        if msg.type != "error" or msg.text.startswith("Failed to load resource"):
            return
        # What a message's body tried to load, refused by its frame's policy: kept apart.
        framed = msg.location.get("url", "").endswith("/body")
        (page.blocked if framed else errors).append(msg.text)

    # Answered requests: a request the page's policy refuses is reported, never answered.
    page.on("response", lambda response: page.requested.append(response.url))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", console_message)
    try:
        yield page
    finally:
        context.close()
    assert not errors, errors


def shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def listed(page) -> list[int]:
    return [int(i) for i in page.locator("#messages tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.id)")]


def show(page, **fields) -> None:
    """Set the list's filters (others cleared) and show it."""
    page.select_option("#f-state", fields.get("state", ""))
    page.fill("#f-topic", fields.get("topic", ""))
    page.fill("#f-recipient", fields.get("recipient", ""))
    page.select_option("#f-period", fields.get("period", ""))
    for end in ("since", "until"):
        if end in fields:
            page.fill(f"#f-{end}-local", fields[end])
    with page.expect_navigation():
        page.click("#f-show")


def _seoul(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%dT%H:%M:%S")


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_list_filters_by_state_topic_domain_prefix_and_time(browser, console, seeded,
                                                                 lang):
    words = WORDS[lang]
    with browsing(browser, lang) as page:
        sign_in(page, console, "viewer")
        page.click('header nav a[href="/ui/messages"]')
        assert page.locator("h1").inner_text() == words["heading"]
        everyone = listed(page)
        assert everyone == sorted(everyone, reverse=True)
        assert set(seeded.values()) <= set(everyone)
        shoot(page, f"messages-{lang}-desktop")
        page.set_viewport_size(PHONE)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        shoot(page, f"messages-{lang}-phone")
        page.set_viewport_size(DESKTOP)

        # The dashboard's links: every unknown, every failed message.
        page.goto(f"{console.url}/ui/messages?state=unknown")
        assert listed(page) == [seeded["unknown"]]
        assert page.locator("#messages .chip.s-unknown").inner_text() == words["unknown"]
        show(page, state="failed")
        assert listed(page) == [seeded["failed"]]
        assert "state=failed" in page.url

        show(page, topic="alerts")
        assert listed(page) == sorted([seeded["unknown"], seeded["kim.jiwoo"],
                                       seeded["failed"], seeded["gmail"]], reverse=True)
        show(page, recipient="naver.com")  # a domain, every key's
        assert set(listed(page)) >= {seeded["news"], seeded["kim.jiwoo"], seeded["older"]}
        assert not set(listed(page)) & {seeded["unknown"], seeded["failed"], seeded["gmail"]}
        show(page, recipient="@naver.com", topic="alerts")
        assert listed(page) == [seeded["kim.jiwoo"]]
        show(page, recipient="kim.")  # the start of an address
        assert listed(page) == [seeded["kim.jiwoo"], seeded["unknown"]]
        assert "김지우" in page.locator(f'tr[data-id="{seeded["kim.jiwoo"]}"]').inner_text()

        show(page, recipient="naver.com", period="24h")
        assert seeded["older"] not in listed(page) and seeded["news"] in listed(page)
        now = datetime.now(UTC)
        # A window typed in the reader's zone (Seoul), sent as instants.
        show(page, recipient="naver.com", period="range",
             since=_seoul(now - timedelta(days=4)), until=_seoul(now - timedelta(days=2)))
        assert listed(page) == [seeded["older"]]
        assert page.locator("#f-since-local").input_value() == \
            _seoul(now - timedelta(days=4))
        show(page, topic="no-such-topic")
        assert page.locator("#no-messages").is_visible()


def test_pages_of_the_list_follow_each_other(page, console, seeded):
    with console.engine.begin() as conn:
        made = insert_messages(conn, console.key.id, [MessageRequest(
            topic_id="bulk", from_addr="news@shop.example",
            recipients=[f"reader{n}@bulk.example" for n in range(57)], subject="bulk",
            html="<p>bulk</p>")], queue_timeout=300)
    sign_in(page, console, "viewer")
    page.goto(f"{console.url}/ui/messages?topic=bulk")
    first = listed(page)
    assert len(first) == 50
    page.click("#older")
    second = listed(page)
    assert first + second == sorted((m.id for m in made), reverse=True)
    assert page.locator("#older").count() == 0
    page.click("#newest")
    assert listed(page) == first


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_message_page_shows_it_as_sent_and_its_body_loads_nothing(
        browser, console, seeded, elsewhere, lang):
    message_id = seeded["news"]
    for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        with browsing(browser, lang, viewport) as page:
            sign_in(page, console, "viewer")
            page.goto(f"{console.url}/ui/messages/{message_id}")
            page.wait_for_load_state("networkidle")
            assert page.locator("#m-to").inner_text() == "홍길동 <hong.gildong@naver.com>"
            assert page.locator("#m-from").inner_text() == "쇼핑몰 <news@shop.example>"
            assert page.locator("#m-subject").inner_text() == "6월 소식입니다"
            frame_element = page.locator("iframe#body-html")
            assert frame_element.get_attribute("sandbox") == ""
            frame = page.frame_locator("iframe#body-html")
            assert frame.locator("h1").inner_text() == "6월 소식"
            # The inline image is shown (a data: URL), the remote one is not.
            assert frame.locator('img[alt="logo"]').evaluate("i => i.naturalWidth") == 24
            assert frame.locator('img[alt="remote image"]').evaluate(
                "i => i.complete && i.naturalWidth === 0")
            page.click("#text-part summary")
            text_part = page.locator("#body-text").inner_text()
            assert "자세히 보기: https://example.com/june" in text_part
            page.click("#headers summary")
            lines = dict(page.locator("#header-lines tr").evaluate_all(
                "rows => rows.map(r => [r.cells[0].textContent, r.cells[1].textContent])"))
            assert lines["X-Campaign-Code"] == "june-42"
            assert lines["X-Mailpipe-Id"] == str(message_id)
            assert lines["To"] == "홍길동 <hong.gildong@naver.com>"
            assert lines["From"] == "쇼핑몰 <news@shop.example>"
            files = page.locator("#files li")
            assert files.count() == 2
            assert "6월 안내.pdf" in files.nth(0).inner_text()
            assert "application/pdf · 2.9 KB" in files.nth(0).inner_text()
            timeline = page.locator("#timeline li")
            assert [t for t in timeline.evaluate_all("ls => ls.map(l => l.dataset.event)")] == \
                ["created", "accepted", "sent", "delivered", "opened", "opened", "clicked"]
            assert page.locator('#timeline li[data-event="opened"] .chip').count() == 1
            shoot(page, f"message-{lang}-{size}")
            if size == "phone":
                assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            requested, blocked = list(page.requested), list(page.blocked)
            body = page.request.get(f"{console.url}/ui/messages/{message_id}/body").headers
    # Nothing the body names was fetched: not the other site, not the open pixel (which
    # mailpipe itself would have answered).
    assert elsewhere.requests == []
    assert not [u for u in requested if "/v1/events/" in u or elsewhere.url in u], requested
    # ...because the frame's policy refused each: the style sheet and the images (the open
    # pixel, the remote one, the background). (The script is not even fetched: the sandbox
    # runs none.)
    for refused in ("style.css", "remote.png", "background.png", "/v1/events/open"):
        assert any(refused in b for b in blocked), (refused, blocked)
    assert "default-src 'none'" in body["content-security-policy"]
    assert "sandbox" in body["content-security-policy"]
    assert body["x-frame-options"] == "SAMEORIGIN"


def test_an_unknown_message_requeued_from_the_list_is_sent_once(browser, console, seeded):
    with console.engine.begin() as conn:
        [created] = insert_messages(conn, console.key.id, [MessageRequest(
            topic_id="requeue", from_addr="news@shop.example",
            recipients=["이영희 <requeue.me@example.com>"], subject="다시 보내기",
            html="<p>한 번만</p>")], queue_timeout=300)
        # Claimed by a sender that died before sending: its lease runs out, the row is
        # ``unknown`` (the sweep cannot know it was never sent).
        conn.execute(text("UPDATE messages SET due_at = now() WHERE id = :id"),
                     {"id": created.id})
        claim_for_sending(conn, [created.id], worker_id="gone:1:1", lease=0.001)
        conn.execute(text("UPDATE messages SET lease_until = now() - interval '1 second' "
                          "WHERE id = :id"), {"id": created.id})
        assert expire_leases(conn, limit=10) == [created.id]
    message_id = created.id
    outbox = FileTransport(console.settings.file_dir)
    before = _deliveries(console, "requeue.me@example.com")
    with browsing(browser, "ko") as page:
        sign_in(page, console, "admin")
        page.goto(f"{console.url}/ui/messages?state=unknown&topic=requeue")
        assert listed(page) == [message_id]
        page.check(f'input[name="m{message_id}"]')
        page.click("#requeue-picked")
        risk = page.locator('.risk[data-risk="unknown"]')
        assert WORDS["ko"]["risk"] in risk.inner_text()
        shoot(page, "requeue-confirm-ko-desktop")
        page.set_viewport_size(PHONE)
        shoot(page, "requeue-confirm-ko-phone")
        page.set_viewport_size(DESKTOP)
        page.click("#confirm-requeue")
        page.wait_for_selector("#notice")
        assert WORDS["ko"]["requeued"] in page.locator("#notice").inner_text()
        assert page.locator("#no-messages").is_visible()  # it is queued now
        # The confirmation sent again (a double click, a reload): nothing moves twice.
        again = page.request.post(f"{console.url}/ui/messages/requeue", form={
            "csrf": page.locator('meta[name="csrf-token"]').get_attribute("content"),
            f"m{message_id}": "1", "confirmed": "1"})
        assert again.status == 200 and 'id="nothing"' in again.text()
    with console.engine.connect() as conn:
        assert message_states(conn, [message_id]) == {message_id: "queued"}
        [entry] = entries(conn, action="messages.requeue", limit=1)
    assert (entry.actor_kind, entry.actor, entry.target) == \
        ("console", console.accounts["admin"][0], f"message {message_id}")
    assert entry.before == {"state": "unknown"} and entry.after["ids"] == [message_id]

    # The scheduler's dispatch, then a sender's and the recorder's steps, as they run.
    pump = Pump(console.settings, console.engine, console.broker, console.redis, outbox)
    for _ in range(3):
        dispatch_due(console.engine, console.broker, console.settings)
        pump.run()
    with console.engine.connect() as conn:
        assert message_states(conn, [message_id]) == {message_id: "sent"}
    delivered = _deliveries(console, "requeue.me@example.com")
    assert len(delivered) - len(before) == 1
    [mime] = [m for m in delivered if m not in before]
    assert mime["To"].addresses[0].display_name == "이영희"


def _deliveries(console, address: str) -> list:
    found = []
    for path in sorted(console.settings.file_dir.glob("*.eml")):
        mime = message_from_bytes(path.read_bytes(), policy=policy.default)
        if any(a.addr_spec == address for a in mime["To"].addresses):
            found.append(mime)
    return found


def test_every_failed_match_of_a_filter_is_requeued_after_its_confirmation(page, console,
                                                                          seeded):
    with console.engine.begin() as conn:
        made = insert_messages(conn, console.key.id, [MessageRequest(
            topic_id="bounced-batch", from_addr="news@shop.example",
            recipients=[f"f{n}@fail.example" for n in range(4)], subject="s",
            html="<p>h</p>")], queue_timeout=300)
        ids = [m.id for m in made]
        conn.execute(text("UPDATE messages SET state = 'failed' WHERE id = ANY(:ids)"),
                     {"ids": ids[:3]})
    sign_in(page, console, "admin")
    page.goto(f"{console.url}/ui/messages?state=failed&topic=bounced-batch")
    assert page.locator("#requeue-matching").is_visible()
    shoot(page, "messages-failed-en-desktop")
    page.click("#requeue-matching")
    assert "3 messages in the state “Failed”" in page.locator("#requeue-count").inner_text()
    assert page.locator('.risk[data-risk="failed"]').is_visible()
    page.click("#confirm-requeue")
    page.wait_for_selector("#notice")
    assert "3 messages requeued" in page.locator("#notice").inner_text()
    assert page.locator("#no-messages").is_visible()  # none of them is failed any more
    with console.engine.connect() as conn:
        states = message_states(conn, ids)
    assert [states[i] for i in ids] == ["queued", "queued", "queued", "queued"]
    with console.engine.connect() as conn:
        assert message_states(conn, [seeded["failed"]]) == {seeded["failed"]: "failed"}


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_the_server_refuses_a_requeue_by_a_viewer_or_an_editor(page, console, seeded, role):
    sign_in(page, console, role)
    page.goto(f"{console.url}/ui/messages?state=unknown")
    assert page.locator("#requeue-picked, #requeue-matching, input[type=checkbox]").count() == 0
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    for fields in ({f"m{seeded['unknown']}": "1", "confirmed": "1"},
                   {"scope": "filter", "state": "unknown", "confirmed": "1"}):
        answer = page.request.post(f"{console.url}/ui/messages/requeue",
                                   form={"csrf": csrf, **fields})
        assert answer.status == 403
    with console.engine.connect() as conn:
        assert message_states(conn, [seeded["unknown"]]) == {seeded["unknown"]: "unknown"}
