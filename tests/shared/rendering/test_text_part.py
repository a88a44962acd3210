"""One text part everywhere: drawn from the HTML (links kept) or the content's own, the same
in the .eml, in SES Simple's Body.Text, in a SendBulkEmail template and in the preview."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy

from shared.db.messages import ClaimedMessage
from shared.rendering.compose import Composer
from shared.rendering.mime import build_mime
from shared.transports.base import Envelope
from shared.transports.file import FileTransport
from shared.transports.ses import SesTransport
from tests.shared.rendering.test_bulk import mailpipe_renders, message, ses_renders

HTML = ('<h1>Hello 홍길동</h1><p>Your order is <b>ready</b>.</p>'
        '<a href="https://shop.example/o/12?a=1&amp;b=2">link</a>'
        "<ul><li>쿠폰</li><li>배송</li></ul>")
TEXT = ("Hello 홍길동\n\nYour order is ready.\n\nlink (https://shop.example/o/12?a=1&b=2)\n\n"
        "- 쿠폰\n- 배송")


def claimed(**extra) -> ClaimedMessage:
    fields = {"id": 7, "attempt": 1, "from_addr": "news@shop.example",
              "to_addr": "a@example.com", "subject": "주문", "html": HTML, "text": None,
              "reply_to": None, "content_id": 1, **extra}
    return ClaimedMessage(**fields)


def envelope(message: ClaimedMessage) -> Envelope:
    composed = Composer().compose(message, None)
    return Envelope(message.from_addr, message.recipients,
                    lambda: build_mime(composed, now=datetime.now(UTC)).as_bytes(),
                    composed=composed)


def test_the_composed_text_is_drawn_from_the_html_and_the_own_text_wins():
    assert Composer().compose(claimed(), None).text == TEXT
    assert Composer().compose(claimed(text="직접 쓴 본문"), None).text == "직접 쓴 본문"


def test_the_eml_text_plain_part_keeps_links_and_lines(tmp_path):
    FileTransport(tmp_path).send(envelope(claimed()))
    [eml] = tmp_path.glob("*.eml")
    mime = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert mime.get_body(("plain",)).get_content().rstrip("\n") == TEXT
    assert "https://shop.example/o/12" in mime.get_body(("html",)).get_content()


def test_ses_simple_body_text_is_the_same_text(fake_ses):
    SesTransport.from_environment(region="us-east-1").send(envelope(claimed()))
    [request] = fake_ses.accepted
    assert request["Content"]["Simple"]["Body"]["Text"]["Data"] == TEXT


def test_ses_bulk_template_text_renders_the_same_text_for_each_recipient():
    html = ('<h1>Hello {{name}}</h1><a href="https://shop.example/o/{{order}}">주문 보기</a>'
            "<ul><li>{{city}}</li></ul>")
    messages = [message(i, html, variables={"name": f"홍길동{i}", "order": str(i),
                                            "city": "서울"}) for i in (1, 2)]
    ses = ses_renders(messages, tracker=None)
    assert ses == mailpipe_renders(messages, tracker=None)
    assert ses[0][2] == "Hello 홍길동1\n\n주문 보기 (https://shop.example/o/1)\n\n- 서울"


def test_a_value_with_a_run_of_spaces_goes_by_sendemail_not_in_bulk():
    from shared.rendering.bulk import neutral

    assert neutral("김 철수") and not neutral("김  철수") and not neutral("김\t철수")
