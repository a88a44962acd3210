"""Files and extra headers on the native API: stored once, shared by every recipient,
inline images by Content-ID, delivered byte for byte to a real SMTP server."""

from __future__ import annotations

import base64
import os

import falcon.testing
import pytest
from sqlalchemy import func, select

from services.api.app import ApiDeps, create_app
from shared.db.tables import content_attachments, contents, messages
from shared.transports import make_transport
from tests.support.pump import Pump
from tests.support.settings import changed

LOGO = b"\x89PNG\r\n\x1a\n" + os.urandom(2048)
PDF = b"%PDF-1.4\n" + os.urandom(4096)


@pytest.fixture
def outbox(smtp_servers):
    return smtp_servers("plain")


@pytest.fixture
def native_settings(settings, outbox):
    return changed(settings, transport="smtp", smtp_url=outbox.url)


@pytest.fixture
def client(native_settings, make_client):
    return make_client(native_settings)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def post(client, api_key, **item):
    body = {"messages": [{"topicId": "files", "subject": "보고서",
                          "emails": ["a@example.net", "b@example.net", "c@example.net"],
                          "content": '<p>로고 <img src="cid:logo@mailpipe"></p>', **item}]}
    return client.simulate_post("/v1/messages", headers={"x-api-key": api_key[1]}, json=body)


def test_files_and_headers_reach_every_recipient(client, native_settings, engine, broker, redis,
                                                 api_key, outbox):
    result = post(client, api_key, headers={"X-Campaign": "봄 세일", "X-Priority": "1"},
                  attachments=[
                      {"filename": "logo.png", "content": b64(LOGO), "contentId": "logo@mailpipe"},
                      {"filename": "월간 보고서.pdf", "content": b64(PDF),
                       "contentType": "application/pdf"},
                  ])
    assert result.status_code == 200, result.text
    Pump(native_settings, engine, broker, redis, make_transport(native_settings)).run()

    assert sorted(r.rcpt_tos for r in outbox.received) == [
        ("a@example.net",), ("b@example.net",), ("c@example.net",)]
    for got in outbox.received:
        mail = got.message
        assert mail["X-Campaign"] == "봄 세일" and mail["X-Priority"] == "1"
        html = mail.get_body(("html",))
        related = next(p for p in mail.walk() if p.get_content_type() == "multipart/related")
        inline = related.get_payload()[1]
        assert inline["Content-ID"] == "<logo@mailpipe>"
        assert inline.get_content() == LOGO
        assert 'src=3D"cid:logo@mailpipe"' in html.as_string()
        [pdf] = list(mail.iter_attachments())
        assert (pdf.get_filename(), pdf.get_content_type(), pdf.get_content()) == (
            "월간 보고서.pdf", "application/pdf", PDF)

    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(messages)).scalar_one() == 3
        assert conn.execute(select(func.count()).select_from(contents)).scalar_one() == 1
        # One content, its two files linked once: the bytes are not copied per recipient.
        assert conn.execute(select(func.count()).select_from(content_attachments)
                            ).scalar_one() == 2


@pytest.mark.parametrize(("headers", "code"), [
    ({"From": "boss@example.com"}, "reserved_header"),
    ({"bcc": "x@evil.com"}, "reserved_header"),
    ({"X-Bad": "a\r\nBcc: x@evil.com"}, "invalid_header"),
    ({"Bad Name": "x"}, "invalid_header"),
])
def test_bad_headers_are_rejected(client, api_key, engine, headers, code):
    result = post(client, api_key, headers=headers)
    assert result.status_code == 400, result.text
    assert result.json["code"] == code
    assert "messages[0].headers" in result.json["message"]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(messages)).scalar_one() == 0


def test_attachments_over_the_cap_are_413(native_settings, engine, broker, redis, api_key):
    app = create_app(ApiDeps(changed(native_settings, max_attachment_bytes=3000), engine,
                             broker, redis))
    result = post(falcon.testing.TestClient(app), api_key,
                  attachments=[{"filename": "big.pdf", "content": b64(PDF)}])
    assert result.status_code == 413
    assert result.json["code"] == "attachments_too_large"
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(contents)).scalar_one() == 0


@pytest.mark.parametrize(("attachment", "code"), [
    ({"filename": "a.bin", "content": "not base64!"}, "base64_decode"),
    ({"filename": "a.bin", "content": "!!!"}, "base64_decode"),  # was a 0-byte file
    ({"filename": "a.bin", "content": "AAA"}, "base64_decode"),  # bad padding
    ({"filename": "a.bin", "content": 1234}, "base64_decode"),
    ({"filename": "a.png", "content": "AAAA", "contentId": "has space"}, "invalid_content_id"),
    ({"filename": "a.png", "content": "AAAA", "contentType": "not a type"},
     "invalid_content_type"),
    ({"filename": "", "content": "AAAA"}, "empty"),
])
def test_bad_attachment_is_rejected(client, api_key, attachment, code):
    result = post(client, api_key, attachments=[attachment])
    assert result.status_code == 400, result.text
    assert result.json["code"] == code
