"""A stored message shown as sent is what the sender sent: the same composer, the same
headers (the file transport's .eml read back), names decoded; and the frame's copy loads
nothing more than the message carries."""

from __future__ import annotations

from email import message_from_bytes, policy

from services.sender.batch import send_batch
from shared.broker.payloads import SendBatch
from shared.db.claims import as_claimed
from shared.db.templates import create_template
from shared.intake.attachments import Attachment
from shared.intake.envelopes import accept_envelope
from shared.intake.messages import accept
from shared.intake.requests import EnvelopeRequest, MessageRequest
from shared.rendering.mustache import TemplateSource
from shared.rendering.preview import as_sent, framed
from shared.rendering.tracking import tracker_for
from tests.support.pump import sender_deps
from tests.support.settings import changed


def _sent(settings):
    [path] = settings.file_dir.glob("*.eml")
    return message_from_bytes(path.read_bytes(), policy=policy.default)


def test_a_templated_tracked_message_is_shown_as_the_sender_sent_it(engine, broker, redis,
                                                                     settings, api_key):
    settings = changed(settings, secret_key="preview-secret", public_url="https://mail.example")
    key = api_key[0]
    with engine.begin() as conn:
        template = create_template(conn, key.id, "news", TemplateSource(
            "{{이름}}님, 6월 소식", '<p>{{이름}}님 <a href="https://example.com/june">보기</a>'
            "</p>", None))
    [created] = accept(engine, broker, key, [MessageRequest(
        topic_id="t", template_id=template.id, recipients=["홍길동 <hong@example.com>"],
        recipient_variables={"hong@example.com": {"이름": "홍길동"}}, bulk=True,
        headers=(("X-Campaign-Code", "june-42"),))], settings)
    send_batch(sender_deps(settings, engine, broker, redis, rate=1000),
               SendBatch((created.id,)))
    mime = _sent(settings)
    with engine.connect() as conn:
        shown = as_sent(as_claimed(conn, created.id), tracker_for(settings), sent_at=None)
    assert shown.composed.html == mime.get_body(("html",)).get_content().rstrip("\n")
    assert "/v1/events/open?t=" in shown.composed.html  # the pixel the recipient got
    assert shown.composed.text.rstrip("\n") == \
        mime.get_body(("plain",)).get_content().rstrip("\n")
    headers = dict(shown.headers)
    for name in ("Subject", "From", "To", "X-Mailpipe-Id", "X-Campaign-Code",
                 "List-Unsubscribe", "List-Unsubscribe-Post"):
        assert headers[name] == str(mime[name]).strip(), name  # (folded: a leading space)
    assert headers["To"] == "홍길동 <hong@example.com>"
    assert headers["Subject"] == "홍길동님, 6월 소식"
    # Not sent yet here (and the provider names the Message-ID): neither is made up.
    assert "Date" not in headers and "Message-ID" not in headers
    assert "Content-Type" not in headers


def test_an_envelope_shows_its_cc_with_names_its_bcc_apart_and_its_message_id(
        engine, broker, settings, api_key):
    accepted = accept_envelope(engine, broker, api_key[0], EnvelopeRequest(
        topic_id="biz", from_addr="쇼핑몰 <news@shop.example>", to=("홍길동 <a@example.com>",),
        cc=("김민수 <b@example.com>",), bcc=("hidden@example.com",), subject="안내",
        html="<p>h</p>", text=None, source="biz"), settings)
    with engine.connect() as conn:
        shown = as_sent(as_claimed(conn, accepted.id), None, sent_at=None)
    headers = dict(shown.headers)
    assert headers["From"] == "쇼핑몰 <news@shop.example>"
    assert headers["Cc"] == "김민수 <b@example.com>"
    assert "Bcc" not in headers and shown.composed.bcc == ("hidden@example.com",)
    assert headers["Message-ID"] == f"<{accepted.mime_message_id}>"


def test_the_framed_copy_shows_inline_images_and_opens_no_link():
    logo = Attachment("logo.png", "image/png", b"\x89PNG", content_ref="logo")
    html = framed('<!doctype html><html><head><title>t</title></head><body>'
                  '<img src="cid:logo"><a href="https://example.com">x</a></body></html>',
                  (logo, Attachment("a.pdf", "application/pdf", b"%PDF")))
    assert '<head><base target="_blank"><title>' in html
    assert 'src="data:image/png;base64,iVBORw=="' in html
    assert framed("<!DOCTYPE html><p>x</p>", ()) == '<!DOCTYPE html><base target="_blank"><p>x</p>'
    assert framed("<p>x</p>", ()) == '<base target="_blank"><p>x</p>'
