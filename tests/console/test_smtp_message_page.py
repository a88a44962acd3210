"""A message submitted over SMTP on the console's message page, in Chromium (English on
a desktop, Korean on a phone): shown as its recipient got it (the submitted bytes as a
sender sends them): a Bcc recipient's copy carries no Bcc header and names its recipient
as the Bcc; its inline image comes from its own bytes, and its files and its door (SMTP)
are listed. Screenshots go to ``SHOTS``."""

from __future__ import annotations

import pytest

from shared.db.messages import insert_messages
from shared.intake.requests import MessageRequest
from shared.sources import MessageSource
from tests.console.conftest import sign_in
from tests.console.test_messages_page import PNG, browsing, shoot
from tests.smtp.messages import korean_message
from tests.support.console_pages import DESKTOP, PHONE

#: How each language's page says a Bcc is in the envelope only.
ENVELOPE_ONLY = {"en": "(envelope only)", "ko": "(봉투에만 있음)"}


@pytest.fixture(scope="module")
def hidden_copy(console) -> int:
    """The row of a Bcc recipient of a submitted message with an inline image and a file."""
    message = korean_message(X_Mailpipe_Topic="smtp-news")
    html = message.get_body(("html",))
    html.set_content('<h1>6월 소식</h1><p><img src="cid:logo@example.com" alt="logo"></p>',
                     subtype="html")
    html.add_related(PNG, maintype="image", subtype="png", cid="<logo@example.com>")
    raw = message.as_bytes()
    item = MessageRequest(topic_id="smtp-news", from_addr="발신자 <news@example.com>",
                          recipients=["to@dest.test", "hidden@dest.test"],
                          subject=str(message["Subject"]), html="<p>description</p>")
    with console.engine.begin() as conn:
        rows = insert_messages(conn, console.key.id, [item.as_submitted(raw)],
                               queue_timeout=300, source=MessageSource.SMTP)
    return rows[1].id


@pytest.mark.parametrize(("lang", "size"), [("en", "desktop"), ("ko", "phone")])
def test_a_submitted_message_is_shown_as_its_recipient_got_it(browser, console, hidden_copy,
                                                              lang, size):
    viewport = {"desktop": DESKTOP, "phone": PHONE}[size]
    with browsing(browser, lang, viewport) as page:
        sign_in(page, console, "viewer")
        page.goto(f"{console.url}/ui/messages/{hidden_copy}")
        page.wait_for_load_state("networkidle")
        assert page.locator("#m-source").inner_text() == "SMTP"
        assert page.locator("#m-subject").inner_text() == "안녕하세요 — 월간 소식"
        # Its recipient, whom no header names, is its Bcc (envelope only).
        assert page.locator("#m-bcc").inner_text() == (
            f"hidden@dest.test {ENVELOPE_ONLY[lang]}")
        frame = page.frame_locator("iframe#body-html")
        assert frame.locator("h1").inner_text() == "6월 소식"
        assert frame.locator('img[alt="logo"]').evaluate("i => i.naturalWidth") == 24
        page.click("#headers summary")
        lines = dict(page.locator("#header-lines tr").evaluate_all(
            "rows => rows.map(r => [r.cells[0].textContent, r.cells[1].textContent])"))
        assert lines["X-Mailpipe-Id"] == str(hidden_copy)
        assert lines["To"] == "받는사람 <to@dest.test>"
        assert "Bcc" not in lines and "X-Mailpipe-Topic" not in lines
        assert "보고서.txt" in page.locator("#files").inner_text()
        shoot(page, f"smtp-message-{lang}-{size}")
        if size == "phone":
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
